/*
 * SPF macros (RFC 7208 section 7): syntax check and expansion.
 *
 * A macro is "%{" letter [digits] ["r"] *delimiter "}", or one of the
 * escapes %% %_ %-. The value named by the letter is split at the
 * delimiters (default "."), optionally reversed, cut to its rightmost
 * parts, and joined again with dots. All of it works in one pass over the
 * value without allocating, so hostile records cost linear time.
 */
#include "mailauth/spf_internal.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/xalloc.h"

/* Transformer digits beyond this keep every part anyway (a value has at
 * most SPF_EXPAND_MAX parts worth keeping). */
#define DIGITS_CAP 100000u

static const char delimiter_chars[] = ".-+,/_=";

static bool is_alpha(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z');
}

static bool is_digit(char ch)
{
	return ch >= '0' && ch <= '9';
}

static char lower(char ch)
{
	return (ch >= 'A' && ch <= 'Z') ? (char)(ch + 32) : ch;
}

/* Bit i set: delimiter_chars[i] is a delimiter. */
static unsigned delimiter_bit(char ch)
{
	const char *p = ch != '\0' ? strchr(delimiter_chars, ch) : NULL;
	return p != NULL ? 1u << (p - delimiter_chars) : 0;
}

static bool is_delimiter(unsigned mask, char ch)
{
	return (delimiter_bit(ch) & mask) != 0;
}

/* toplabel = ( *alphanum ALPHA *alphanum ) /
 *            ( 1*alphanum "-" *( alphanum / "-" ) alphanum )
 * that is: letters, digits and hyphens, no hyphen first or last, and not
 * all digits (so an IP address is never taken for a host name). */
static bool is_toplabel(const char *s, size_t len)
{
	bool letter = false, hyphen = false;
	if (len == 0 || s[0] == '-' || s[len - 1] == '-')
		return false;
	for (size_t i = 0; i < len; i++) {
		if (is_alpha(s[i]))
			letter = true;
		else if (s[i] == '-')
			hyphen = true;
		else if (!is_digit(s[i]))
			return false;
	}
	return letter || hyphen;
}

struct macro {
	char letter;	/* as written: uppercase asks for URL escaping */
	unsigned keep;	/* rightmost parts to keep; 0 = all */
	bool reverse;
	unsigned delimiters; /* bit mask over delimiter_chars */
};

/* Parses the macro starting at s[i] == '%'. On success *next is the index
 * after it and *m describes a %{...} macro (m->letter is '%', '_' or '-'
 * for the escapes). */
static int parse_macro(const char *s, size_t len, size_t i, enum spf_macro_kind kind,
		       struct macro *m, size_t *next, const char **error_r)
{
	memset(m, 0, sizeof(*m));
	if (i + 1 >= len) {
		*error_r = "'%' at the end of a macro-string";
		return -1;
	}
	char c1 = s[i + 1];
	if (c1 == '%' || c1 == '_' || c1 == '-') {
		m->letter = c1;
		*next = i + 2;
		return 0;
	}
	if (c1 != '{') {
		*error_r = "'%' not followed by '{', '%', '_' or '-'";
		return -1;
	}
	size_t j = i + 2;
	if (j >= len || strchr("slodiphcrtv", lower(s[j])) == NULL || s[j] == '\0') {
		*error_r = "unknown macro letter";
		return -1;
	}
	m->letter = s[j++];
	if (kind != SPF_MACRO_EXPLAIN && strchr("crt", lower(m->letter)) != NULL) {
		*error_r = "macros c, r and t are allowed in exp text only";
		return -1;
	}
	if (j < len && is_digit(s[j])) {
		unsigned n = 0;
		while (j < len && is_digit(s[j])) {
			/* Saturating: "%{d99999999999}" keeps every part. */
			n = n > DIGITS_CAP ? n : n * 10 + (unsigned)(s[j] - '0');
			j++;
		}
		if (n == 0) {
			*error_r = "macro transformer digits of 0";
			return -1;
		}
		m->keep = n;
	}
	if (j < len && lower(s[j]) == 'r') {
		m->reverse = true;
		j++;
	}
	while (j < len && delimiter_bit(s[j]) != 0)
		m->delimiters |= delimiter_bit(s[j++]);
	if (j >= len || s[j] != '}') {
		*error_r = "malformed macro";
		return -1;
	}
	if (m->delimiters == 0)
		m->delimiters = delimiter_bit('.');
	*next = j + 1;
	return 0;
}

int spf_macro_check(const char *s, size_t len, enum spf_macro_kind kind, const char **error_r)
{
	size_t macro_end = 0; /* just after the last macro */
	size_t i = 0;

	while (i < len) {
		char ch = s[i];
		if (ch == '%') {
			struct macro m;
			if (parse_macro(s, len, i, kind, &m, &i, error_r) < 0)
				return -1;
			macro_end = i;
		} else if (ch == ' ' && kind == SPF_MACRO_EXPLAIN) {
			i++;
		} else if ((unsigned char)ch < 0x21 || (unsigned char)ch > 0x7e) {
			*error_r = "character not allowed in a macro-string";
			return -1;
		} else {
			i++;
		}
	}
	if (kind != SPF_MACRO_DOMAIN)
		return 0;

	/* domain-end = ( "." toplabel [ "." ] ) / macro-expand */
	if (len == 0) {
		*error_r = "empty domain-spec";
		return -1;
	}
	if (macro_end == len)
		return 0;
	size_t end = len;
	if (s[end - 1] == '.')
		end--;
	size_t start = end;
	while (start > macro_end && s[start - 1] != '.')
		start--;
	if (start == macro_end || !is_toplabel(s + start, end - start)) {
		*error_r = "domain-spec does not end in a valid top label";
		return -1;
	}
	return 0;
}

bool spf_macro_uses_p(const char *s, size_t len)
{
	for (size_t i = 0; i + 2 < len; i++)
		if (s[i] == '%' && s[i + 1] == '{' && lower(s[i + 2]) == 'p')
			return true;
		else if (s[i] == '%')
			i++; /* skip the escaped character of "%%" */
	return false;
}

static const char *format_address(const struct spf_macro_vars *v, char tmp[80])
{
	if (inet_ntop(v->ip_family == 6 ? AF_INET6 : AF_INET, v->ip, tmp, 80) == NULL)
		tmp[0] = '\0';
	return tmp;
}

/* The value of a macro letter; small values are formatted into tmp. */
static const char *macro_value(const struct spf_macro_vars *v, char letter, char tmp[80])
{
	switch (lower(letter)) {
	case 's':
		return v->s ? v->s : "";
	case 'l':
		return v->l ? v->l : "";
	case 'o':
		return v->o ? v->o : "";
	case 'd':
		return v->d ? v->d : "";
	case 'h':
		return v->h ? v->h : "";
	case 'r':
		return v->r ? v->r : "unknown";
	case 'p':
		return v->p ? v->p : "unknown";
	case 'v':
		return v->ip_family == 6 ? "ip6" : "in-addr";
	case 't':
		snprintf(tmp, 80, "%lld", v->t);
		return tmp;
	case 'i':
		if (v->ip_family == 6) {
			/* RFC 7208 7.3: dot-format nibbles, lowercase (7.4). */
			static const char hex[] = "0123456789abcdef";
			char *p = tmp;
			for (int k = 0; k < 16; k++) {
				*p++ = hex[v->ip[k] >> 4];
				*p++ = '.';
				*p++ = hex[v->ip[k] & 15];
				*p++ = '.';
			}
			p[-1] = '\0';
			return tmp;
		}
		return format_address(v, tmp); /* IPv4: i and c are the same */
	case 'c':
		return format_address(v, tmp);
	}
	return "";
}

/* Appends value split at m's delimiters, maybe reversed, cut to the
 * rightmost m->keep parts, joined with ".". */
static int append_parts(struct buf *out, const char *value, size_t vlen, const struct macro *m)
{
	unsigned mask = m->delimiters;
	int rc = 0;

	if (!m->reverse) {
		size_t start = 0, seen = 0;
		if (m->keep != 0)
			for (size_t i = vlen; i > 0; i--)
				if (is_delimiter(mask, value[i - 1]) && ++seen == m->keep) {
					start = i;
					break;
				}
		for (size_t i = start; i < vlen && rc == 0; i++)
			rc = buf_append_byte(out, is_delimiter(mask, value[i]) ? '.' : (uint8_t)value[i]);
		return rc;
	}

	/* Reversed, the rightmost N parts are the first N parts of the value,
	 * last one first. */
	size_t end = vlen, seen = 0;
	if (m->keep != 0)
		for (size_t i = 0; i < vlen; i++)
			if (is_delimiter(mask, value[i]) && ++seen == m->keep) {
				end = i;
				break;
			}
	size_t stop = end;
	for (;;) {
		size_t b = stop;
		while (b > 0 && !is_delimiter(mask, value[b - 1]))
			b--;
		if (buf_append(out, value + b, stop - b) < 0)
			return -1;
		if (b == 0)
			return 0;
		if (buf_append_byte(out, '.') < 0)
			return -1;
		stop = b - 1;
	}
}

static bool is_unreserved(unsigned char ch)
{
	return is_alpha((char)ch) || is_digit((char)ch) || ch == '-' || ch == '.' || ch == '_' ||
	       ch == '~';
}

/* URL-escapes out[from..] in place (RFC 7208 7.3, RFC 3986 2.1). */
static int escape_tail(struct buf *out, size_t from)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = out->len - from;
	if (n == 0)
		return 0;
	char *raw = xmalloc(n);
	memcpy(raw, out->data + from, n);
	out->len = from;
	int rc = 0;
	for (size_t i = 0; i < n && rc == 0; i++) {
		unsigned char ch = (unsigned char)raw[i];
		if (is_unreserved(ch)) {
			rc = buf_append_byte(out, ch);
		} else {
			char esc[3] = {'%', hex[ch >> 4], hex[ch & 15]};
			rc = buf_append(out, esc, 3);
		}
	}
	free(raw);
	return rc;
}

int spf_macro_expand(const struct spf_macro_vars *v, const char *s, size_t len,
		     enum spf_macro_kind kind, struct buf *out, const char **error_r)
{
	if (spf_macro_check(s, len, kind, error_r) < 0)
		return -1;
	/* Make sure out->data exists even when nothing gets appended. */
	if (buf_reserve(out, 0) < 0)
		goto too_long;

	size_t i = 0;
	while (i < len) {
		if (s[i] != '%') {
			size_t j = i;
			while (j < len && s[j] != '%')
				j++;
			if (buf_append(out, s + i, j - i) < 0)
				goto too_long;
			i = j;
			continue;
		}
		struct macro m;
		if (parse_macro(s, len, i, kind, &m, &i, error_r) < 0)
			return -1; /* checked above; kept for safety */
		int rc;
		switch (m.letter) {
		case '%':
			rc = buf_append_byte(out, '%');
			break;
		case '_':
			rc = buf_append_byte(out, ' ');
			break;
		case '-':
			rc = buf_append(out, "%20", 3);
			break;
		default: {
			char tmp[80];
			const char *value = macro_value(v, m.letter, tmp);
			size_t from = out->len;
			rc = append_parts(out, value, strlen(value), &m);
			if (rc == 0 && m.letter >= 'A' && m.letter <= 'Z')
				rc = escape_tail(out, from);
			break;
		}
		}
		if (rc < 0)
			goto too_long;
	}
	return 0;

too_long:
	*error_r = "macro expansion too long";
	return -1;
}
