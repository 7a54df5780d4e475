/*
 * DKIM verification (RFC 6376, RFC 8463, RFC 8301) on OpenSSL 3; the
 * contract is in dkim.h, the choice of OpenSSL over libopendkim in
 * README.md.
 *
 * Header fields are kept until eoh. There every DKIM-Signature is parsed
 * and checked, the hash of the header fields it signs is computed (all
 * of them are known by then), and its body hash is started; the header
 * copy is then dropped. The body runs through at most two canonicalizers
 * (simple and relaxed), whose output feeds each signature's body hash up
 * to its own l=, so memory does not grow with the body. Only the public
 * keys need DNS; the signature checks run once, in the first
 * dkim_verifier_result() after eom that finds every key in the cache.
 *
 * Verdicts (RFC 8601 2.7.1 words; RFC 6376 PERMFAIL splits in two):
 *   fail       the body hash or the signature does not verify: the
 *              message is not what was signed;
 *   permerror  the signature could not be checked: bad tags, h= without
 *              From, expired (x=) or future (t=) signature, no key, bad
 *              or revoked key (empty p=), l= past the end of the body;
 *   temperror  the key lookup failed (DNS TEMPFAIL);
 *   policy     verifies, but we refuse it: rsa-sha1 (RFC 8301), or the
 *              message has more From fields than the signature covers
 *              (RFC 6376 8.15; an added From is what readers would see).
 */
#include "mailauth/dkim.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "common/base64.h"
#include "common/buf.h"
#include "common/xalloc.h"

/* Header kept for signing checks. lmtpd bounds the header well below
 * this; the limit only keeps a direct caller from growing us forever.
 * Past it every signature is a permerror. */
#define HEADER_MAX_BYTES (1024 * 1024)
#define HEADER_MAX_FIELDS 10000
/* Tags per tag-list and names per h=; real signatures use ~12 and ~40.
 * h= costs a scan of the header per name, hence a bound. */
#define TAGS_MAX 64
#define SIGNED_NAMES_MAX 512
/* Leeway for t= in the future and x= in the past: senders' clocks are
 * often a little off, and neither check is about cryptography. */
#define CLOCK_SKEW 3600
/* RFC 8301 3.2: keys under 1024 bits MUST NOT be accepted. The upper
 * bound caps the RSA work one signature can ask for. */
#define RSA_MIN_BITS 1024
#define RSA_MAX_BITS 8192
#define SIG_MAX_BYTES (RSA_MAX_BITS / 8)
#define KEY_MAX_BYTES 2048

enum alg {
	ALG_RSA_SHA1,
	ALG_RSA_SHA256,
	ALG_ED25519_SHA256,
};

enum canon {
	CANON_SIMPLE,
	CANON_RELAXED,
};

enum phase {
	PHASE_HEADER,
	PHASE_BODY,
	PHASE_END,
};

struct field {
	size_t off, len;
	size_t name_len; /* the name without trailing WSP */
	size_t colon;	 /* offset of the colon in the field */
};

struct sig {
	struct dkim_signature_result res;
	bool check; /* tags are fine: waits for its key and the hashes */
	enum alg alg;
	enum canon body_canon;
	char *key_name;
	bool i_below_d;	    /* i= domain is a subdomain of d=, not d= itself */
	bool from_unsigned; /* more From fields than h= names */
	bool has_l;
	uint64_t l;
	uint8_t bh[EVP_MAX_MD_SIZE];
	size_t bh_len;
	uint8_t b[SIG_MAX_BYTES];
	size_t b_len;
	uint8_t header_hash[EVP_MAX_MD_SIZE];
	unsigned header_hash_len;
	EVP_MD_CTX *body_md;
	uint64_t body_hashed; /* canonical body bytes fed to body_md */
	bool body_ok;
};

/* One body canonicalization (RFC 6376 3.4.3, 3.4.4) as a byte stream.
 * Line ends are held back until something other than an empty line
 * follows, which is how "ignore empty lines at the end" works without
 * knowing where the end is. */
struct body_canon {
	bool used;
	bool cr_held;	    /* a CR that may start a CRLF */
	bool wsp_held;	    /* relaxed: WSP seen, written as one SP if the line goes on */
	bool content;	    /* some byte other than a line end was written */
	uint64_t crlf_held; /* line ends not written yet */
	uint64_t total;	    /* canonical bytes produced */
	size_t out_len;
	uint8_t out[4096];
};

struct dkim_verifier {
	time_t now;
	enum phase phase;
	bool final;
	enum mailauth_result result;

	struct buf header;
	struct field *fields;
	size_t nfields, afields;
	bool header_overflow;

	struct sig *sigs;
	size_t nsigs;
	struct body_canon canon[2]; /* indexed by enum canon */
	struct buf scratch;
};

struct tag {
	const char *name;
	size_t name_len;
	const char *eq; /* the '=' */
	const char *val;
	size_t val_len; /* FWS around the value trimmed, inside kept */
};

struct taglist {
	struct tag tags[TAGS_MAX];
	size_t count;
};

/* --- small byte helpers ------------------------------------------------ */

/* FWS inside tag values (RFC 6376 2.8). CR and LF only ever come as the
 * CRLF of a fold here, so taking them one by one is enough. */
static bool is_fws(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static bool is_alpha(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

static bool is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

static unsigned char lower(unsigned char c)
{
	return c >= 'A' && c <= 'Z' ? (unsigned char)(c + 32) : c;
}

/* Case-insensitive ASCII comparison of two byte strings (no NUL tricks:
 * header bytes may contain NUL). */
static bool mem_eq_ci(const char *a, size_t alen, const char *b, size_t blen)
{
	if (alen != blen)
		return false;
	for (size_t i = 0; i < alen; i++)
		if (lower((unsigned char)a[i]) != lower((unsigned char)b[i]))
			return false;
	return true;
}

static bool val_eq(const struct tag *t, const char *s)
{
	return mem_eq_ci(t->val, t->val_len, s, strlen(s));
}

/* Copies a value for reporting: FWS dropped, bytes outside printable
 * ASCII shown as '?', cut to fit. */
static void report_copy(char *dst, size_t size, const char *p, size_t len)
{
	size_t n = 0;
	for (size_t i = 0; i < len && n + 1 < size; i++) {
		unsigned char c = (unsigned char)p[i];
		if (is_fws(c))
			continue;
		dst[n++] = c > 0x20 && c < 0x7f ? (char)c : '?';
	}
	dst[n] = '\0';
}

static void set_result(struct sig *s, enum mailauth_result r, const char *reason)
{
	s->res.result = r;
	snprintf(s->res.reason, sizeof(s->res.reason), "%s", reason);
	s->check = false;
}

static void add_reason(struct sig *s, const char *reason)
{
	size_t n = strlen(s->res.reason);
	snprintf(s->res.reason + n, sizeof(s->res.reason) - n, "%s%s", n > 0 ? "; " : "",
		 reason);
}

/* --- tag lists (RFC 6376 3.2) ------------------------------------------ */

static size_t skip_fws(const char *s, size_t len, size_t i)
{
	while (i < len && is_fws((unsigned char)s[i]))
		i++;
	return i;
}

/* Parses a tag-list; 0, or -1 when it is not one (bad syntax, a tag
 * twice, too many tags). Tag names are case-sensitive (3.2). */
static int tags_parse(const char *s, size_t len, struct taglist *out)
{
	size_t i = skip_fws(s, len, 0);
	out->count = 0;
	while (i < len) {
		if (!is_alpha((unsigned char)s[i]))
			return -1;
		size_t name_start = i;
		while (i < len && (is_alpha((unsigned char)s[i]) || is_digit((unsigned char)s[i]) ||
				   s[i] == '_'))
			i++;
		size_t name_len = i - name_start;
		i = skip_fws(s, len, i);
		if (i == len || s[i] != '=')
			return -1;
		const char *eq = s + i;
		i = skip_fws(s, len, i + 1);
		size_t val_start = i, val_end = i;
		for (; i < len && s[i] != ';'; i++) {
			unsigned char c = (unsigned char)s[i];
			if (is_fws(c))
				continue;
			/* VALCHAR is printable ASCII; bytes above it are let
			 * through for RFC 8616 (UTF-8 in i= and d=). */
			if (c < 0x21 || c == 0x7f)
				return -1;
			val_end = i + 1;
		}
		for (size_t k = 0; k < out->count; k++)
			if (out->tags[k].name_len == name_len &&
			    memcmp(out->tags[k].name, s + name_start, name_len) == 0)
				return -1;
		if (out->count == TAGS_MAX)
			return -1;
		out->tags[out->count++] = (struct tag){
			.name = s + name_start,
			.name_len = name_len,
			.eq = eq,
			.val = s + val_start,
			.val_len = val_end - val_start,
		};
		if (i < len)
			i = skip_fws(s, len, i + 1); /* past ';'; a final ';' is allowed */
	}
	return 0;
}

static const struct tag *tag_find(const struct taglist *tl, const char *name)
{
	size_t n = strlen(name);
	for (size_t i = 0; i < tl->count; i++)
		if (tl->tags[i].name_len == n && memcmp(tl->tags[i].name, name, n) == 0)
			return &tl->tags[i];
	return NULL;
}

/* Walks a colon-separated list value ("h=", "q=", key "h=", "s=", "t="):
 * returns false at the end, else the next item without FWS around it. */
static bool list_next(const char **p, const char *end, const char **item, size_t *item_len)
{
	if (*p == NULL)
		return false;
	const char *sep = memchr(*p, ':', (size_t)(end - *p));
	const char *stop = sep != NULL ? sep : end;
	const char *a = *p, *b = stop;
	while (a < b && is_fws((unsigned char)*a))
		a++;
	while (b > a && is_fws((unsigned char)b[-1]))
		b--;
	*item = a;
	*item_len = (size_t)(b - a);
	*p = sep != NULL ? sep + 1 : NULL;
	return true;
}

static bool list_has(const struct tag *t, const char *word)
{
	const char *p = t->val, *item;
	size_t n;
	while (list_next(&p, t->val + t->val_len, &item, &n))
		if (mem_eq_ci(item, n, word, strlen(word)))
			return true;
	return false;
}

/* Decimal digits only; saturates instead of overflowing (a huge l= or x=
 * then simply compares as huge). */
static bool parse_uint(const struct tag *t, uint64_t *out)
{
	if (t->val_len == 0)
		return false;
	uint64_t v = 0;
	for (size_t i = 0; i < t->val_len; i++) {
		unsigned char c = (unsigned char)t->val[i];
		if (!is_digit(c))
			return false;
		v = v > (UINT64_MAX - 9) / 10 ? UINT64_MAX : v * 10 + (uint64_t)(c - '0');
	}
	*out = v;
	return true;
}

/* base64 with FWS anywhere (RFC 6376 2.6); padding required, as python
 * and OpenDKIM want it too. Returns the decoded length or -1. */
static long decode_b64(struct buf *scratch, const struct tag *t, uint8_t *out, size_t max)
{
	buf_clear(scratch);
	for (size_t i = 0; i < t->val_len; i++)
		if (!is_fws((unsigned char)t->val[i]))
			buf_append_byte(scratch, (uint8_t)t->val[i]);
	struct buf dec;
	buf_init(&dec, max);
	long n = -1;
	if (base64_decode(&dec, buf_span(scratch)) == 0) {
		n = (long)dec.len;
		if (dec.len > 0)
			memcpy(out, dec.data, dec.len);
	}
	buf_free(&dec);
	return n;
}

/* A domain name or selector as the key name needs it: dot-separated
 * labels of letters, digits, '-' and '_'. Non-ASCII (RFC 8616 U-labels)
 * is refused: the key lookup would need IDNA. */
static bool valid_name(const char *p, size_t len)
{
	if (len == 0 || len > DNS_NAME_MAX)
		return false;
	size_t label = 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)p[i];
		if (c == '.') {
			if (label == 0)
				return false;
			label = 0;
			continue;
		}
		if (!is_alpha(c) && !is_digit(c) && c != '-' && c != '_')
			return false;
		if (++label > 63)
			return false;
	}
	return label > 0;
}

/* --- header hashing ------------------------------------------------------ */

static void field_name(const struct dkim_verifier *v, const struct field *f, const char **name,
		       size_t *len)
{
	*name = (const char *)v->header.data + f->off;
	*len = f->name_len;
}

/* How many header fields are called `name` (case-insensitive). */
static size_t count_fields(const struct dkim_verifier *v, const char *name)
{
	size_t n = 0, want = strlen(name);
	for (size_t i = 0; i < v->nfields; i++) {
		const char *fname;
		size_t len;
		field_name(v, &v->fields[i], &fname, &len);
		if (mem_eq_ci(fname, len, name, want))
			n++;
	}
	return n;
}

/* Feeds one header field, canonicalized, to md (RFC 6376 3.4.1, 3.4.2).
 * with_crlf is false only for the signature's own field, which is hashed
 * without its line end (3.7). */
static void hash_field(EVP_MD_CTX *md, struct buf *scratch, enum canon canon, const char *f,
		       size_t len, size_t name_len, size_t colon, bool with_crlf)
{
	if (canon == CANON_SIMPLE) {
		EVP_DigestUpdate(md, f, len);
	} else {
		buf_clear(scratch);
		for (size_t i = 0; i < name_len; i++)
			buf_append_byte(scratch, lower((unsigned char)f[i]));
		buf_append_byte(scratch, ':');
		bool wsp = false, started = false;
		for (size_t i = colon + 1; i < len; i++) {
			unsigned char c = (unsigned char)f[i];
			if (c == '\r' && i + 1 < len && f[i + 1] == '\n') {
				i++; /* unfold */
				continue;
			}
			if (c == ' ' || c == '\t') {
				wsp = true;
				continue;
			}
			if (wsp && started)
				buf_append_byte(scratch, ' ');
			wsp = false;
			started = true;
			buf_append_byte(scratch, c);
		}
		EVP_DigestUpdate(md, scratch->data, scratch->len);
	}
	if (with_crlf)
		EVP_DigestUpdate(md, "\r\n", 2);
}

/* The hash of the signed header fields plus the signature field with its
 * b= value removed (RFC 6376 3.7, 5.4.2): each h= name takes the last
 * instance of that field not taken yet, going up; names with no instance
 * left add nothing. */
static void hash_header(struct dkim_verifier *v, struct sig *s, enum canon canon,
			const EVP_MD *md_type, const struct field *sigfield, const struct tag *b,
			const char *const *names, const size_t *name_lens, size_t nnames)
{
	const char *cursor_name[SIGNED_NAMES_MAX];
	size_t cursor_len[SIGNED_NAMES_MAX], cursor_pos[SIGNED_NAMES_MAX];
	size_t ncursors = 0;
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	if (md == NULL)
		abort();
	EVP_DigestInit_ex(md, md_type, NULL);

	for (size_t j = 0; j < nnames; j++) {
		size_t k = 0;
		while (k < ncursors && !mem_eq_ci(cursor_name[k], cursor_len[k], names[j], name_lens[j]))
			k++;
		if (k == ncursors) {
			cursor_name[k] = names[j];
			cursor_len[k] = name_lens[j];
			cursor_pos[k] = v->nfields;
			ncursors++;
		}
		size_t i = cursor_pos[k];
		while (i > 0) {
			i--;
			const char *name;
			size_t len;
			field_name(v, &v->fields[i], &name, &len);
			if (mem_eq_ci(name, len, names[j], name_lens[j])) {
				const struct field *f = &v->fields[i];
				hash_field(md, &v->scratch, canon, (const char *)v->header.data + f->off,
					   f->len, f->name_len, f->colon, true);
				cursor_pos[k] = i;
				break;
			}
			if (i == 0)
				cursor_pos[k] = 0;
		}
	}

	/* The signature field itself, b= value and the FWS before it gone. */
	const char *raw = (const char *)v->header.data + sigfield->off;
	size_t cut_from = (size_t)(b->eq + 1 - raw), cut_to = (size_t)(b->val + b->val_len - raw);
	char *copy = xmalloc(sigfield->len - (cut_to - cut_from) + 1);
	memcpy(copy, raw, cut_from);
	memcpy(copy + cut_from, raw + cut_to, sigfield->len - cut_to);
	hash_field(md, &v->scratch, canon, copy, sigfield->len - (cut_to - cut_from),
		   sigfield->name_len, sigfield->colon, false);
	free(copy);

	EVP_DigestFinal_ex(md, s->header_hash, &s->header_hash_len);
	EVP_MD_CTX_free(md);
}

/* --- signature tags (RFC 6376 3.5) ----------------------------------------- */

static const EVP_MD *alg_md(enum alg a)
{
	return a == ALG_RSA_SHA1 ? EVP_sha1() : EVP_sha256();
}

static bool parse_canon(const struct tag *t, enum canon *header, enum canon *body)
{
	*header = *body = CANON_SIMPLE;
	if (t == NULL)
		return true;
	const char *slash = memchr(t->val, '/', t->val_len);
	size_t hlen = slash != NULL ? (size_t)(slash - t->val) : t->val_len;
	for (int part = 0; part < 2; part++) {
		const char *p = part == 0 ? t->val : slash + 1;
		size_t n = part == 0 ? hlen : t->val_len - hlen - 1;
		enum canon *out = part == 0 ? header : body;
		if (mem_eq_ci(p, n, "simple", 6))
			*out = CANON_SIMPLE;
		else if (mem_eq_ci(p, n, "relaxed", 7))
			*out = CANON_RELAXED;
		else
			return false;
		if (slash == NULL)
			break;
	}
	return true;
}

/* The tags as reported, whatever else is wrong with them. */
static void sig_report(struct sig *s, const struct taglist *tl)
{
	const struct tag *td = tag_find(tl, "d"), *ts = tag_find(tl, "s"),
			 *ti = tag_find(tl, "i"), *ta = tag_find(tl, "a"),
			 *tb = tag_find(tl, "b");
	if (td != NULL)
		report_copy(s->res.domain, sizeof(s->res.domain), td->val, td->val_len);
	if (ts != NULL)
		report_copy(s->res.selector, sizeof(s->res.selector), ts->val, ts->val_len);
	if (ti != NULL) {
		report_copy(s->res.identity, sizeof(s->res.identity), ti->val, ti->val_len);
	} else {
		s->res.identity[0] = '@'; /* default "@" d= (3.5), cut like any report */
		if (td != NULL)
			report_copy(s->res.identity + 1, sizeof(s->res.identity) - 1, td->val,
				    td->val_len);
	}
	if (ta != NULL)
		report_copy(s->res.algorithm, sizeof(s->res.algorithm), ta->val, ta->val_len);
	if (tb != NULL) /* RFC 8601 header.b: enough of b= to tell signatures apart */
		report_copy(s->res.header_b, 9, tb->val, tb->val_len);
}

/* 3.5 i=: the domain part is d= or a subdomain of it. NULL or the reason. */
static const char *check_identity(struct sig *s, const struct tag *ti, const struct tag *td)
{
	if (ti == NULL)
		return NULL;
	const char *at = NULL;
	for (size_t i = 0; i < ti->val_len; i++)
		if (ti->val[i] == '@')
			at = ti->val + i;
	if (at == NULL)
		return "identity (i=) not within domain (d=)";
	const char *dom = at + 1;
	size_t dlen = (size_t)(ti->val + ti->val_len - dom);
	if (mem_eq_ci(dom, dlen, td->val, td->val_len)) {
		s->i_below_d = false;
		return NULL;
	}
	if (dlen > td->val_len && dom[dlen - td->val_len - 1] == '.' &&
	    mem_eq_ci(dom + dlen - td->val_len, td->val_len, td->val, td->val_len)) {
		s->i_below_d = true;
		return NULL;
	}
	return "identity (i=) not within domain (d=)";
}

/* t= and x= against now. NULL or the reason. */
static const char *check_times(const struct taglist *tl, time_t now_t)
{
	const struct tag *tt = tag_find(tl, "t"), *tx = tag_find(tl, "x");
	uint64_t t = 0, x = 0, now = now_t > 0 ? (uint64_t)now_t : 0;
	if (tt != NULL && !parse_uint(tt, &t))
		return "bad timestamp (t=)";
	if (tx != NULL && !parse_uint(tx, &x))
		return "bad expiration (x=)";
	if (tt != NULL && tx != NULL && x < t)
		return "expiration (x=) before timestamp (t=)";
	if (tt != NULL && t > now && t - now > CLOCK_SKEW)
		return "timestamp (t=) in the future";
	/* 6.1.1: an expired signature is ignored, PERMFAIL. */
	if (tx != NULL && x < now && now - x > CLOCK_SKEW)
		return "signature expired (x=)";
	return NULL;
}

/* Splits h= into names; NULL or the reason. */
static const char *parse_signed_names(const struct tag *th, const char **names,
				      size_t *name_lens, size_t *nnames, size_t *from_signed)
{
	const char *p = th->val, *item;
	size_t item_len;
	*nnames = *from_signed = 0;
	while (list_next(&p, th->val + th->val_len, &item, &item_len)) {
		bool ok = item_len > 0 && *nnames < SIGNED_NAMES_MAX;
		for (size_t i = 0; ok && i < item_len; i++)
			ok = (unsigned char)item[i] > 0x20 && (unsigned char)item[i] < 0x7f;
		if (!ok)
			return "bad signed header list (h=)";
		if (mem_eq_ci(item, item_len, "from", 4))
			(*from_signed)++;
		names[*nnames] = item;
		name_lens[(*nnames)++] = item_len;
	}
	/* 5.4 and 6.1.1: From MUST be signed. */
	if (*from_signed == 0)
		return "From field not signed (h=)";
	return NULL;
}

/* Checks the tags that decide how to verify; NULL or the reason. */
static const char *check_tags(struct dkim_verifier *v, struct sig *s, const struct taglist *tl,
			      enum canon *header_canon)
{
	static const char *const required[] = {"v", "a", "b", "bh", "d", "h", "s"};
	static const char *const missing[] = {"missing v= tag", "missing a= tag",
					      "missing b= tag", "missing bh= tag",
					      "missing d= tag", "missing h= tag",
					      "missing s= tag"};
	for (size_t i = 0; i < sizeof(required) / sizeof(required[0]); i++)
		if (tag_find(tl, required[i]) == NULL)
			return missing[i];
	const struct tag *tv = tag_find(tl, "v"), *ta = tag_find(tl, "a"),
			 *td = tag_find(tl, "d"), *ts = tag_find(tl, "s"),
			 *tq = tag_find(tl, "q"), *tlen = tag_find(tl, "l");
	if (!(tv->val_len == 1 && tv->val[0] == '1'))
		return "unsupported version (v=)";
	if (val_eq(ta, "rsa-sha256"))
		s->alg = ALG_RSA_SHA256;
	else if (val_eq(ta, "ed25519-sha256"))
		s->alg = ALG_ED25519_SHA256;
	else if (val_eq(ta, "rsa-sha1"))
		s->alg = ALG_RSA_SHA1;
	else
		return "unknown algorithm (a=)";
	if (!parse_canon(tag_find(tl, "c"), header_canon, &s->body_canon))
		return "unknown canonicalization (c=)";
	if (!valid_name(td->val, td->val_len))
		return "bad domain (d=)";
	if (!valid_name(ts->val, ts->val_len))
		return "bad selector (s=)";
	const char *err = check_identity(s, tag_find(tl, "i"), td);
	if (err != NULL)
		return err;
	if (tq != NULL && !list_has(tq, "dns/txt"))
		return "unsupported query method (q=)";
	if (tlen != NULL && !parse_uint(tlen, &s->l))
		return "bad body length (l=)";
	s->has_l = tlen != NULL;
	err = check_times(tl, v->now);
	if (err != NULL)
		return err;
	long n = decode_b64(&v->scratch, tag_find(tl, "bh"), s->bh, sizeof(s->bh));
	if (n <= 0)
		return "bad body hash (bh=)";
	s->bh_len = (size_t)n;
	n = decode_b64(&v->scratch, tag_find(tl, "b"), s->b, sizeof(s->b));
	if (n <= 0)
		return "bad signature data (b=)";
	s->b_len = (size_t)n;
	return NULL;
}

/* Checks everything a signature says about itself and hashes its header
 * fields; leaves it waiting for its key (check = true) or decided. */
static void sig_parse(struct dkim_verifier *v, struct sig *s, const struct field *f, bool verify)
{
	const char *raw = (const char *)v->header.data + f->off;
	struct taglist tl;
	if (tags_parse(raw + f->colon + 1, f->len - f->colon - 1, &tl) < 0) {
		set_result(s, MAILAUTH_PERMERROR, "malformed tag list");
		return;
	}
	sig_report(s, &tl);
	if (!verify) {
		set_result(s, MAILAUTH_PERMERROR, "too many signatures, not verified");
		return;
	}
	enum canon header_canon;
	const char *names[SIGNED_NAMES_MAX];
	size_t name_lens[SIGNED_NAMES_MAX], nnames, from_signed;
	const char *err = check_tags(v, s, &tl, &header_canon);
	if (err == NULL)
		err = parse_signed_names(tag_find(&tl, "h"), names, name_lens, &nnames,
					 &from_signed);
	if (err != NULL) {
		set_result(s, MAILAUTH_PERMERROR, err);
		return;
	}
	s->from_unsigned = count_fields(v, "from") > from_signed;

	const struct tag *td = tag_find(&tl, "d"), *ts = tag_find(&tl, "s");
	s->key_name = xasprintf("%.*s._domainkey.%.*s", (int)ts->val_len, ts->val,
				(int)td->val_len, td->val);
	if (strlen(s->key_name) > DNS_NAME_MAX) {
		set_result(s, MAILAUTH_PERMERROR, "key name too long (s=, d=)");
		return;
	}

	hash_header(v, s, header_canon, alg_md(s->alg), f, tag_find(&tl, "b"), names, name_lens,
		    nnames);
	s->body_md = EVP_MD_CTX_new();
	if (s->body_md == NULL)
		abort();
	EVP_DigestInit_ex(s->body_md, alg_md(s->alg), NULL);
	s->check = true;
}

/* --- body canonicalization ------------------------------------------------ */

static void canon_flush(struct dkim_verifier *v, enum canon which)
{
	struct body_canon *c = &v->canon[which];
	for (size_t i = 0; i < v->nsigs; i++) {
		struct sig *s = &v->sigs[i];
		if (!s->check || s->body_canon != which)
			continue;
		size_t n = c->out_len;
		if (s->has_l) {
			uint64_t room = s->l > s->body_hashed ? s->l - s->body_hashed : 0;
			if (n > room)
				n = (size_t)room;
		}
		if (n > 0)
			EVP_DigestUpdate(s->body_md, c->out, n);
		s->body_hashed += n;
	}
	c->total += c->out_len;
	c->out_len = 0;
}

static void canon_put(struct dkim_verifier *v, enum canon which, const void *p, size_t n)
{
	struct body_canon *c = &v->canon[which];
	if (c->out_len + n > sizeof(c->out))
		canon_flush(v, which);
	memcpy(c->out + c->out_len, p, n);
	c->out_len += n;
}

/* A byte that is neither part of a line end nor (relaxed) WSP: the held
 * line ends and space go out first. */
static void canon_content(struct dkim_verifier *v, enum canon which, uint8_t ch)
{
	struct body_canon *c = &v->canon[which];
	for (; c->crlf_held > 0; c->crlf_held--)
		canon_put(v, which, "\r\n", 2);
	if (c->wsp_held)
		canon_put(v, which, " ", 1);
	c->wsp_held = false;
	canon_put(v, which, &ch, 1);
	c->content = true;
}

static void canon_feed(struct dkim_verifier *v, enum canon which, const uint8_t *p, size_t len)
{
	struct body_canon *c = &v->canon[which];
	for (size_t i = 0; i < len; i++) {
		uint8_t ch = p[i];
		if (c->cr_held) {
			c->cr_held = false;
			if (ch == '\n') {
				c->wsp_held = false; /* relaxed: WSP at the end of a line goes */
				c->crlf_held++;
				continue;
			}
			canon_content(v, which, '\r');
		}
		if (ch == '\r')
			c->cr_held = true;
		else if (which == CANON_RELAXED && (ch == ' ' || ch == '\t'))
			c->wsp_held = true;
		else
			canon_content(v, which, ch);
	}
}

/* End of body: trailing empty lines are dropped and the last line gets a
 * CRLF; an empty body is one CRLF in simple (3.4.3) and nothing in
 * relaxed (3.4.4, erratum 1384). */
static void canon_finish(struct dkim_verifier *v, enum canon which)
{
	struct body_canon *c = &v->canon[which];
	if (c->cr_held) {
		c->cr_held = false;
		canon_content(v, which, '\r');
	}
	c->wsp_held = false;
	c->crlf_held = 0;
	if (c->content || which == CANON_SIMPLE)
		canon_put(v, which, "\r\n", 2);
	canon_flush(v, which);
}

/* --- keys (RFC 6376 3.6.1, RFC 8463) -------------------------------------- */

static EVP_PKEY *rsa_key(const uint8_t *der, size_t len)
{
	const unsigned char *p = der;
	EVP_PKEY *k = d2i_PUBKEY(NULL, &p, (long)len);
	if (k == NULL || p != der + len || !EVP_PKEY_is_a(k, "RSA")) {
		EVP_PKEY_free(k);
		/* Some zones publish a bare RSAPublicKey (PKCS#1) instead
		 * of the SubjectPublicKeyInfo 3.6.1 asks for; python-dkim and
		 * OpenDKIM accept both. */
		p = der;
		k = d2i_PublicKey(EVP_PKEY_RSA, NULL, &p, (long)len);
		if (k != NULL && p != der + len) {
			EVP_PKEY_free(k);
			k = NULL;
		}
	}
	return k;
}

static bool check_signature(const struct sig *s, EVP_PKEY *key)
{
	bool ok = false;
	if (s->alg == ALG_ED25519_SHA256) {
		/* RFC 8463 3: Ed25519 (pure) over the SHA-256 header hash. */
		EVP_MD_CTX *md = EVP_MD_CTX_new();
		ok = md != NULL && EVP_DigestVerifyInit(md, NULL, NULL, NULL, key) == 1 &&
		     EVP_DigestVerify(md, s->b, s->b_len, s->header_hash, s->header_hash_len) == 1;
		EVP_MD_CTX_free(md);
	} else {
		EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(key, NULL);
		ok = ctx != NULL && EVP_PKEY_verify_init(ctx) == 1 &&
		     EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING) == 1 &&
		     EVP_PKEY_CTX_set_signature_md(ctx, alg_md(s->alg)) == 1 &&
		     EVP_PKEY_verify(ctx, s->b, s->b_len, s->header_hash, s->header_hash_len) == 1;
		EVP_PKEY_CTX_free(ctx);
	}
	return ok;
}

/* Decides a signature whose key answer is in: key record checks, then
 * body hash, then signature. */
static void sig_verify(struct dkim_verifier *v, struct sig *s, const struct dns_answer *a)
{
	if (a->status == DNS_TEMPFAIL) {
		set_result(s, MAILAUTH_TEMPERROR, "key lookup failed");
		return;
	}
	if (a->status != DNS_OK || a->count == 0) {
		set_result(s, MAILAUTH_PERMERROR, "no key");
		return;
	}
	/* 3.6.2.2: several records leave the result undefined; taking any
	 * one of them would make the verdict depend on answer order. */
	if (a->count > 1) {
		set_result(s, MAILAUTH_PERMERROR, "several key records");
		return;
	}
	struct taglist tl;
	if (tags_parse(a->records[0].data, a->records[0].len, &tl) < 0) {
		set_result(s, MAILAUTH_PERMERROR, "malformed key record");
		return;
	}
	const struct tag *tv = tag_find(&tl, "v"), *th = tag_find(&tl, "h"),
			 *tk = tag_find(&tl, "k"), *tp = tag_find(&tl, "p"),
			 *ts = tag_find(&tl, "s"), *tt = tag_find(&tl, "t");
	if (tv != NULL && !(tv->val_len == 5 && memcmp(tv->val, "DKIM1", 5) == 0)) {
		set_result(s, MAILAUTH_PERMERROR, "unsupported key record version");
		return;
	}
	bool ed25519 = tk != NULL && val_eq(tk, "ed25519");
	if (tk != NULL && !ed25519 && !val_eq(tk, "rsa")) {
		set_result(s, MAILAUTH_PERMERROR, "unknown key type (k=)");
		return;
	}
	if (th != NULL && !list_has(th, s->alg == ALG_RSA_SHA1 ? "sha1" : "sha256")) {
		set_result(s, MAILAUTH_PERMERROR, "hash algorithm not allowed by key (h=)");
		return;
	}
	if (ts != NULL && !list_has(ts, "*") && !list_has(ts, "email")) {
		set_result(s, MAILAUTH_PERMERROR, "key not for email (s=)");
		return;
	}
	if (tt != NULL && list_has(tt, "s") && s->i_below_d) {
		set_result(s, MAILAUTH_PERMERROR, "key forbids subdomain identity (t=s)");
		return;
	}
	if (tp == NULL) {
		set_result(s, MAILAUTH_PERMERROR, "malformed key record (no p=)");
		return;
	}
	if (tp->val_len == 0) {
		set_result(s, MAILAUTH_PERMERROR, "key revoked");
		return;
	}
	if (ed25519 != (s->alg == ALG_ED25519_SHA256)) {
		set_result(s, MAILAUTH_PERMERROR, "key type does not match algorithm");
		return;
	}
	uint8_t der[KEY_MAX_BYTES];
	long n = decode_b64(&v->scratch, tp, der, sizeof(der));
	EVP_PKEY *key = NULL;
	if (n > 0 && ed25519 && n == 32)
		key = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, der, 32);
	else if (n > 0 && !ed25519)
		key = rsa_key(der, (size_t)n);
	if (key == NULL) {
		set_result(s, MAILAUTH_PERMERROR, "bad key data (p=)");
		return;
	}
	if (!ed25519 && EVP_PKEY_get_bits(key) < RSA_MIN_BITS) {
		set_result(s, MAILAUTH_PERMERROR, "key too short");
	} else if (!ed25519 && EVP_PKEY_get_bits(key) > RSA_MAX_BITS) {
		set_result(s, MAILAUTH_PERMERROR, "key too long");
	} else if (s->has_l && s->l > v->canon[s->body_canon].total) {
		/* The signer claims more body than there is; what remains
		 * can hardly be the signed body. */
		set_result(s, MAILAUTH_PERMERROR, "body length (l=) exceeds body");
	} else if (!s->body_ok) {
		set_result(s, MAILAUTH_FAIL, "body hash did not verify");
	} else if (!check_signature(s, key)) {
		set_result(s, MAILAUTH_FAIL, "signature did not verify");
	} else if (s->alg == ALG_RSA_SHA1) {
		set_result(s, MAILAUTH_POLICY, "rsa-sha1 not accepted (RFC 8301)");
	} else if (s->from_unsigned) {
		set_result(s, MAILAUTH_POLICY, "unsigned From field added");
	} else {
		set_result(s, MAILAUTH_PASS, "");
	}
	EVP_PKEY_free(key);
	if (s->res.result == MAILAUTH_PASS || s->res.result == MAILAUTH_POLICY) {
		if (s->has_l && s->l < v->canon[s->body_canon].total)
			add_reason(s, "l= shorter than body");
		if (tt != NULL && list_has(tt, "y"))
			add_reason(s, "key in testing mode (t=y)");
	}
}

/* --- public ----------------------------------------------------------------- */

struct dkim_verifier *dkim_verifier_new(time_t now)
{
	struct dkim_verifier *v = xcalloc(1, sizeof(*v));
	v->now = now;
	buf_init(&v->header, 0);
	buf_init(&v->scratch, 0);
	return v;
}

static void drop_header(struct dkim_verifier *v)
{
	buf_free(&v->header);
	free(v->fields);
	v->fields = NULL;
	v->nfields = v->afields = 0;
}

void dkim_verifier_free(struct dkim_verifier *v)
{
	if (v == NULL)
		return;
	for (size_t i = 0; i < v->nsigs; i++) {
		EVP_MD_CTX_free(v->sigs[i].body_md);
		free(v->sigs[i].key_name);
	}
	free(v->sigs);
	drop_header(v);
	buf_free(&v->scratch);
	free(v);
}

void dkim_verifier_header(struct dkim_verifier *v, const char *field, size_t len)
{
	if (v->phase != PHASE_HEADER || v->header_overflow)
		return;
	const char *colon = memchr(field, ':', len);
	if (colon == NULL) /* not a header field; nothing can sign it */
		return;
	if (len > HEADER_MAX_BYTES - v->header.len || v->nfields == HEADER_MAX_FIELDS) {
		v->header_overflow = true;
		return;
	}
	if (v->nfields == v->afields) {
		v->afields = v->afields ? v->afields * 2 : 32;
		v->fields = xreallocarray(v->fields, v->afields, sizeof(*v->fields));
	}
	size_t name_len = (size_t)(colon - field);
	while (name_len > 0 && (field[name_len - 1] == ' ' || field[name_len - 1] == '\t'))
		name_len--;
	v->fields[v->nfields++] = (struct field){
		.off = v->header.len,
		.len = len,
		.name_len = name_len,
		.colon = (size_t)(colon - field),
	};
	buf_append(&v->header, field, len);
}

void dkim_verifier_eoh(struct dkim_verifier *v)
{
	if (v->phase != PHASE_HEADER)
		return;
	v->phase = PHASE_BODY;
	size_t total = count_fields(v, "dkim-signature");
	if (total > DKIM_MAX_REPORTED)
		total = DKIM_MAX_REPORTED;
	v->sigs = xcalloc(total > 0 ? total : 1, sizeof(*v->sigs));
	for (size_t i = 0; i < v->nfields && v->nsigs < total; i++) {
		const char *name;
		size_t len;
		field_name(v, &v->fields[i], &name, &len);
		if (!mem_eq_ci(name, len, "dkim-signature", 14))
			continue;
		struct sig *s = &v->sigs[v->nsigs++];
		sig_parse(v, s, &v->fields[i], v->nsigs <= DKIM_MAX_SIGNATURES);
		if (v->header_overflow && s->check) {
			set_result(s, MAILAUTH_PERMERROR, "header too large to verify");
			EVP_MD_CTX_free(s->body_md);
			s->body_md = NULL;
		}
	}
	v->canon[CANON_SIMPLE].used = v->canon[CANON_RELAXED].used = false;
	for (size_t i = 0; i < v->nsigs; i++)
		if (v->sigs[i].check)
			v->canon[v->sigs[i].body_canon].used = true;
	drop_header(v);
}

void dkim_verifier_body(struct dkim_verifier *v, const char *data, size_t len)
{
	if (v->phase == PHASE_HEADER)
		dkim_verifier_eoh(v);
	if (v->phase != PHASE_BODY)
		return;
	for (int c = CANON_SIMPLE; c <= CANON_RELAXED; c++)
		if (v->canon[c].used)
			canon_feed(v, (enum canon)c, (const uint8_t *)data, len);
}

void dkim_verifier_eom(struct dkim_verifier *v)
{
	if (v->phase == PHASE_HEADER)
		dkim_verifier_eoh(v);
	if (v->phase != PHASE_BODY)
		return;
	v->phase = PHASE_END;
	for (int c = CANON_SIMPLE; c <= CANON_RELAXED; c++)
		if (v->canon[c].used)
			canon_finish(v, (enum canon)c);
	for (size_t i = 0; i < v->nsigs; i++) {
		struct sig *s = &v->sigs[i];
		if (s->body_md == NULL)
			continue;
		uint8_t bh[EVP_MAX_MD_SIZE];
		unsigned n = 0;
		EVP_DigestFinal_ex(s->body_md, bh, &n);
		s->body_ok = n == s->bh_len && memcmp(bh, s->bh, n) == 0;
		EVP_MD_CTX_free(s->body_md);
		s->body_md = NULL;
	}
}

enum mailauth_result dkim_verifier_result(struct dkim_verifier *v, struct dns_cache *dns)
{
	if (v->final)
		return v->result;
	if (v->phase == PHASE_HEADER)
		return MAILAUTH_PENDING; /* nothing to ask before eoh */
	const struct dns_answer *answers[DKIM_MAX_SIGNATURES] = {NULL};
	bool missing = false;
	/* All questions in one round, in signature order (dns.h replay). */
	for (size_t i = 0; i < v->nsigs && i < DKIM_MAX_SIGNATURES; i++) {
		if (!v->sigs[i].check)
			continue;
		answers[i] = dns_cache_get(dns, v->sigs[i].key_name, DNS_T_TXT);
		if (answers[i] == NULL)
			missing = true;
	}
	if (missing || v->phase != PHASE_END)
		return MAILAUTH_PENDING;

	/* Failed OpenSSL calls leave errors on this thread's queue, where TLS
	 * code on the same thread would find them; keep the queue as it was. */
	ERR_set_mark();
	for (size_t i = 0; i < v->nsigs && i < DKIM_MAX_SIGNATURES; i++)
		if (v->sigs[i].check)
			sig_verify(v, &v->sigs[i], answers[i]);
	ERR_pop_to_mark();

	v->result = v->nsigs > 0 ? v->sigs[0].res.result : MAILAUTH_NONE;
	for (size_t i = 0; i < v->nsigs; i++)
		if (v->sigs[i].res.result == MAILAUTH_PASS)
			v->result = MAILAUTH_PASS;
	v->final = true;
	return v->result;
}

size_t dkim_verifier_count(const struct dkim_verifier *v)
{
	return v->nsigs;
}

const struct dkim_signature_result *dkim_verifier_signature(const struct dkim_verifier *v,
							    size_t i)
{
	return i < v->nsigs ? &v->sigs[i].res : NULL;
}
