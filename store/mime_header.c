/*
 * RFC 822/5322 and MIME (RFC 2045, 2183, 2231, 3282) header syntax: the
 * lexical scanner the address parser also uses, Content-* fields, dates and
 * the RFC 5256 base subject.
 *
 * The scanner is lenient where real mail is broken and follows Dovecot 2.3
 * in every choice a client can see in BODYSTRUCTURE (empty parameter names,
 * repeated parameters, broken Content-Type giving "" ""...), because the
 * expected outputs in tests/data/mime come from Dovecot.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/utf8.h"
#include "common/xalloc.h"
#include "store/mime_internal.h"

/* ------------------------------------------------------------------ */
/* Character classes                                                   */

enum {
	ATEXT_SPECIAL = 1, /* atext other than letters and digits */
	ATEXT_ALNUM = 2,   /* letters, digits and every 8-bit byte */
	ATEXT_TSPECIAL = 4 /* atext that MIME tokens exclude: / = ? */
};

/* RFC 5322 3.2.3 atext, with 8-bit bytes accepted (RFC 6532) and the three
   atext characters RFC 2045 5.1 lists as tspecials marked apart. */
static const uint8_t atext_class[256] = {
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* controls */
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 1, 0, 1, 1, 1, 1, 1, 0, 0, 1, 1, 0, 1, 0, 4, /* space ! " # ... / */
	2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 0, 0, 0, 4, 0, 4, /* 0-9 : ; < = > ? */
	0, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, /* @ A-O */
	2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 0, 0, 0, 1, 1, /* P-Z [ \ ] ^ _ */
	1, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, /* ` a-o */
	2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 1, 1, 1, 1, 0, /* p-z { | } ~ DEL */
	2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
	2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
	2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
	2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
	2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
	2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
	2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
	2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
};

bool rfc822_is_atext(uint8_t c)
{
	return atext_class[c] != 0;
}

static inline bool is_token_char(uint8_t c)
{
	/* RFC 2045 token; '.' is no tspecial although it is no atext. */
	return (atext_class[c] & (ATEXT_SPECIAL | ATEXT_ALNUM)) != 0 || c == '.';
}

/* ------------------------------------------------------------------ */
/* Scanner                                                             */

void rfc822_scan_init(struct rfc822_scan *s, const uint8_t *data, size_t len)
{
	*s = (struct rfc822_scan){ .p = data, .end = data + len };
}

static inline int scan_more(const struct rfc822_scan *s)
{
	return s->p < s->end ? 1 : 0;
}

static void append_range(struct buf *out, const uint8_t *from, const uint8_t *to)
{
	if (out != NULL && to > from)
		buf_append(out, from, (size_t)(to - from));
}

/* The text between a folding (CR)LF's start and `from`, minus the CR. */
static void append_before_lf(struct buf *out, const uint8_t *from, const uint8_t *lf)
{
	const uint8_t *to = lf;
	if (to > from && to[-1] == '\r')
		to--;
	append_range(out, from, to);
}

int rfc822_skip_comment(struct rfc822_scan *s)
{
	struct buf *c = s->comment;
	int level = 1;

	if (c != NULL)
		buf_clear(c);
	const uint8_t *start = ++s->p;
	for (; s->p < s->end; s->p++) {
		switch (*s->p) {
		case '\0':
			if (c != NULL && s->nul_to_fffd) {
				append_range(c, start, s->p);
				buf_append_str(c, MIME_REPLACEMENT_UTF8);
				start = s->p + 1;
			}
			break;
		case '(':
			level++;
			break;
		case ')':
			if (--level == 0) {
				append_range(c, start, s->p);
				s->p++;
				return scan_more(s);
			}
			break;
		case '\n':
			/* folding inside a comment: drop the line break */
			if (c == NULL)
				break;
			append_before_lf(c, start, s->p);
			start = s->p + 1;
			break;
		case '\\':
			if (++s->p >= s->end)
				return -1;
			if (*s->p == '\r' || *s->p == '\n' || *s->p == '\0') {
				/* not a quoted-pair: keep the backslash and look
				   at the next byte again */
				s->p--;
				break;
			}
			append_range(c, start, s->p - 1);
			start = s->p;
			break;
		}
	}
	return -1; /* missing ')' */
}

int rfc822_skip_lwsp(struct rfc822_scan *s)
{
	while (s->p < s->end) {
		uint8_t ch = *s->p;
		if (ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n') {
			s->p++;
			continue;
		}
		if (ch != '(')
			break;
		if (rfc822_skip_comment(s) < 0)
			return -1;
	}
	return scan_more(s);
}

int rfc822_parse_atom(struct rfc822_scan *s, struct buf *out)
{
	if (s->p >= s->end || !rfc822_is_atext(*s->p))
		return -1;
	const uint8_t *start = s->p++;
	while (s->p < s->end && rfc822_is_atext(*s->p))
		s->p++;
	append_range(out, start, s->p);
	return s->p < s->end ? rfc822_skip_lwsp(s) : 0;
}

int rfc822_parse_dot_atom(struct rfc822_scan *s, struct buf *out)
{
	int ret;

	if (s->p >= s->end || !rfc822_is_atext(*s->p))
		return -1;
	/* RFC 822 allowed whitespace around the dots; take it, but not empty
	   labels ("a..b", "a.") */
	const uint8_t *start = s->p++;
	while (s->p < s->end) {
		if (rfc822_is_atext(*s->p)) {
			s->p++;
			continue;
		}
		if (start == s->p)
			return -1;
		append_range(out, start, s->p);
		if ((ret = rfc822_skip_lwsp(s)) <= 0)
			return ret;
		if (*s->p != '.')
			return 1;
		s->p++;
		buf_append_byte(out, '.');
		if (rfc822_skip_lwsp(s) <= 0)
			return -1;
		start = s->p;
	}
	append_range(out, start, s->p);
	return 0;
}

int rfc822_parse_mime_token(struct rfc822_scan *s, struct buf *out)
{
	const uint8_t *start = s->p;
	while (s->p < s->end && is_token_char(*s->p))
		s->p++;
	append_range(out, start, s->p);
	return s->p < s->end ? rfc822_skip_lwsp(s) : 0;
}

int rfc822_parse_quoted_string(struct rfc822_scan *s, struct buf *out)
{
	const uint8_t *start = ++s->p; /* after the opening quote */

	for (; s->p < s->end; s->p++) {
		switch (*s->p) {
		case '\0':
			if (s->nul_to_fffd) {
				append_range(out, start, s->p);
				buf_append_str(out, MIME_REPLACEMENT_UTF8);
				start = s->p + 1;
			}
			break;
		case '"':
			append_range(out, start, s->p);
			s->p++;
			return rfc822_skip_lwsp(s);
		case '\n':
			/* RFC 5322 3.2.4: folding inside a quoted string is
			   removed, the whitespace after it kept */
			append_before_lf(out, start, s->p);
			start = s->p + 1;
			break;
		case '\\':
			if (++s->p >= s->end)
				return -1;
			if (*s->p == '\r' || *s->p == '\n' || *s->p == '\0') {
				s->p--;
				break;
			}
			append_range(out, start, s->p - 1);
			start = s->p;
			break;
		}
	}
	return -1; /* missing '"' */
}

int rfc822_parse_atom_or_dot(struct rfc822_scan *s, struct buf *out)
{
	const uint8_t *start = s->p;
	while (s->p < s->end && (rfc822_is_atext(*s->p) || *s->p == '.'))
		s->p++;
	append_range(out, start, s->p);
	return s->p < s->end ? rfc822_skip_lwsp(s) : 0;
}

int rfc822_parse_phrase(struct rfc822_scan *s, struct buf *out)
{
	int ret;

	/* phrase = 1*word / obs-phrase (RFC 5322 4.1 allows dots) */
	if (s->p >= s->end)
		return 0;
	if (*s->p == '.')
		return -1;
	for (;;) {
		if (*s->p == '"')
			ret = rfc822_parse_quoted_string(s, out);
		else
			ret = rfc822_parse_atom_or_dot(s, out);
		if (ret <= 0)
			return ret;
		if (!rfc822_is_atext(*s->p) && *s->p != '"' && *s->p != '.')
			break;
		buf_append_byte(out, ' ');
	}
	return rfc822_skip_lwsp(s);
}

static int parse_domain_literal(struct rfc822_scan *s, struct buf *out)
{
	/* the brackets are part of the domain as IMAP shows it */
	const uint8_t *start = s->p++;

	for (; s->p < s->end; s->p++) {
		switch (*s->p) {
		case '\0':
			if (s->nul_to_fffd) {
				append_range(out, start, s->p);
				buf_append_str(out, MIME_REPLACEMENT_UTF8);
				start = s->p + 1;
			}
			break;
		case '[':
			return -1;
		case ']':
			append_range(out, start, s->p + 1);
			s->p++;
			return rfc822_skip_lwsp(s);
		case '\n':
			append_before_lf(out, start, s->p);
			start = s->p + 1;
			break;
		case '\\':
			if (++s->p >= s->end)
				return -1;
			if (*s->p == '\r' || *s->p == '\n' || *s->p == '\0') {
				append_range(out, start, s->p);
				start = s->p;
				s->p--;
			}
			break;
		}
	}
	return -1;
}

int rfc822_parse_domain(struct rfc822_scan *s, struct buf *out)
{
	s->p++; /* the '@' */
	if (rfc822_skip_lwsp(s) <= 0)
		return -1;
	if (*s->p == '[')
		return parse_domain_literal(s, out);
	return rfc822_parse_dot_atom(s, out);
}

/* Content-Type's "type/subtype" (RFC 2045 5.1) into `out`. A broken value
   leaves out empty, except that a lone type at the very end ("text") is
   kept: BODYSTRUCTURE then shows it with an empty subtype. */
static int parse_content_type(struct rfc822_scan *s, struct buf *out)
{
	size_t start_len = out->len;
	int ret;

	if (rfc822_skip_lwsp(s) <= 0)
		return -1;
	if (rfc822_parse_mime_token(s, out) <= 0 || out->len == start_len)
		return -1;
	if (*s->p != '/')
		goto broken;
	s->p++;
	if (rfc822_skip_lwsp(s) <= 0)
		goto broken;
	buf_append_byte(out, '/');
	size_t subtype_start = out->len;
	ret = rfc822_parse_mime_token(s, out);
	if (ret < 0 || out->len == subtype_start || (s->p < s->end && *s->p != ';'))
		goto broken;
	return ret;
broken:
	out->len = start_len;
	if (out->data != NULL)
		out->data[out->len] = '\0';
	return -1;
}

/* One ";attribute=value" (RFC 2045 5.1). Returns 1 with key and value
   filled, 0 at the end, -1 on a syntax error (the caller skips a byte). */
static int parse_content_param(struct rfc822_scan *s, struct buf *key, struct buf *value)
{
	int ret;

	buf_clear(key);
	buf_clear(value);
	if (s->p >= s->end)
		return 0;
	if (*s->p != ';')
		return -1;
	s->p++;
	if (rfc822_skip_lwsp(s) <= 0)
		return -1;
	if (rfc822_parse_mime_token(s, key) <= 0)
		return -1;
	if (*s->p != '=')
		return -1;
	s->p++;
	if ((ret = rfc822_skip_lwsp(s)) <= 0) {
		/* no value */
	} else if (*s->p == '"') {
		ret = rfc822_parse_quoted_string(s, value);
	} else if (*s->p == '=') {
		/* broken mailers write name==?utf-8?b?...?= unquoted */
		const uint8_t *start = s->p;
		while (s->p < s->end && *s->p != ';' && *s->p != ' ' && *s->p != '\t' &&
		       *s->p != '\r' && *s->p != '\n')
			s->p++;
		append_range(value, start, s->p);
	} else {
		ret = rfc822_parse_mime_token(s, value);
	}
	return ret < 0 ? -1 : 1;
}

/* ------------------------------------------------------------------ */
/* Strings in the arena                                                */

/* A C string copy that stops at the first NUL, as every value that goes
   into an IMAP string must. */
static char *arena_cstr(struct arena *a, const struct buf *b)
{
	size_t len = b->len;
	const void *nul = len > 0 ? memchr(b->data, '\0', len) : NULL;
	if (nul != NULL)
		len = (size_t)((const uint8_t *)nul - b->data);
	return arena_memdup(a, len > 0 ? (const void *)b->data : "", len);
}

char *mime_value_dup(struct arena *a, const uint8_t *value, size_t len)
{
	if (len == 0 || memchr(value, '\0', len) == NULL)
		return arena_memdup(a, len > 0 ? (const void *)value : "", len);

	struct buf b = BUF_INIT;
	for (size_t i = 0; i < len; i++) {
		if (value[i] == '\0')
			buf_append_str(&b, MIME_REPLACEMENT_UTF8);
		else
			buf_append_byte(&b, value[i]);
	}
	char *s = arena_memdup(a, b.data, b.len);
	buf_free(&b);
	return s;
}

bool mime_field_is(const struct mime_field *f, const char *name)
{
	size_t n = strlen(name);
	return f->name_len == n && strncasecmp(f->name, name, n) == 0;
}

/* ------------------------------------------------------------------ */
/* Parameters and RFC 2231                                             */

struct param_list {
	struct mime_param *items;
	unsigned int count, cap;
};

static void param_list_add(struct param_list *l, char *name, char *value)
{
	if (l->count == l->cap) {
		l->cap = l->cap == 0 ? 8 : l->cap * 2;
		l->items = xreallocarray(l->items, l->cap, sizeof(*l->items));
	}
	l->items[l->count++] = (struct mime_param){ name, value };
}

/* A "name*<n>[*]" piece of an RFC 2231 parameter. */
struct section {
	char *key, *value;
	uint32_t idx;
	bool extended;
	size_t seq; /* input order, so sorting is stable */
};

static int section_cmp(const void *a, const void *b)
{
	const struct section *x = a, *y = b;
	int ret = strcmp(x->key, y->key);
	if (ret != 0)
		return ret;
	if (x->idx != y->idx)
		return x->idx < y->idx ? -1 : 1;
	return x->seq < y->seq ? -1 : (x->seq > y->seq ? 1 : 0);
}

/* RFC 2231 3 and 4: sections of one parameter are joined in index order.
   The value is not decoded: like Dovecot we give IMAP clients the
   parameter as "name*" "charset'lang'%XX..." and they decode it. A value
   with a missing section is not joined; its pieces are listed under their
   own names. */
static void join_sections(struct arena *a, struct param_list *out, const struct section *sec,
			  size_t count)
{
	struct buf v = BUF_INIT;
	size_t next;

	for (size_t i = 0; i < count; i = next) {
		bool complete = true, any_extended = false;
		uint32_t want = 0;
		for (next = i; next < count; next++) {
			if (strcasecmp(sec[i].key, sec[next].key) != 0)
				break;
			if (sec[next].idx != want)
				complete = false;
			if (sec[next].extended)
				any_extended = true;
			want++;
		}
		if (!complete) {
			for (size_t j = i; j < next; j++) {
				char *name = arena_alloc(a, strlen(sec[j].key) + 16);
				sprintf(name, sec[j].extended ? "%s*%u*" : "%s*%u", sec[j].key,
					(unsigned int)sec[j].idx);
				param_list_add(out, name, sec[j].value);
			}
			continue;
		}
		buf_clear(&v);
		/* An extended value needs the charset'language' prefix even
		   when its first section is plain. */
		if (!sec[i].extended && any_extended)
			buf_append_str(&v, "''");
		for (size_t j = i; j < next; j++) {
			const char *val = sec[j].value;
			if (sec[j].extended || !any_extended) {
				buf_append_str(&v, val);
				continue;
			}
			for (; *val != '\0'; val++) {
				if (*val == '%')
					buf_append_str(&v, "%25");
				else
					buf_append_byte(&v, (uint8_t)*val);
			}
		}
		char *name = sec[i].key;
		if (any_extended) {
			size_t n = strlen(name);
			char *starred = arena_alloc(a, n + 2);
			memcpy(starred, name, n);
			starred[n] = '*';
			starred[n + 1] = '\0';
			name = starred;
		}
		param_list_add(out, name, arena_cstr(a, &v));
	}
	buf_free(&v);
}

/* Splits "name*<digits>[*]". Returns false when the key is an ordinary
   parameter name. `idx` keeps its value when no index follows the star,
   which is how Dovecot numbers a bare "name*". */
static bool split_section_key(const char *key, size_t *name_len_r, uint32_t *idx, bool *ext_r)
{
	const char *star = strchr(key, '*');
	if (star == NULL)
		return false;
	const char *p = star;
	if (p[1] != '\0') {
		p++;
		*idx = 0;
		for (; *p >= '0' && *p <= '9'; p++)
			*idx = *idx * 10 + (uint32_t)(*p - '0'); /* wraps, as Dovecot's */
	}
	*ext_r = *p == '*';
	if (*ext_r)
		p++;
	if (*p != '\0')
		return false;
	*name_len_r = (size_t)(star - key);
	return true;
}

void mime_parse_params(struct arena *a, struct rfc822_scan *s, struct mime_param **params_r,
		       unsigned int *count_r)
{
	struct param_list out = { 0 };
	struct section *sec = NULL;
	size_t sec_count = 0, sec_cap = 0;
	struct buf key = BUF_INIT, value = BUF_INIT;
	uint32_t idx = 0;
	bool saved_nul = s->nul_to_fffd;
	int ret;

	s->nul_to_fffd = true;
	while ((ret = parse_content_param(s, &key, &value)) != 0) {
		if (ret < 0) {
			/* resynchronise on the next ';' */
			if (s->p >= s->end)
				break;
			s->p++;
			continue;
		}
		char *k = arena_cstr(a, &key);
		size_t name_len;
		bool extended;
		if (!split_section_key(k, &name_len, &idx, &extended)) {
			param_list_add(&out, k, arena_cstr(a, &value));
			continue;
		}
		if (sec_count == sec_cap) {
			sec_cap = sec_cap == 0 ? 8 : sec_cap * 2;
			sec = xreallocarray(sec, sec_cap, sizeof(*sec));
		}
		k[name_len] = '\0';
		sec[sec_count] = (struct section){ k, arena_cstr(a, &value), idx, extended, sec_count };
		sec_count++;
	}
	s->nul_to_fffd = saved_nul;

	if (sec_count > 0) {
		qsort(sec, sec_count, sizeof(*sec), section_cmp);
		join_sections(a, &out, sec, sec_count);
	}
	free(sec);
	buf_free(&key);
	buf_free(&value);

	*count_r = out.count;
	*params_r = NULL;
	if (out.count > 0) {
		*params_r = arena_alloc(a, out.count * sizeof(*out.items));
		memcpy(*params_r, out.items, out.count * sizeof(*out.items));
	}
	free(out.items);
}

const char *mime_param_get(const struct mime_param *params, unsigned int count, const char *name)
{
	for (unsigned int i = 0; i < count; i++)
		if (strcasecmp(params[i].name, name) == 0)
			return params[i].value;
	return NULL;
}

/* ------------------------------------------------------------------ */
/* Content-* fields                                                    */

bool mime_content_type_peek(const uint8_t *value, size_t len, struct buf *type_r)
{
	struct rfc822_scan s;
	rfc822_scan_init(&s, value, len);
	rfc822_skip_lwsp(&s);
	buf_clear(type_r);
	return parse_content_type(&s, type_r) >= 0;
}

char *mime_content_boundary(struct arena *a, const uint8_t *value, size_t len)
{
	struct rfc822_scan s;
	struct buf type = BUF_INIT;
	struct mime_param *params;
	unsigned int count;
	char *boundary = NULL;

	rfc822_scan_init(&s, value, len);
	rfc822_skip_lwsp(&s);
	if (parse_content_type(&s, &type) >= 0) {
		mime_parse_params(a, &s, &params, &count);
		const char *b = mime_param_get(params, count, "boundary");
		/* RFC 2046 5.1.1: a boundary has at least one character; an
		   empty one would make every "--" line a boundary (as it
		   does in Dovecot). */
		if (b != NULL && (b[0] != '\0' || PETREL_MIME_DOVECOT_QUIRKS))
			boundary = arena_memdup(a, b, strnlen(b, MIME_BOUNDARY_MAX));
	}
	buf_free(&type);
	return boundary;
}

static void apply_content_type(struct arena *a, struct mime_content *c, const struct mime_field *f)
{
	struct rfc822_scan s;
	struct buf str = BUF_INIT;

	c->type_seen = true;
	rfc822_scan_init(&s, f->value, f->value_len);
	rfc822_skip_lwsp(&s);
	int ret = parse_content_type(&s, &str);
	if (ret < 0 && !PETREL_MIME_DOVECOT_QUIRKS) {
		/* RFC 2045 5.2: a syntactically invalid Content-Type gets
		   the default, text/plain; charset=us-ascii. (Dovecot shows
		   what it could parse: "" "" or "text" "".) */
		buf_free(&str);
		return;
	}
	const char *full = buf_cstr(&str);
	const char *slash = strchr(full, '/');
	size_t type_len = slash != NULL ? (size_t)(slash - full) : strlen(full);
	c->type = arena_memdup(a, full, type_len);
	c->subtype = slash != NULL ? arena_memdup(a, slash + 1, strlen(slash + 1))
				   : arena_memdup(a, "", 0);
	/* A broken Content-Type still says what it can; only its
	   parameters are not trusted. */
	if (ret >= 0)
		mime_parse_params(a, &s, &c->params, &c->param_count);
	buf_free(&str);
}

static void apply_transfer_encoding(struct arena *a, struct mime_content *c,
				    const struct mime_field *f)
{
	struct rfc822_scan s;
	struct buf str = BUF_INIT;

	rfc822_scan_init(&s, f->value, f->value_len);
	rfc822_skip_lwsp(&s);
	/* a single token and nothing after it, or the field is ignored */
	if (rfc822_parse_mime_token(&s, &str) >= 0 && rfc822_skip_lwsp(&s) == 0 && str.len > 0)
		c->transfer_encoding = arena_cstr(a, &str);
	buf_free(&str);
}

static void apply_disposition(struct arena *a, struct mime_content *c, const struct mime_field *f)
{
	struct rfc822_scan s;
	struct buf str = BUF_INIT;

	rfc822_scan_init(&s, f->value, f->value_len);
	rfc822_skip_lwsp(&s);
	if (rfc822_parse_mime_token(&s, &str) >= 0) {
		c->disposition = arena_cstr(a, &str);
		mime_parse_params(a, &s, &c->disposition_params, &c->disposition_param_count);
	}
	buf_free(&str);
}

static void apply_language(struct arena *a, struct mime_content *c, const struct mime_field *f)
{
	struct rfc822_scan s;
	struct buf str = BUF_INIT;
	char **langs = NULL;
	unsigned int count = 0, cap = 0;

	/* RFC 3282: 1#Language-tag; a tag is an atom for our purposes */
	rfc822_scan_init(&s, f->value, f->value_len);
	rfc822_skip_lwsp(&s);
	while (rfc822_parse_atom(&s, &str) >= 0) {
		if (count == cap) {
			cap = cap == 0 ? 4 : cap * 2;
			langs = xreallocarray(langs, cap, sizeof(*langs));
		}
		langs[count++] = arena_cstr(a, &str);
		buf_clear(&str);
		if (s.p >= s.end || *s.p != ',')
			break;
		s.p++;
		rfc822_skip_lwsp(&s);
	}
	if (count > 0) {
		c->languages = arena_alloc(a, count * sizeof(*langs));
		memcpy(c->languages, langs, count * sizeof(*langs));
		c->language_count = count;
	}
	free(langs);
	buf_free(&str);
}

void mime_content_apply(struct arena *a, struct mime_content *c, const struct mime_field *f)
{
	if (f->name_len < 8 || strncasecmp(f->name, "Content-", 8) != 0)
		return;
	struct mime_field rest = *f;
	rest.name += 8;
	rest.name_len -= 8;

	/* The first field of each kind counts (RFC 2045 allows only one).
	   Content-Disposition is the exception Dovecot makes: one without
	   parameters gives way to a later one. */
	if (mime_field_is(&rest, "Type")) {
		if (!c->type_seen)
			apply_content_type(a, c, f);
	} else if (mime_field_is(&rest, "Transfer-Encoding")) {
		if (c->transfer_encoding == NULL)
			apply_transfer_encoding(a, c, f);
	} else if (mime_field_is(&rest, "ID")) {
		if (c->id == NULL)
			c->id = mime_value_dup(a, f->value, f->value_len);
	} else if (mime_field_is(&rest, "Description")) {
		if (c->description == NULL)
			c->description = mime_value_dup(a, f->value, f->value_len);
	} else if (mime_field_is(&rest, "MD5")) {
		if (c->md5 == NULL)
			c->md5 = mime_value_dup(a, f->value, f->value_len);
	} else if (mime_field_is(&rest, "Location")) {
		if (c->location == NULL)
			c->location = mime_value_dup(a, f->value, f->value_len);
	} else if (mime_field_is(&rest, "Language")) {
		if (c->languages == NULL)
			apply_language(a, c, f);
	} else if (mime_field_is(&rest, "Disposition")) {
		if (c->disposition_param_count == 0)
			apply_disposition(a, c, f);
	}
}

/* RFC 2231 4: "charset'language'percent-encoded" to UTF-8. */
static void decode_extended_value(struct buf *out, const char *value)
{
	const char *q1 = strchr(value, '\'');
	const char *q2 = q1 != NULL ? strchr(q1 + 1, '\'') : NULL;
	char charset[64] = "";
	if (q2 != NULL && (size_t)(q1 - value) < sizeof(charset)) {
		memcpy(charset, value, (size_t)(q1 - value));
		charset[q1 - value] = '\0';
		value = q2 + 1;
	}
	struct buf bytes = BUF_INIT;
	for (const char *p = value; *p != '\0'; p++) {
		int hi, lo;
		if (*p == '%' && (hi = hex_digit_value(p[1])) >= 0 && (lo = hex_digit_value(p[2])) >= 0) {
			buf_append_byte(&bytes, (uint8_t)(hi * 16 + lo));
			p += 2;
		} else {
			buf_append_byte(&bytes, (uint8_t)*p);
		}
	}
	struct mime_conv *c = mime_conv_create(charset);
	mime_conv_feed(c, bytes.data != NULL ? bytes.data : (const uint8_t *)"", bytes.len, out);
	mime_conv_finish(c, out);
	mime_conv_destroy(&c);
	buf_free(&bytes);
}

char *mime_param_decoded(const struct mime_param *params, unsigned int count, const char *name)
{
	char starred[64];
	snprintf(starred, sizeof(starred), "%s*", name);
	const char *ext = mime_param_get(params, count, starred);
	if (ext != NULL) {
		struct buf out = BUF_INIT;
		decode_extended_value(&out, ext);
		char *r = span_strdup(buf_span(&out));
		buf_free(&out);
		return r;
	}
	const char *plain = mime_param_get(params, count, name);
	/* Non-standard but common: RFC 2047 words inside a parameter. */
	return plain != NULL ? mime_decode_header(plain, strlen(plain)) : NULL;
}

char *mime_decode_param_field(const uint8_t *value, size_t len)
{
	struct buf out = BUF_INIT;
	struct arena a;
	struct rfc822_scan s;
	struct mime_param *params;
	unsigned int count;

	/* the type or disposition: everything before the first ';' (neither
	   can hold quoted strings) */
	const uint8_t *semi = memchr(value, ';', len);
	size_t main_len = semi != NULL ? (size_t)(semi - value) : len;
	char *main_part = mime_decode_header((const char *)value, main_len);
	size_t n = strlen(main_part);
	while (n > 0 && (main_part[n - 1] == ' ' || main_part[n - 1] == '\t'))
		n--;
	buf_append(&out, main_part, n);
	free(main_part);

	arena_init(&a, 1024);
	rfc822_scan_init(&s, value + main_len, len - main_len);
	mime_parse_params(&a, &s, &params, &count);
	for (unsigned int i = 0; i < count; i++) {
		size_t name_len = strlen(params[i].name);
		bool extended = name_len > 0 && params[i].name[name_len - 1] == '*';
		buf_append_str(&out, "; ");
		mime_utf8_append_lenient(&out, (const uint8_t *)params[i].name,
					 extended ? name_len - 1 : name_len);
		buf_append_byte(&out, '=');
		if (extended) {
			decode_extended_value(&out, params[i].value);
		} else {
			char *v = mime_decode_header(params[i].value, strlen(params[i].value));
			buf_append_str(&out, v);
			free(v);
		}
	}
	arena_free(&a);
	char *result = xstrndup(buf_cstr(&out), out.len);
	buf_free(&out);
	return result;
}

/* ------------------------------------------------------------------ */
/* Dates (RFC 5322 3.3 and the obsolete forms of 4.3)                  */

struct date_scan {
	const char *p, *end;
};

static void date_skip_cfws(struct date_scan *d)
{
	while (d->p < d->end) {
		if (*d->p == ' ' || *d->p == '\t' || *d->p == '\r' || *d->p == '\n') {
			d->p++;
		} else if (*d->p == '(') {
			int level = 0;
			for (; d->p < d->end; d->p++) {
				if (*d->p == '\\' && d->p + 1 < d->end)
					d->p++;
				else if (*d->p == '(')
					level++;
				else if (*d->p == ')' && --level == 0)
					break;
			}
			if (d->p < d->end)
				d->p++;
		} else {
			break;
		}
	}
}

/* Reads 1..max_digits digits; returns the count read (0 if none). */
static int date_number(struct date_scan *d, int max_digits, int *value_r)
{
	int n = 0, v = 0;
	while (d->p < d->end && n < max_digits && *d->p >= '0' && *d->p <= '9') {
		v = v * 10 + (*d->p - '0');
		d->p++;
		n++;
	}
	*value_r = v;
	return n;
}

static size_t date_word(struct date_scan *d, char *out, size_t out_size)
{
	size_t n = 0;
	while (d->p < d->end && ((*d->p | 0x20) >= 'a' && (*d->p | 0x20) <= 'z')) {
		if (n + 1 < out_size)
			out[n] = *d->p;
		n++;
		d->p++;
	}
	out[n < out_size ? n : out_size - 1] = '\0';
	return n;
}

static int month_number(const char *word)
{
	static const char names[12][4] = { "jan", "feb", "mar", "apr", "may", "jun",
					   "jul", "aug", "sep", "oct", "nov", "dec" };
	if (strlen(word) < 3)
		return -1;
	for (int i = 0; i < 12; i++)
		if (strncasecmp(word, names[i], 3) == 0)
			return i + 1;
	return -1;
}

/* Offset in minutes of the obsolete zone names (RFC 5322 4.3). Military
   letters and unknown names mean "-0000": no information, taken as UTC. */
static int zone_name_offset(const char *word)
{
	static const struct {
		const char *name;
		int minutes;
	} zones[] = {
		{ "UT", 0 },	     { "GMT", 0 },	  { "EST", -5 * 60 }, { "EDT", -4 * 60 },
		{ "CST", -6 * 60 },  { "CDT", -5 * 60 }, { "MST", -7 * 60 }, { "MDT", -6 * 60 },
		{ "PST", -8 * 60 },  { "PDT", -7 * 60 },
	};
	for (size_t i = 0; i < sizeof(zones) / sizeof(zones[0]); i++)
		if (strcasecmp(word, zones[i].name) == 0)
			return zones[i].minutes;
	return 0;
}

static bool is_leap(int y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int days_in_month(int y, int m)
{
	static const int days[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	return m == 2 && is_leap(y) ? 29 : days[m - 1];
}

/* Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar. */
static int64_t days_from_epoch(int y, int m, int d)
{
	/* count years from March so February's leap day is last */
	int64_t yy = m <= 2 ? y - 1 : y;
	int64_t era = (yy >= 0 ? yy : yy - 399) / 400;
	int64_t yoe = yy - era * 400;
	int64_t mp = m > 2 ? m - 3 : m + 9;
	int64_t doy = (153 * mp + 2) / 5 + d - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

int mime_parse_date(const char *value, int64_t *time_r, int *zone_minutes_r)
{
	struct date_scan d = { value, value + strlen(value) };
	char word[16];
	int day, month, year, hour, min, sec = 0, zone = 0, n;

	date_skip_cfws(&d);
	/* optional day-of-week, with or without its comma */
	if (d.p < d.end && !(*d.p >= '0' && *d.p <= '9')) {
		if (date_word(&d, word, sizeof(word)) == 0)
			return -1;
		date_skip_cfws(&d);
		if (d.p < d.end && *d.p == ',')
			d.p++;
		date_skip_cfws(&d);
	}
	if (date_number(&d, 2, &day) == 0)
		return -1;
	date_skip_cfws(&d);
	if (date_word(&d, word, sizeof(word)) == 0 || (month = month_number(word)) < 0)
		return -1;
	date_skip_cfws(&d);
	if ((n = date_number(&d, 4, &year)) < 2)
		return -1;
	/* RFC 5322 4.3: two-digit years 00-49 are 2000-2049, 50-99 and
	   three-digit years count from 1900 */
	if (n == 2)
		year += year < 50 ? 2000 : 1900;
	else if (n == 3)
		year += 1900;
	date_skip_cfws(&d);
	if (date_number(&d, 2, &hour) == 0)
		return -1;
	date_skip_cfws(&d);
	if (d.p >= d.end || *d.p != ':')
		return -1;
	d.p++;
	date_skip_cfws(&d);
	if (date_number(&d, 2, &min) == 0)
		return -1;
	date_skip_cfws(&d);
	if (d.p < d.end && *d.p == ':') {
		d.p++;
		date_skip_cfws(&d);
		if (date_number(&d, 2, &sec) == 0)
			return -1;
		date_skip_cfws(&d);
	}
	if (d.p < d.end && (*d.p == '+' || *d.p == '-')) {
		int sign = *d.p == '-' ? -1 : 1, hhmm;
		d.p++;
		if (date_number(&d, 4, &hhmm) != 4 || hhmm % 100 > 59)
			return -1;
		zone = sign * ((hhmm / 100) * 60 + hhmm % 100);
	} else if (date_word(&d, word, sizeof(word)) > 0) {
		zone = zone_name_offset(word);
	}
	/* A missing zone is taken as UTC: better than no date for SORT. */

	if (year < 1000 || year > 9999 || day < 1 || day > days_in_month(year, month) ||
	    hour > 23 || min > 59 || sec > 60)
		return -1;
	int64_t t = days_from_epoch(year, month, day) * 86400 + hour * 3600 + min * 60 + sec;
	*time_r = t - (int64_t)zone * 60;
	*zone_minutes_r = zone;
	return 0;
}

/* ------------------------------------------------------------------ */
/* RFC 5256 2.1 base subject                                           */

static bool starts_ci(const char *s, size_t len, const char *prefix)
{
	size_t n = strlen(prefix);
	return len >= n && strncasecmp(s, prefix, n) == 0;
}

/* Length of a subj-blob ("[" *BLOBCHAR "]" *WSP) at s, or 0. */
static size_t blob_len(const char *s, size_t len)
{
	if (len == 0 || s[0] != '[')
		return 0;
	size_t i = 1;
	while (i < len && s[i] != '[' && s[i] != ']')
		i++;
	if (i >= len || s[i] != ']')
		return 0;
	i++;
	while (i < len && s[i] == ' ')
		i++;
	return i;
}

/* Length of a subj-refwd ("re" / "fw" ["d"]) *WSP [subj-blob] ":"), or 0. */
static size_t refwd_len(const char *s, size_t len)
{
	size_t i;
	if (starts_ci(s, len, "re"))
		i = 2;
	else if (starts_ci(s, len, "fwd"))
		i = 3;
	else if (starts_ci(s, len, "fw"))
		i = 2;
	else
		return 0;
	while (i < len && s[i] == ' ')
		i++;
	i += blob_len(s + i, len - i);
	if (i < len && s[i] == ':')
		return i + 1;
	return 0;
}

/* Step 3: a subj-leader ((*subj-blob subj-refwd) / WSP) at s, or 0. */
static size_t leader_len(const char *s, size_t len)
{
	if (len > 0 && s[0] == ' ')
		return 1;
	size_t i = 0, b;
	while ((b = blob_len(s + i, len - i)) > 0)
		i += b;
	size_t r = refwd_len(s + i, len - i);
	return r > 0 ? i + r : 0;
}

char *mime_base_subject(const char *subject)
{
	/* Step 1: whitespace (tabs, folding) to single spaces. */
	size_t n = strlen(subject), len = 0;
	char *s = xmalloc(n + 1);
	for (size_t i = 0; i < n; i++) {
		char c = subject[i];
		if (c == '\t' || c == '\r' || c == '\n')
			c = ' ';
		if (c == ' ' && len > 0 && s[len - 1] == ' ')
			continue;
		s[len++] = c;
	}

	size_t start = 0;
	for (;;) {
		/* Step 2: trailing "(fwd)" and whitespace. */
		for (;;) {
			if (len > start && s[len - 1] == ' ')
				len--;
			else if (len - start >= 5 && strncasecmp(s + len - 5, "(fwd)", 5) == 0)
				len -= 5;
			else
				break;
		}
		/* Steps 3-5: leaders and leading blobs until neither goes; a
		   blob stays when nothing would be left after it. */
		for (;;) {
			size_t l = leader_len(s + start, len - start);
			size_t b = l > 0 ? 0 : blob_len(s + start, len - start);
			if (l > 0)
				start += l;
			else if (b > 0 && start + b < len)
				start += b;
			else
				break;
		}
		/* Step 6: "[fwd:" ... "]" around the rest: unwrap, repeat. */
		if (len - start >= 6 && starts_ci(s + start, len - start, "[fwd:") &&
		    s[len - 1] == ']') {
			start += 5;
			len--;
			continue;
		}
		break;
	}
	memmove(s, s + start, len - start);
	s[len - start] = '\0';
	return s;
}
