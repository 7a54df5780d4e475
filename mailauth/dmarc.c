/*
 * DMARC (RFC 7489): policy discovery (6.6.3), the record's tag-value syntax
 * (6.3, 6.4 on top of RFC 6376 3.2), identifier alignment (3.1) and the
 * p/sp/pct disposition.
 *
 * Decisions where the RFC leaves room, in one place:
 *   - A record that starts with v=DMARC1 but is unusable (broken tag list,
 *     duplicate tag, no valid p or an invalid sp, and no valid rua to fall
 *     back on) gives permerror: 6.6.3 step 6 says no policy is applied, and
 *     the result registry (11.2) names this case permerror. No disposition
 *     is set, so nothing is enforced.
 *   - Several v=DMARC1 records at one name end discovery with result none
 *     (6.6.3 step 5). That set is not empty, so step 3 does not fall back
 *     to the organisational domain.
 *   - Invalid values of the optional tags pct, adkim and aspf are ignored
 *     and their defaults used; unknown tags are ignored (6.3).
 *   - Empty tag specs (";;") are tolerated: refusing them would throw away
 *     a sender's reject policy over a harmless extra separator.
 *   - DNS failures give temperror (6.6.3 leaves them to the receiver).
 */
#include "mailauth/dmarc.h"

#include <libpsl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* A DMARC record has about a dozen tags; a longer list is not one. */
#define DMARC_MAX_TAGS 32

/* Loaded once per process and never freed: lookups may run on any thread
 * until the process ends, so freeing at exit could race with one. The
 * static pointer keeps it reachable, so LeakSanitizer does not report it. */
static pthread_once_t psl_once = PTHREAD_ONCE_INIT;
static const psl_ctx_t *psl;

static void psl_load(void)
{
	/* With NULL, psl_latest() takes the distribution's list (the Debian
	 * publicsuffix package) when it is newer than libpsl's built-in copy. */
	psl = psl_latest(NULL);
	if (psl == NULL)
		psl = psl_builtin();
}

static bool is_wsp(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static bool is_alpha(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static char lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

/* Lowercase copy of a domain name without its trailing dot, checked as far
 * as DMARC needs: 1..253 bytes, labels of 1..63 bytes of letters, digits,
 * '-', '_' or 8-bit bytes (U-labels are passed through untouched; IDNA is
 * the header parser's job). Returns 0, or -1 when it is not a domain. */
static int normalise_domain(const char *in, char *out, size_t outsize)
{
	size_t len = strlen(in);
	if (len > 0 && in[len - 1] == '.')
		len--;
	if (len == 0 || len > DNS_NAME_MAX || len >= outsize)
		return -1;
	size_t label = 0;
	for (size_t i = 0; i < len; i++) {
		char c = in[i];
		if (c == '.') {
			if (label == 0)
				return -1;
			label = 0;
		} else if (is_alpha(c) || is_digit(c) || c == '-' || c == '_' ||
			   (unsigned char)c >= 0x80) {
			if (++label > 63)
				return -1;
		} else {
			return -1;
		}
		out[i] = lower(c);
	}
	if (label == 0)
		return -1;
	out[len] = '\0';
	return 0;
}

int dmarc_org_domain(const char *domain, char *out, size_t outsize)
{
	char name[DNS_NAME_MAX + 2];
	size_t len = strlen(domain);
	if (len > 0 && domain[len - 1] == '.')
		len--;
	if (len >= sizeof(name))
		len = sizeof(name) - 1; /* not a DNS name; compared as is */
	for (size_t i = 0; i < len; i++)
		name[i] = lower(domain[i]);
	name[len] = '\0';

	pthread_once(&psl_once, psl_load);
	const char *org = psl != NULL ? psl_registrable_domain(psl, name) : NULL;
	if (org == NULL)
		org = name; /* a public suffix itself, or no list */
	size_t orglen = strlen(org);
	if (orglen >= outsize)
		return -1;
	memcpy(out, org, orglen + 1);
	return 0;
}

const char *dmarc_policy_name(enum dmarc_policy p)
{
	switch (p) {
	case DMARC_POLICY_QUARANTINE:
		return "quarantine";
	case DMARC_POLICY_REJECT:
		return "reject";
	case DMARC_POLICY_UNSPECIFIED:
	case DMARC_POLICY_NONE:
		break;
	}
	return "none";
}

/* One record's tags after parsing. */
struct dmarc_record {
	bool p_valid, has_sp, sp_valid;
	enum dmarc_policy p, sp;
	unsigned pct;
	bool adkim_strict, aspf_strict;
	bool rua_valid;
};

struct span_str {
	const char *ptr;
	size_t len;
};

static bool span_is(struct span_str s, const char *lit)
{
	return s.len == strlen(lit) && memcmp(s.ptr, lit, s.len) == 0;
}

static bool span_is_ci(struct span_str s, const char *lit)
{
	return s.len == strlen(lit) && strncasecmp(s.ptr, lit, s.len) == 0;
}

static struct span_str trim(const char *p, const char *end)
{
	while (p < end && is_wsp(*p))
		p++;
	while (end > p && is_wsp(end[-1]))
		end--;
	return (struct span_str){ p, (size_t)(end - p) };
}

/* RFC 6376 3.2: tag-name = ALPHA *ALNUMPUNC. */
static bool valid_tag_name(struct span_str s)
{
	if (s.len == 0 || !is_alpha(s.ptr[0]))
		return false;
	for (size_t i = 1; i < s.len; i++)
		if (!is_alpha(s.ptr[i]) && !is_digit(s.ptr[i]) && s.ptr[i] != '_')
			return false;
	return true;
}

/* RFC 6376 3.2 tag-value: VALCHARs (printable ASCII but ';') with
 * whitespace between them. 8-bit bytes are let through so that UTF-8 in a
 * tag we ignore cannot cost a record its policy. */
static bool valid_tag_value(struct span_str s)
{
	for (size_t i = 0; i < s.len; i++) {
		unsigned char c = (unsigned char)s.ptr[i];
		if (!(c >= 0x21 && c <= 0x7e) && c < 0x80 && !is_wsp((char)c))
			return false;
	}
	return true;
}

/* Splits one ';'-separated tag spec into name and value. Returns 1 with
 * both set, 0 for an empty spec, -1 for a syntax error. */
static int split_tag(const char *p, const char *end, struct span_str *name_r,
		     struct span_str *value_r)
{
	struct span_str spec = trim(p, end);
	if (spec.len == 0)
		return 0;
	const char *eq = memchr(spec.ptr, '=', spec.len);
	if (eq == NULL)
		return -1;
	*name_r = trim(spec.ptr, eq);
	*value_r = trim(eq + 1, spec.ptr + spec.len);
	if (!valid_tag_name(*name_r) || !valid_tag_value(*value_r))
		return -1;
	return 1;
}

/* RFC 7489 6.6.3 step 2: the record's first tag is v=DMARC1 (tag names
 * and this value are case-sensitive: RFC 6376 3.2, and the ABNF in 6.4
 * spells DMARC1 with %x values). */
static bool record_is_dmarc(const char *txt, size_t len)
{
	const char *end = txt + len;
	const char *semi = memchr(txt, ';', len);
	struct span_str name, value;
	if (split_tag(txt, semi != NULL ? semi : end, &name, &value) != 1)
		return false;
	return span_is(name, "v") && span_is(value, "DMARC1");
}

static bool parse_policy(struct span_str v, enum dmarc_policy *out)
{
	/* ABNF literals in 6.4 compare without case. */
	if (span_is_ci(v, "none"))
		*out = DMARC_POLICY_NONE;
	else if (span_is_ci(v, "quarantine"))
		*out = DMARC_POLICY_QUARANTINE;
	else if (span_is_ci(v, "reject"))
		*out = DMARC_POLICY_REJECT;
	else
		return false;
	return true;
}

/* RFC 3986 URI characters (unreserved, reserved, '%'). */
static bool is_uri_char(char c)
{
	return is_alpha(c) || is_digit(c) || (c != '\0' && strchr("-._~:/?#[]@!$&'()*+,;=%", c));
}

/* RFC 7489 6.4 dmarc-uri = URI [ "!" 1*DIGIT [ "k" / "m" / "g" / "t" ] ]:
 * a scheme, a colon, something after it, only URI characters, and a valid
 * size limit when there is a '!' (DMARC requires a literal '!' in the URI
 * itself to be escaped). */
static bool valid_dmarc_uri(struct span_str u)
{
	const char *bang = memchr(u.ptr, '!', u.len);
	size_t urilen = bang != NULL ? (size_t)(bang - u.ptr) : u.len;
	if (bang != NULL) {
		const char *p = bang + 1, *end = u.ptr + u.len;
		if (p == end || !is_digit(*p))
			return false;
		while (p < end && is_digit(*p))
			p++;
		if (p < end && strchr("kmgt", lower(*p)) != NULL)
			p++;
		if (p != end)
			return false;
	}
	if (urilen == 0 || !is_alpha(u.ptr[0]))
		return false;
	size_t i = 1;
	while (i < urilen && (is_alpha(u.ptr[i]) || is_digit(u.ptr[i]) ||
			      u.ptr[i] == '+' || u.ptr[i] == '-' || u.ptr[i] == '.'))
		i++;
	if (i >= urilen || u.ptr[i] != ':' || i + 1 >= urilen)
		return false;
	for (i++; i < urilen; i++)
		if (!is_uri_char(u.ptr[i]))
			return false;
	return true;
}

static bool rua_has_valid_uri(struct span_str v)
{
	const char *p = v.ptr, *end = v.ptr + v.len;
	for (;;) {
		const char *comma = memchr(p, ',', (size_t)(end - p));
		const char *stop = comma != NULL ? comma : end;
		if (valid_dmarc_uri(trim(p, stop)))
			return true;
		if (comma == NULL)
			break;
		p = comma + 1;
	}
	return false;
}

/* pct = 1*3DIGIT in 0..100. */
static bool parse_pct(struct span_str v, unsigned *out)
{
	if (v.len == 0 || v.len > 3)
		return false;
	unsigned n = 0;
	for (size_t i = 0; i < v.len; i++) {
		if (!is_digit(v.ptr[i]))
			return false;
		n = n * 10 + (unsigned)(v.ptr[i] - '0');
	}
	if (n > 100)
		return false;
	*out = n;
	return true;
}

/* Parses a record that record_is_dmarc() accepted and applies 6.6.3 step
 * 6. Returns 0, or -1 with *error_r when the record cannot be used. */
static int record_parse(const char *txt, size_t len, struct dmarc_record *rec,
			const char **error_r)
{
	struct span_str seen[DMARC_MAX_TAGS];
	size_t nseen = 0;
	bool has_p = false;

	*rec = (struct dmarc_record){ .pct = 100 };
	const char *p = txt, *end = txt + len;
	for (bool last = false; !last;) {
		const char *semi = memchr(p, ';', (size_t)(end - p));
		const char *stop = semi != NULL ? semi : end;
		struct span_str name, value;
		int r = split_tag(p, stop, &name, &value);
		last = semi == NULL;
		if (!last)
			p = semi + 1;
		if (r == 0)
			continue;
		if (r < 0) {
			*error_r = "tag syntax";
			return -1;
		}
		/* RFC 6376 3.2: a repeated tag makes the whole list invalid. */
		for (size_t i = 0; i < nseen; i++) {
			if (seen[i].len == name.len && memcmp(seen[i].ptr, name.ptr, name.len) == 0) {
				*error_r = "duplicate tag";
				return -1;
			}
		}
		if (nseen == DMARC_MAX_TAGS) {
			*error_r = "too many tags";
			return -1;
		}
		seen[nseen++] = name;

		if (span_is(name, "p")) {
			has_p = true;
			rec->p_valid = parse_policy(value, &rec->p);
		} else if (span_is(name, "sp")) {
			rec->has_sp = true;
			rec->sp_valid = parse_policy(value, &rec->sp);
		} else if (span_is(name, "pct")) {
			if (!parse_pct(value, &rec->pct))
				rec->pct = 100;
		} else if (span_is(name, "adkim")) {
			rec->adkim_strict = span_is_ci(value, "s");
		} else if (span_is(name, "aspf")) {
			rec->aspf_strict = span_is_ci(value, "s");
		} else if (span_is(name, "rua")) {
			rec->rua_valid = rua_has_valid_uri(value);
		}
	}

	if (rec->p_valid && (!rec->has_sp || rec->sp_valid))
		return 0;
	/* 6.6.3 step 6: with somewhere to send reports, act as p=none (the
	 * alignment modes of the record still decide pass or fail). */
	if (rec->rua_valid) {
		rec->p_valid = true;
		rec->p = DMARC_POLICY_NONE;
		rec->has_sp = false;
		return 0;
	}
	*error_r = !has_p ? "no p tag" : !rec->p_valid ? "invalid p tag" : "invalid sp tag";
	return -1;
}

enum lookup_status {
	LOOKUP_PENDING,
	LOOKUP_TEMPFAIL,
	LOOKUP_NONE,
	LOOKUP_MULTIPLE,
	LOOKUP_INVALID,
	LOOKUP_FOUND,
};

static enum lookup_status lookup(struct dns_cache *dns, const char *domain,
				 struct dmarc_record *rec, const char **error_r)
{
	char name[DNS_NAME_MAX + 16];
	snprintf(name, sizeof(name), "_dmarc.%s", domain);
	const struct dns_answer *a = dns_cache_get(dns, name, DNS_T_TXT);
	if (a == NULL)
		return LOOKUP_PENDING;
	if (a->status == DNS_TEMPFAIL)
		return LOOKUP_TEMPFAIL;
	if (a->status != DNS_OK)
		return LOOKUP_NONE;
	const char *found = NULL;
	size_t found_len = 0;
	for (size_t i = 0; i < a->count; i++) {
		const char *txt = a->records[i].data != NULL ? a->records[i].data : "";
		size_t len = a->records[i].data != NULL ? a->records[i].len : 0;
		if (!record_is_dmarc(txt, len))
			continue;
		if (found != NULL)
			return LOOKUP_MULTIPLE;
		found = txt;
		found_len = len;
	}
	if (found == NULL)
		return LOOKUP_NONE;
	if (record_parse(found, found_len, rec, error_r) < 0)
		return LOOKUP_INVALID;
	return LOOKUP_FOUND;
}

/* RFC 7489 3.1: strict mode wants the same name, relaxed mode the same
 * organisational domain. from_org is the organisational domain of from. */
static bool aligned(const char *from, const char *from_org, const char *other, bool strict)
{
	char name[DNS_NAME_MAX + 2], org[DNS_NAME_MAX + 2];
	if (other == NULL || normalise_domain(other, name, sizeof(name)) < 0)
		return false;
	if (strict)
		return strcmp(from, name) == 0;
	return dmarc_org_domain(name, org, sizeof(org)) == 0 && strcmp(from_org, org) == 0;
}

/* Sets the result and its reason (cut to fit: it is for logs and the
 * Authentication-Results comment). */
static enum mailauth_result finish(struct dmarc_outcome *out, enum mailauth_result r,
				   const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static enum mailauth_result finish(struct dmarc_outcome *out, enum mailauth_result r,
				   const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(out->reason, sizeof(out->reason), fmt, ap);
	va_end(ap);
	out->result = r;
	return r;
}

enum mailauth_result dmarc_check(struct dns_cache *dns, const struct dmarc_request *req,
				 struct dmarc_outcome *out)
{
	memset(out, 0, sizeof(*out));
	out->policy = DMARC_POLICY_UNSPECIFIED;
	out->disposition = DMARC_POLICY_UNSPECIFIED;

	/* 6.6.1: without exactly one From domain there is nothing to check
	 * against, which is a permanent error for this message. */
	if (req->from_domain == NULL)
		return finish(out, MAILAUTH_PERMERROR, "no single RFC5322.From domain");
	if (normalise_domain(req->from_domain, out->header_from, sizeof(out->header_from)) < 0) {
		out->header_from[0] = '\0';
		return finish(out, MAILAUTH_PERMERROR, "invalid RFC5322.From domain");
	}
	char from_org[DNS_NAME_MAX + 2];
	if (dmarc_org_domain(out->header_from, from_org, sizeof(from_org)) < 0)
		return finish(out, MAILAUTH_PERMERROR, "invalid RFC5322.From domain");

	/* 6.6.3 steps 1-4: the From domain, then (only when it has no record
	 * at all) its organisational domain. */
	struct dmarc_record rec;
	const char *error = NULL;
	const char *policy_domain = out->header_from;
	enum lookup_status st = lookup(dns, policy_domain, &rec, &error);
	if (st == LOOKUP_NONE && strcmp(from_org, out->header_from) != 0) {
		policy_domain = from_org;
		st = lookup(dns, policy_domain, &rec, &error);
	}
	snprintf(out->policy_domain, sizeof(out->policy_domain), "%s", policy_domain);

	switch (st) {
	case LOOKUP_PENDING:
		return out->result = MAILAUTH_PENDING;
	case LOOKUP_TEMPFAIL:
		return finish(out, MAILAUTH_TEMPERROR, "DNS error looking up the DMARC record: %s",
			      policy_domain);
	case LOOKUP_NONE:
		out->policy_domain[0] = '\0';
		return finish(out, MAILAUTH_NONE, "no DMARC record");
	case LOOKUP_MULTIPLE:
		return finish(out, MAILAUTH_NONE, "multiple DMARC records: %s", policy_domain);
	case LOOKUP_INVALID:
		return finish(out, MAILAUTH_PERMERROR, "invalid DMARC record at %s: %s",
			      policy_domain, error);
	case LOOKUP_FOUND:
		break;
	}

	/* sp= is the policy for subdomains, i.e. whenever the record came
	 * from the organisational domain rather than the From domain itself. */
	out->policy = policy_domain != out->header_from && rec.has_sp ? rec.sp : rec.p;

	/* 3.1.2: SPF counts only when it passed. */
	out->spf_aligned = req->spf_result == MAILAUTH_PASS &&
			   aligned(out->header_from, from_org, req->spf_domain, rec.aspf_strict);
	for (size_t i = 0; i < req->dkim_pass_count && !out->dkim_aligned; i++)
		out->dkim_aligned = aligned(out->header_from, from_org, req->dkim_pass_domains[i],
					    rec.adkim_strict);

	if (out->spf_aligned || out->dkim_aligned) {
		out->disposition = DMARC_POLICY_NONE;
		return finish(out, MAILAUTH_PASS, "%s",
			      out->spf_aligned && out->dkim_aligned ? "SPF and DKIM aligned"
			      : out->spf_aligned		    ? "SPF aligned"
								    : "DKIM aligned");
	}

	/* 6.3 pct: a message outside the sampled share gets the next lower
	 * policy; p=none has nothing to lower. */
	out->disposition = out->policy;
	bool sampled_out = req->pct_roll >= rec.pct;
	if (sampled_out && out->policy == DMARC_POLICY_REJECT)
		out->disposition = DMARC_POLICY_QUARANTINE;
	else if (sampled_out && out->policy == DMARC_POLICY_QUARANTINE)
		out->disposition = DMARC_POLICY_NONE;
	if (out->disposition != out->policy)
		return finish(out, MAILAUTH_FAIL, "neither SPF nor DKIM aligned: pct=%u sampled out",
			      rec.pct);
	return finish(out, MAILAUTH_FAIL, "neither SPF nor DKIM aligned");
}
