/*
 * Authentication-Results (RFC 8601): writing our field and recognising
 * incoming fields that carry our authserv-id.
 *
 * Everything we write comes from DNS records, SMTP commands and message
 * headers, so every comment and property value goes through one sanitiser:
 * CR, LF, NUL and other controls never reach the output (no header
 * injection), invalid UTF-8 becomes '?', valid UTF-8 is kept (RFC 8616
 * allows it in SMTPUTF8 mail). Comments are escaped and capped; values
 * that are neither a token nor an address with a dot-atom local part are
 * written as quoted-strings.
 *
 * DKIM results are read only through dkim_verifier_count() and
 * dkim_verifier_signature(), so test binaries can supply a double for
 * those two functions without linking the real verifier.
 */
#include "mailauth/authres.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "common/buf.h"
#include "common/utf8.h"

/* Comment text beyond this many bytes is cut (at a character boundary)
 * and marked with "...". */
#define AUTHRES_MAX_COMMENT 200
/* A property value longer than this cannot be a real address or domain
 * (RFC 5321 4.5.3.1: 64 + 1 + 255); it is left out rather than cut, so
 * what we write is never a wrong value, and no line nears 998 bytes. */
#define AUTHRES_MAX_VALUE 400
/* RFC 5322 2.1.1: lines should stay within 78 characters. */
#define AUTHRES_LINE 78

static bool is_ctl(uint8_t c)
{
	return c < 0x20 || c == 0x7f;
}

/* RFC 2045 tspecials. */
static bool is_tspecial(uint8_t c)
{
	return c != '\0' && strchr("()<>@,;:\\\"/[]?=", c) != NULL;
}

/* RFC 2045 token characters, plus 8-bit bytes (UTF-8, RFC 8616). */
static bool is_token_char(uint8_t c)
{
	return c > 0x20 && c != 0x7f && !is_tspecial(c);
}

/* RFC 5322 atext, plus 8-bit bytes (RFC 6532). */
static bool is_atext(uint8_t c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c >= 0x80 || (c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL);
}

static bool is_let_dig(uint8_t c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c >= 0x80;
}

/*
 * Appends a cleaned copy of at most max bytes of s to out: valid UTF-8
 * kept, bytes that are not valid UTF-8 replaced by '?', ASCII and C1
 * controls dropped. With spaces, tab/CR/LF count as a space and runs of
 * spaces collapse to one, with none at either end. s ends at its NUL or
 * after size bytes (the outcome structs hold fixed arrays; we do not
 * trust every writer to terminate them). Returns true when s was cut.
 */
static bool sanitise(const char *s, size_t size, size_t max, bool spaces, struct buf *out)
{
	const uint8_t *p = (const uint8_t *)s;
	size_t len = strnlen(s, size);
	size_t start = out->len;
	bool cut = false;
	for (size_t i = 0; i < len;) {
		size_t n = utf8_seq_len(p + i, len - i);
		if (i + (n > 0 ? n : 1) > max) {
			cut = true;
			break;
		}
		if (n == 0) {
			buf_append_byte(out, '?');
			i++;
			continue;
		}
		uint8_t c = p[i];
		if (n == 2 && c == 0xc2 && p[i + 1] < 0xa0) {
			i += n; /* C1 control, U+0080..U+009F */
			continue;
		}
		if (spaces && (c == ' ' || c == '\t' || c == '\r' || c == '\n')) {
			if (out->len > start && out->data[out->len - 1] != ' ')
				buf_append_byte(out, ' ');
			i++;
			continue;
		}
		if (n == 1 && is_ctl(c)) {
			i++;
			continue;
		}
		buf_append(out, p + i, n);
		i += n;
	}
	if (spaces && out->len > start && out->data[out->len - 1] == ' ')
		out->data[--out->len] = '\0';
	return cut;
}

/* RFC 5322 dot-atom-text; empty is allowed here (RFC 8601 pvalue lets
 * the local part be absent: "@example.com"). */
static bool is_dot_atom_or_empty(const uint8_t *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '.') {
			if (i == 0 || i + 1 == len || s[i + 1] == '.')
				return false;
		} else if (!is_atext(s[i])) {
			return false;
		}
	}
	return true;
}

/* RFC 6376 domain-name: sub-domain 1*("." sub-domain), sub-domains of
 * letters, digits and inner hyphens (U-labels let through). */
static bool is_domain_name(const uint8_t *s, size_t len)
{
	size_t labels = 0, label = 0;
	for (size_t i = 0; i <= len; i++) {
		if (i == len || s[i] == '.') {
			if (label == 0 || s[i - 1] == '-')
				return false;
			labels++;
			label = 0;
		} else if (is_let_dig(s[i]) || (s[i] == '-' && label > 0)) {
			label++;
		} else {
			return false;
		}
	}
	return labels >= 2;
}

static bool is_token(const uint8_t *s, size_t len)
{
	if (len == 0)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!is_token_char(s[i]))
			return false;
	return true;
}

/* RFC 8601 pvalue without quoting: a token, or [local-part] "@" domain. */
static bool is_bare_pvalue(const uint8_t *s, size_t len)
{
	if (is_token(s, len))
		return true;
	const uint8_t *at = NULL;
	for (size_t i = 0; i < len; i++)
		if (s[i] == '@')
			at = s + i;
	if (at == NULL)
		return false;
	size_t local = (size_t)(at - s);
	return is_dot_atom_or_empty(s, local) && is_domain_name(at + 1, len - local - 1);
}

/* Appends s as a token or pvalue when it is one (as_pvalue chooses), else
 * as a quoted-string. Returns -1 (nothing written) when s is empty or
 * too long once cleaned. */
static int append_value(struct buf *out, const char *s, size_t size, bool as_pvalue)
{
	struct buf clean = BUF_INIT;
	if (sanitise(s, size, AUTHRES_MAX_VALUE, false, &clean) || clean.len == 0) {
		buf_free(&clean);
		return -1;
	}
	if (as_pvalue ? is_bare_pvalue(clean.data, clean.len) : is_token(clean.data, clean.len)) {
		buf_append(out, clean.data, clean.len);
	} else {
		buf_append_byte(out, '"');
		for (size_t i = 0; i < clean.len; i++) {
			if (clean.data[i] == '"' || clean.data[i] == '\\')
				buf_append_byte(out, '\\');
			buf_append_byte(out, clean.data[i]);
		}
		buf_append_byte(out, '"');
	}
	buf_free(&clean);
	return 0;
}

/* The field being written and where its current line starts. */
struct writer {
	struct buf out;
	size_t line_start;
};

static void new_line(struct writer *w)
{
	buf_append_str(&w->out, "\r\n\t");
	w->line_start = w->out.len - 1;
}

/* Adds one element of a resinfo (comment or propspec) after a space, or
 * on a folded line when it would push this line past the limit. One byte
 * is kept for the ';' that may follow. */
static void add_element(struct writer *w, const struct buf *elem)
{
	if (elem->len == 0)
		return;
	size_t used = w->out.len - w->line_start;
	if (used + 1 + elem->len + 1 > AUTHRES_LINE)
		new_line(w);
	else
		buf_append_byte(&w->out, ' ');
	buf_append(&w->out, elem->data, elem->len);
}

static void add_comment(struct writer *w, const char *text, size_t size)
{
	struct buf clean = BUF_INIT, elem = BUF_INIT;
	bool cut = sanitise(text, size, AUTHRES_MAX_COMMENT, true, &clean);
	if (clean.len > 0) {
		buf_append_byte(&elem, '(');
		for (size_t i = 0; i < clean.len; i++) {
			uint8_t c = clean.data[i];
			if (c == '(' || c == ')' || c == '\\')
				buf_append_byte(&elem, '\\');
			buf_append_byte(&elem, c);
		}
		if (cut)
			buf_append_str(&elem, "...");
		buf_append_byte(&elem, ')');
		add_element(w, &elem);
	}
	buf_free(&clean);
	buf_free(&elem);
}

/* "ptype.property=value"; left out when the value is empty or too long. */
static void add_property(struct writer *w, const char *name, const char *value, size_t size)
{
	struct buf elem = BUF_INIT;
	buf_append_str(&elem, name);
	buf_append_byte(&elem, '=');
	if (append_value(&elem, value, size, true) == 0)
		add_element(w, &elem);
	buf_free(&elem);
}

static const char *result_word(enum mailauth_result r)
{
	/* A pending result is a caller bug; never write a word RFC 8601
	 * does not define. */
	return r == MAILAUTH_PENDING ? "temperror" : mailauth_result_name(r);
}

/* Starts a resinfo: "; method=result" on a line of its own. */
static void start_result(struct writer *w, const char *method, enum mailauth_result r)
{
	buf_append_byte(&w->out, ';');
	new_line(w);
	buf_printf(&w->out, "%s=%s", method, result_word(r));
}

static void write_spf(struct writer *w, const struct spf_outcome *spf, const char *client_ip)
{
	start_result(w, "spf", spf->result);
	/* The client address goes in the comment: RFC 8601 has no property
	   for it, and an admin reading the header wants to know. */
	char comment[sizeof(spf->reason) + 80];
	if (client_ip != NULL && client_ip[0] != '\0')
		snprintf(comment, sizeof(comment), "%.64s: %s", client_ip, spf->reason);
	else
		snprintf(comment, sizeof(comment), "%s", spf->reason);
	add_comment(w, comment, sizeof(comment));
	bool helo = spf->identity != NULL && strcmp(spf->identity, "helo") == 0;
	if (helo)
		add_property(w, "smtp.helo", spf->domain, sizeof(spf->domain));
	else if (spf->sender[0] != '\0')
		add_property(w, "smtp.mailfrom", spf->sender, sizeof(spf->sender));
	else
		add_property(w, "smtp.mailfrom", spf->domain, sizeof(spf->domain));
}

static void write_dkim(struct writer *w, const struct dkim_verifier *v)
{
	size_t n = dkim_verifier_count(v);
	if (n == 0) {
		start_result(w, "dkim", MAILAUTH_NONE);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		const struct dkim_signature_result *sig = dkim_verifier_signature(v, i);
		if (sig == NULL)
			continue;
		start_result(w, "dkim", sig->result);
		/* The algorithm, and for anything but a pass, why. */
		char comment[sizeof(sig->algorithm) + sizeof(sig->reason) + 4];
		bool why = sig->result != MAILAUTH_PASS && sig->reason[0] != '\0';
		snprintf(comment, sizeof(comment), "%.*s%s%.*s", (int)sizeof(sig->algorithm),
			 sig->algorithm, why && sig->algorithm[0] != '\0' ? ", " : "",
			 why ? (int)sizeof(sig->reason) : 0, sig->reason);
		add_comment(w, comment, sizeof(comment));
		add_property(w, "header.d", sig->domain, sizeof(sig->domain));
		add_property(w, "header.s", sig->selector, sizeof(sig->selector));
		add_property(w, "header.b", sig->header_b, sizeof(sig->header_b));
	}
}

static void write_dmarc(struct writer *w, const struct dmarc_outcome *d)
{
	start_result(w, "dmarc", d->result);
	if (d->result == MAILAUTH_PASS || d->result == MAILAUTH_FAIL) {
		char comment[64];
		snprintf(comment, sizeof(comment), "p=%s dis=%s", dmarc_policy_name(d->policy),
			 dmarc_policy_name(d->disposition));
		add_comment(w, comment, sizeof(comment));
	} else {
		add_comment(w, d->reason, sizeof(d->reason));
	}
	add_property(w, "header.from", d->header_from, sizeof(d->header_from));
}

char *authres_format(const struct authres_input *in)
{
	struct writer w = { .out = BUF_INIT };
	buf_append_str(&w.out, "Authentication-Results: ");
	const char *id = in->authserv_id != NULL ? in->authserv_id : "";
	if (append_value(&w.out, id, SIZE_MAX, false) < 0)
		buf_append_str(&w.out, "\"\"");
	if (in->spf == NULL && in->dkim == NULL && in->dmarc == NULL) {
		buf_append_str(&w.out, "; none");
		return (char *)w.out.data;
	}
	if (in->spf != NULL)
		write_spf(&w, in->spf, in->client_ip);
	if (in->dkim != NULL)
		write_dkim(&w, in->dkim);
	if (in->dmarc != NULL)
		write_dmarc(&w, in->dmarc);
	return (char *)w.out.data;
}

static char ascii_lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

/* Skips CFWS from i. Comments nest; the depth is a counter, not
 * recursion, so hostile nesting costs nothing but the bytes it is made
 * of. Returns the offset after the CFWS, or len when a comment is never
 * closed. */
static size_t skip_cfws(const char *s, size_t len, size_t i)
{
	size_t depth = 0;
	while (i < len) {
		char c = s[i];
		if (depth == 0) {
			if (c == ' ' || c == '\t' || c == '\r' || c == '\n')
				i++;
			else if (c == '(')
				depth++, i++;
			else
				break;
			continue;
		}
		if (c == '\\') {
			i = len - i > 2 ? i + 2 : len; /* quoted-pair */
			continue;
		}
		if (c == '(')
			depth++;
		else if (c == ')')
			depth--;
		i++;
	}
	return depth > 0 ? len : i;
}

bool authres_claims_id(const char *value, size_t len, const char *id)
{
	if (value == NULL || id == NULL || id[0] == '\0')
		return false;
	size_t idlen = strlen(id);
	size_t i = skip_cfws(value, len, 0);
	if (i >= len)
		return false;

	if (value[i] == '"') {
		/* RFC 2045 quoted-string: compare its content, unfolded and
		 * with quoted-pairs resolved. An unclosed string still counts:
		 * if anything downstream reads it as our id, it must go. */
		size_t k = 0;
		for (i++; i < len && value[i] != '"'; i++) {
			char c = value[i];
			if (c == '\r' || c == '\n')
				continue;
			if (c == '\\' && i + 1 < len)
				c = value[++i];
			if (k >= idlen || ascii_lower(c) != ascii_lower(id[k]))
				return false;
			k++;
		}
		return k == idlen;
	}

	/* A token ends at whitespace, a comment, ';' or any other special,
	 * so "id;", "id 1;" and "id(comment)" all match while "id.other"
	 * does not. */
	size_t start = i;
	while (i < len && is_token_char((uint8_t)value[i]))
		i++;
	if (i - start != idlen)
		return false;
	for (size_t k = 0; k < idlen; k++)
		if (ascii_lower(value[start + k]) != ascii_lower(id[k]))
			return false;
	return true;
}
