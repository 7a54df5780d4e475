#include "lmtpd/smtp_address.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "common/utf8.h"
#include "common/xalloc.h"

void smtp_path_free(struct smtp_path *path)
{
	free(path->address);
	free(path->local);
	free(path->domain);
	memset(path, 0, sizeof(*path));
}

/* RFC 5322 atext, plus any non-ASCII byte when UTF-8 is allowed (validated
   as a whole afterwards). */
static bool is_atext(uint8_t c, bool utf8)
{
	if (c >= 0x80)
		return utf8;
	return isalnum(c) || (c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL);
}

/* Parses a Domain (sub-domain *("." sub-domain)) or an address literal
   "[...]" at p; returns the end, or NULL. */
static const uint8_t *parse_domain(const uint8_t *p, const uint8_t *end, bool utf8)
{
	if (p < end && *p == '[') {
		const uint8_t *q = p + 1;
		while (q < end && *q != ']' && *q != '[' && *q != '\\' && *q > ' ' && *q < 0x7f)
			q++;
		if (q >= end || *q != ']' || q == p + 1)
			return NULL;
		return q + 1;
	}
	const uint8_t *label = p;
	for (;;) {
		const uint8_t *q = label;
		while (q < end && (isalnum(*q) || *q == '-' || (utf8 && *q >= 0x80)))
			q++;
		if (q == label || *label == '-' || q[-1] == '-')
			return NULL;
		if (q < end && *q == '.') {
			label = q + 1;
			continue;
		}
		return q;
	}
}

int smtp_path_parse(struct span *args, bool allow_null, bool utf8, struct smtp_path *path_r,
		    const char **error_r)
{
	memset(path_r, 0, sizeof(*path_r));
	const uint8_t *p = args->ptr, *end = args->ptr + args->len;
	/* Some MTAs write "FROM: <a@b>"; nothing else may come first. */
	while (p < end && *p == ' ')
		p++;
	if (p >= end || *p != '<') {
		*error_r = "Path must be enclosed in <>";
		return -1;
	}
	p++;
	if (p < end && *p == '>') {
		if (!allow_null) {
			*error_r = "Null path not allowed here";
			return -1;
		}
		p++;
		path_r->address = xstrdup("");
		goto params;
	}
	/* Source route "@a,@b:" (RFC 5321 4.1.2, obsolete): parse, ignore. */
	if (p < end && *p == '@') {
		while (p < end && *p == '@') {
			const uint8_t *q = parse_domain(p + 1, end, utf8);
			if (q == NULL) {
				*error_r = "Invalid source route";
				return -1;
			}
			p = q;
			if (p < end && *p == ',')
				p++;
		}
		if (p >= end || *p != ':') {
			*error_r = "Invalid source route";
			return -1;
		}
		p++;
	}

	struct buf local = BUF_INIT;
	const uint8_t *local_start = p;
	if (p < end && *p == '"') {
		p++;
		for (;;) {
			if (p >= end) {
				*error_r = "Unterminated quoted local part";
				goto fail;
			}
			if (*p == '"')
				break;
			if (*p == '\\') {
				if (p + 1 >= end || p[1] < ' ' || p[1] == 0x7f) {
					*error_r = "Invalid quoted local part";
					goto fail;
				}
				p++;
			} else if (*p < ' ' || *p == 0x7f || (*p >= 0x80 && !utf8)) {
				*error_r = "Invalid character in local part";
				goto fail;
			}
			buf_append_byte(&local, *p);
			p++;
		}
		p++;
	} else {
		/* Dot-string: atoms separated by single dots. */
		for (;;) {
			const uint8_t *atom = p;
			while (p < end && is_atext(*p, utf8))
				p++;
			if (p == atom) {
				*error_r = "Invalid local part";
				goto fail;
			}
			buf_append(&local, atom, (size_t)(p - atom));
			if (p < end && *p == '.') {
				buf_append_byte(&local, '.');
				p++;
				continue;
			}
			break;
		}
	}
	const uint8_t *local_end = p;
	if (p >= end || *p != '@') {
		*error_r = "Address must have a domain";
		goto fail;
	}
	p++;
	const uint8_t *dom = p;
	p = parse_domain(p, end, utf8);
	if (p == NULL) {
		*error_r = "Invalid domain";
		goto fail;
	}
	const uint8_t *dom_end = p;
	if (p >= end || *p != '>') {
		*error_r = "Invalid character in address";
		goto fail;
	}
	p++;
	if (local.len > SMTP_MAX_LOCAL || (size_t)(dom_end - dom) > SMTP_MAX_DOMAIN ||
	    (size_t)(dom_end - local_start) > SMTP_MAX_PATH) {
		*error_r = "Address too long";
		goto fail;
	}
	/* An empty quoted local part ("") leaves the buffer unallocated. */
	if ((local.len > 0 && (memchr(local.data, '\0', local.len) != NULL ||
			       !utf8_valid(local.data, local.len))) ||
	    !utf8_valid(dom, (size_t)(dom_end - dom))) {
		*error_r = "Address is not valid UTF-8";
		goto fail;
	}
	path_r->local = span_strdup(buf_span(&local));
	buf_free(&local);
	path_r->domain = xstrndup((const char *)dom, (size_t)(dom_end - dom));
	for (char *c = path_r->domain; *c; c++)
		*c = (char)tolower((unsigned char)*c);
	path_r->address = xasprintf("%.*s@%s", (int)(local_end - local_start),
				    (const char *)local_start, path_r->domain);
params:
	if (p < end && *p != ' ') {
		*error_r = "Parameters must be separated by a space";
		smtp_path_free(path_r);
		return -1;
	}
	while (p < end && *p == ' ')
		p++;
	*args = span_make(p, (size_t)(end - p));
	return 0;
fail:
	buf_free(&local);
	smtp_path_free(path_r);
	return -1;
}

int smtp_param_next(struct span *args, struct span *key_r, struct span *value_r)
{
	const uint8_t *p = args->ptr, *end = args->ptr + args->len;
	while (p < end && *p == ' ')
		p++;
	if (p >= end) {
		*args = span_make(p, 0);
		return 0;
	}
	const uint8_t *key = p;
	while (p < end && (isalnum(*p) || *p == '-'))
		p++;
	if (p == key || !isalnum(*key))
		return -1;
	*key_r = span_make(key, (size_t)(p - key));
	*value_r = span_make(p, 0);
	if (p < end && *p == '=') {
		const uint8_t *v = ++p;
		/* esmtp-value: any printable except "=" and space (RFC 5321), and
		   UTF-8 under SMTPUTF8 (RFC 6531). */
		while (p < end && *p != ' ' && *p != '=' && (*p > ' ' && *p != 0x7f))
			p++;
		if (p == v || (p < end && *p != ' '))
			return -1;
		*value_r = span_make(v, (size_t)(p - v));
	} else if (p < end && *p != ' ') {
		return -1;
	}
	*args = span_make(p, (size_t)(end - p));
	return 1;
}

/* RFC 3461 xtext: "+" and two uppercase hex digits. */
static int hexval(uint8_t c)
{
	return c >= 'a' && c <= 'f' ? -1 : hex_digit_value(c);
}

char *smtp_xtext_decode(struct span value)
{
	struct buf out = BUF_INIT;
	for (size_t i = 0; i < value.len; i++) {
		uint8_t c = value.ptr[i];
		if (c == '+') {
			if (value.len - i < 3) {
				buf_free(&out);
				return NULL;
			}
			int hi = hexval(value.ptr[i + 1]), lo = hexval(value.ptr[i + 2]);
			if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
				buf_free(&out);
				return NULL;
			}
			buf_append_byte(&out, (uint8_t)(hi * 16 + lo));
			i += 2;
		} else if (c < '!' || c > '~' || c == '=') {
			buf_free(&out);
			return NULL;
		} else {
			buf_append_byte(&out, c);
		}
	}
	char *s = span_strdup(buf_span(&out));
	buf_free(&out);
	return s;
}
