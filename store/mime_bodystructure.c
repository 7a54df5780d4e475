/*
 * IMAP renderings of a parsed message: strings, ENVELOPE (RFC 3501 7.4.2)
 * and BODY/BODYSTRUCTURE with extension data (RFC 3501 7.4.2, 9
 * body-ext-1part / body-ext-mpart).
 *
 * String forms follow Dovecot byte for byte, so both servers send the same
 * FETCH responses for the same message:
 *   - a value is a quoted string unless it holds CR, LF, 8-bit bytes or
 *     more than four characters needing a backslash; then it is a literal
 *     (RFC 3501 4.3: a quoted string cannot carry CR, LF or 8-bit);
 *   - values that may be folded (dates, message ids, Content-ID...) lose
 *     their line breaks first;
 *   - subjects and display names are "for humans": whitespace collapsed
 *     and trimmed, and any such change turns the value into a literal.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "store/mime_internal.h"

/* Quoting costs one byte per quoted-special, a literal "{n}\r\n"; past
   four specials the literal is the shorter form for typical lengths. */
#define QUOTED_MAX_ESCAPES 4

static void append_literal(struct buf *out, const uint8_t *s, size_t len)
{
	buf_printf(out, "{%zu}\r\n", len);
	buf_append(out, s, len);
}

void mime_imap_nstring(struct buf *out, const char *s)
{
	if (s == NULL) {
		buf_append_str(out, "NIL");
		return;
	}
	size_t len = strlen(s);
	unsigned int escapes = 0;
	for (size_t i = 0; i < len; i++) {
		uint8_t c = (uint8_t)s[i];
		bool literal = c == '\r' || c == '\n' || c >= 0x80;
		if (c == '"' || c == '\\')
			literal = escapes++ >= QUOTED_MAX_ESCAPES;
		if (literal) {
			append_literal(out, (const uint8_t *)s, len);
			return;
		}
	}
	buf_append_byte(out, '"');
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '"' || s[i] == '\\')
			buf_append_byte(out, '\\');
		buf_append_byte(out, (uint8_t)s[i]);
	}
	buf_append_byte(out, '"');
}

void mime_imap_nstring_nolf(struct buf *out, const char *s)
{
	if (s == NULL || strpbrk(s, "\r\n") == NULL) {
		mime_imap_nstring(out, s);
		return;
	}
	/* Unfold: drop line breaks, keeping words apart when the next line
	   does not start with whitespace. */
	struct buf flat = BUF_INIT;
	for (size_t i = 0; s[i] != '\0'; i++) {
		if (s[i] != '\r' && s[i] != '\n') {
			buf_append_byte(&flat, (uint8_t)s[i]);
			continue;
		}
		char next = s[i + 1];
		if (next != ' ' && next != '\t' && next != '\r' && next != '\n' && next != '\0')
			buf_append_byte(&flat, ' ');
	}
	mime_imap_nstring(out, buf_cstr(&flat));
	buf_free(&flat);
}

static bool is_human_space(uint8_t c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

void mime_imap_string_for_humans(struct buf *out, const uint8_t *s, size_t len)
{
	/* Can it go out as it is? Only if nothing would change. */
	bool plain = len == 0 || (s[0] != ' ' && s[len - 1] != ' ');
	for (size_t i = 0; plain && i < len; i++) {
		uint8_t c = s[i];
		if (c == '\0' || c == '\t' || c == '\r' || c == '\n' || c == '"' || c == '\\' ||
		    c >= 0x80 || (c == ' ' && i + 1 < len && s[i + 1] == ' '))
			plain = false;
	}
	if (plain) {
		buf_append_byte(out, '"');
		buf_append(out, s, len);
		buf_append_byte(out, '"');
		return;
	}

	/* Collapse whitespace runs to one space, trim both ends; NUL (which
	   a quoted string or literal cannot show) becomes 0x80. */
	struct buf h = BUF_INIT;
	bool pending_space = false;
	for (size_t i = 0; i < len; i++) {
		if (is_human_space(s[i])) {
			pending_space = h.len > 0;
			continue;
		}
		if (pending_space)
			buf_append_byte(&h, ' ');
		pending_space = false;
		buf_append_byte(&h, s[i] == '\0' ? 0x80 : s[i]);
	}
	if (h.len == 0)
		buf_append_str(out, "\"\"");
	else
		append_literal(out, h.data, h.len);
	buf_free(&h);
}

/* ------------------------------------------------------------------ */
/* ENVELOPE                                                            */

static void write_addresses(struct buf *out, const struct mime_address *a)
{
	if (a == NULL) {
		buf_append_str(out, "NIL");
		return;
	}
	buf_append_byte(out, '(');
	for (; a != NULL; a = a->next) {
		buf_append_byte(out, '(');
		if (a->name == NULL)
			buf_append_str(out, "NIL");
		else
			mime_imap_string_for_humans(out, (const uint8_t *)a->name, strlen(a->name));
		buf_append_byte(out, ' ');
		mime_imap_nstring(out, a->route);
		buf_append_byte(out, ' ');
		mime_imap_nstring(out, a->mailbox);
		buf_append_byte(out, ' ');
		mime_imap_nstring(out, a->domain);
		buf_append_byte(out, ')');
	}
	buf_append_byte(out, ')');
}

void mime_write_envelope(struct buf *out, const struct mime_envelope *env)
{
	if (env == NULL) {
		buf_append_str(out, "NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL");
		return;
	}
	const struct mime_address *from = env->from.head;

	mime_imap_nstring_nolf(out, env->date);
	buf_append_byte(out, ' ');
	if (env->subject == NULL)
		buf_append_str(out, "NIL");
	else
		mime_imap_string_for_humans(out, (const uint8_t *)env->subject,
					    strlen(env->subject));
	buf_append_byte(out, ' ');
	write_addresses(out, from);
	/* RFC 3501 7.4.2: Sender and Reply-To default to From. */
	buf_append_byte(out, ' ');
	write_addresses(out, env->sender.head != NULL ? env->sender.head : from);
	buf_append_byte(out, ' ');
	write_addresses(out, env->reply_to.head != NULL ? env->reply_to.head : from);
	buf_append_byte(out, ' ');
	write_addresses(out, env->to.head);
	buf_append_byte(out, ' ');
	write_addresses(out, env->cc.head);
	buf_append_byte(out, ' ');
	write_addresses(out, env->bcc.head);
	buf_append_byte(out, ' ');
	mime_imap_nstring_nolf(out, env->in_reply_to);
	buf_append_byte(out, ' ');
	mime_imap_nstring_nolf(out, env->message_id);
}

/* ------------------------------------------------------------------ */
/* BODY / BODYSTRUCTURE                                                */

/* A multipart without parts is not valid IMAP; like Dovecot we show one
   empty text/plain part inside it. */
#define EMPTY_BODY "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0)"
#define EMPTY_BODYSTRUCTURE                                                                  \
	"(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0 NIL NIL NIL NIL)"

/* body-fld-param; text parts get RFC 2045 5.2's default charset when
   they name none. */
static void write_params(struct buf *out, const struct mime_param *params, unsigned int count,
			 bool default_charset)
{
	if (count == 0 && !default_charset) {
		buf_append_str(out, "NIL");
		return;
	}
	bool seen_charset = false;
	buf_append_byte(out, '(');
	for (unsigned int i = 0; i < count; i++) {
		if (i > 0)
			buf_append_byte(out, ' ');
		if (strcasecmp(params[i].name, "charset") == 0)
			seen_charset = true;
		mime_imap_nstring(out, params[i].name);
		buf_append_byte(out, ' ');
		mime_imap_nstring(out, params[i].value);
	}
	if (default_charset && !seen_charset) {
		if (count > 0)
			buf_append_byte(out, ' ');
		buf_append_str(out, "\"charset\" \"us-ascii\"");
	}
	buf_append_byte(out, ')');
}

/* body-fld-dsp SP body-fld-lang SP body-fld-loc */
static void write_extension_common(struct buf *out, const struct mime_content *c)
{
	buf_append_byte(out, ' ');
	if (c->disposition == NULL) {
		buf_append_str(out, "NIL");
	} else {
		buf_append_byte(out, '(');
		mime_imap_nstring(out, c->disposition);
		buf_append_byte(out, ' ');
		write_params(out, c->disposition_params, c->disposition_param_count, false);
		buf_append_byte(out, ')');
	}
	buf_append_byte(out, ' ');
	if (c->language_count == 0) {
		buf_append_str(out, "NIL");
	} else {
		buf_append_byte(out, '(');
		for (unsigned int i = 0; i < c->language_count; i++) {
			if (i > 0)
				buf_append_byte(out, ' ');
			mime_imap_nstring(out, c->languages[i]);
		}
		buf_append_byte(out, ')');
	}
	buf_append_byte(out, ' ');
	mime_imap_nstring_nolf(out, c->location);
}

static void write_multipart(struct buf *out, const struct mime_node *nodes, uint32_t idx,
			    bool extended)
{
	const struct mime_node *n = &nodes[idx];

	if (n->first_child == MIME_NONE)
		buf_append_str(out, extended ? EMPTY_BODYSTRUCTURE : EMPTY_BODY);
	for (uint32_t c = n->first_child; c != MIME_NONE; c = nodes[c].next_sibling) {
		buf_append_byte(out, '(');
		mime_write_bodystructure(out, nodes, c, extended);
		buf_append_byte(out, ')');
	}
	buf_append_byte(out, ' ');
	mime_imap_nstring(out, n->content.subtype != NULL ? n->content.subtype : "");
	if (!extended)
		return;
	buf_append_byte(out, ' ');
	write_params(out, n->content.params, n->content.param_count, false);
	write_extension_common(out, &n->content);
}

static void write_single(struct buf *out, const struct mime_node *nodes, uint32_t idx,
			 bool extended)
{
	const struct mime_node *n = &nodes[idx];
	const struct mime_content *c = &n->content;
	bool text;

	if ((n->flags & MIME_NODE_MESSAGE) != 0) {
		buf_append_str(out, "\"message\" \"rfc822\"");
		text = false;
	} else if (c->type == NULL) {
		/* RFC 2045 5.2 default */
		buf_append_str(out, "\"text\" \"plain\"");
		text = true;
	} else if (strcasecmp(c->type, "multipart") == 0) {
		/* a multipart that is no container (no subtype, or too deep):
		   clients must not try to open it (Dovecot does the same) */
		buf_append_str(out, "\"application\" \"octet-stream\"");
		text = false;
	} else {
		mime_imap_nstring(out, c->type);
		buf_append_byte(out, ' ');
		mime_imap_nstring(out, c->subtype);
		text = strcasecmp(c->type, "text") == 0;
	}
	buf_append_byte(out, ' ');
	write_params(out, c->params, c->param_count, text);
	buf_append_byte(out, ' ');
	mime_imap_nstring_nolf(out, c->id);
	buf_append_byte(out, ' ');
	mime_imap_nstring_nolf(out, c->description);
	buf_append_byte(out, ' ');
	if (c->transfer_encoding != NULL)
		mime_imap_nstring(out, c->transfer_encoding);
	else
		buf_append_str(out, "\"7bit\"");
	buf_printf(out, " %llu", (unsigned long long)n->body_vsize);

	if (text) {
		/* body-type-text: size in text lines */
		buf_printf(out, " %llu", (unsigned long long)n->body_lines);
	} else if ((n->flags & MIME_NODE_MESSAGE) != 0) {
		/* body-type-msg: envelope, body, lines of the encapsulated
		   message */
		uint32_t child = n->first_child;
		buf_append_str(out, " (");
		mime_write_envelope(out, nodes[child].envelope);
		buf_append_str(out, ") (");
		mime_write_bodystructure(out, nodes, child, extended);
		buf_printf(out, ") %llu", (unsigned long long)n->body_lines);
	}
	if (!extended)
		return;
	buf_append_byte(out, ' ');
	mime_imap_nstring_nolf(out, c->md5);
	write_extension_common(out, c);
}

static bool is_null_or(const char *s, const char *value)
{
	return s == NULL || strcasecmp(s, value) == 0;
}

/* Dovecot stores a message that is one plain 7bit us-ascii text part as
   just a flag and shows it in canonical (lowercase) form; so do we, for
   the top-level part. MIME names and charsets are case-insensitive (RFC
   2045 5.1, RFC 2046 4.1.2), so either form is right. */
static bool root_is_plain_7bit(const struct mime_node *n)
{
	const struct mime_content *c = &n->content;

	if ((n->flags & MIME_NODE_TEXT) == 0 ||
	    (n->flags & (MIME_NODE_MULTIPART | MIME_NODE_MESSAGE | MIME_NODE_OVERFLOW)) != 0)
		return false;
	if (!is_null_or(c->subtype, "plain"))
		return false;
	if (c->param_count > 1 ||
	    (c->param_count == 1 && (strcasecmp(c->params[0].name, "charset") != 0 ||
				     strcasecmp(c->params[0].value, "us-ascii") != 0)))
		return false;
	return c->id == NULL && c->description == NULL && is_null_or(c->transfer_encoding, "7bit") &&
	       c->md5 == NULL && c->disposition == NULL && c->languages == NULL &&
	       c->location == NULL;
}

void mime_write_bodystructure(struct buf *out, const struct mime_node *nodes, uint32_t idx,
			      bool extended)
{
	if (idx == 0 && root_is_plain_7bit(&nodes[0])) {
		buf_printf(out, "\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" "
				"%llu %llu%s",
			   (unsigned long long)nodes[0].body_vsize,
			   (unsigned long long)nodes[0].body_lines,
			   extended ? " NIL NIL NIL NIL" : "");
		return;
	}
	if ((nodes[idx].flags & MIME_NODE_MULTIPART) != 0)
		write_multipart(out, nodes, idx, extended);
	else
		write_single(out, nodes, idx, extended);
}
