/*
 * Search text: what SEARCH BODY/TEXT look at, produced while the message is
 * parsed. Header fields are decoded (RFC 2047) one per line; text parts go
 * through their transfer encoding (RFC 2045 6.7, 6.8), their charset and,
 * for text/html, a small tag stripper. Everything streams: state carried
 * between pieces is a few bytes (a 4 KiB block for iconv), input is
 * decoded SLICE_SIZE bytes at a time, and output goes to the callback in
 * pieces of about FLUSH_SIZE.
 *
 * Broken input is decoded as far as it goes: stray bytes in base64 are
 * skipped, a '=' in quoted-printable that starts no escape is kept.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/utf8.h"
#include "common/xalloc.h"
#include "store/mime_internal.h"

#define FLUSH_SIZE (16 * 1024)
/* Input is decoded this much at a time, so scratch buffers stay small
   whatever size of piece the parser is fed. */
#define SLICE_SIZE 8192
#define TAG_NAME_MAX 16
#define ENTITY_MAX 12

enum html_state {
	HTML_TEXT,
	HTML_TAG,	/* inside <...> */
	HTML_TAG_QUOTE, /* inside a quoted attribute value */
	HTML_COMMENT,	/* inside <!-- ... --> */
	HTML_ENTITY,	/* after '&' */
	HTML_RAW,	/* inside <script> or <style>: skipped */
};

struct html {
	enum html_state state;
	char quote;
	char tag[TAG_NAME_MAX];
	size_t tag_len;
	bool tag_closing, tag_name_done;
	unsigned int comment_dashes; /* '-' seen in a row inside a comment */
	char entity[ENTITY_MAX];
	size_t entity_len;
	const char *raw_end; /* "</script" or "</style" while in HTML_RAW */
	size_t raw_matched;  /* bytes of "</name" matched so far */
};

struct mime_text {
	mime_text_cb *cb;
	void *ctx;
	struct buf out;
	enum mime_text_kind out_kind;
	bool emitted;	   /* any body text so far */
	uint8_t last_byte; /* the last byte handed to the callback */

	bool in_part, html_part;
	struct mime_cte_decoder cte;
	struct mime_conv *conv;
	struct buf decoded, utf8;
	struct html html;
};

struct mime_text *mime_text_create(mime_text_cb *cb, void *ctx)
{
	struct mime_text *t = xcalloc(1, sizeof(*t));
	t->cb = cb;
	t->ctx = ctx;
	t->out_kind = MIME_TEXT_HEADER;
	return t;
}

void mime_text_flush(struct mime_text *t)
{
	if (t->out.len == 0)
		return;
	t->cb(t->ctx, t->out_kind, (const char *)t->out.data, t->out.len);
	t->last_byte = t->out.data[t->out.len - 1];
	buf_clear(&t->out);
}

void mime_text_destroy(struct mime_text **tp)
{
	struct mime_text *t = *tp;
	if (t == NULL)
		return;
	mime_conv_destroy(&t->conv);
	buf_free(&t->out);
	buf_free(&t->decoded);
	buf_free(&t->utf8);
	free(t);
	*tp = NULL;
}

static void set_kind(struct mime_text *t, enum mime_text_kind kind)
{
	if (t->out_kind != kind) {
		mime_text_flush(t);
		t->out_kind = kind;
	}
}

static void maybe_flush(struct mime_text *t)
{
	/* only whole characters are ever appended, so any point is a
	   character boundary */
	if (t->out.len >= FLUSH_SIZE)
		mime_text_flush(t);
}

enum mime_cte mime_cte_from_name(const char *name)
{
	if (name == NULL || strcasecmp(name, "7bit") == 0 || strcasecmp(name, "8bit") == 0 ||
	    strcasecmp(name, "binary") == 0)
		return MIME_CTE_IDENTITY;
	if (strcasecmp(name, "base64") == 0)
		return MIME_CTE_BASE64;
	if (strcasecmp(name, "quoted-printable") == 0)
		return MIME_CTE_QP;
	return MIME_CTE_UNKNOWN;
}

/* ------------------------------------------------------------------ */
/* Header fields                                                       */

void mime_text_header_field(struct mime_text *t, const struct mime_field *f)
{
	set_kind(t, MIME_TEXT_HEADER);
	mime_utf8_append_lenient(&t->out, (const uint8_t *)f->name, f->name_len);
	buf_append_str(&t->out, ": ");
	char *value;
	if (mime_field_is(f, "Content-Type") || mime_field_is(f, "Content-Disposition"))
		value = mime_decode_param_field(f->value, f->value_len);
	else
		value = mime_decode_header((const char *)f->value, f->value_len);
	buf_append_str(&t->out, value);
	free(value);
	buf_append_byte(&t->out, '\n');
	maybe_flush(t);
}

/* ------------------------------------------------------------------ */
/* Transfer encodings                                                  */

static const int8_t base64_table[256] = {
	['A'] = 1,  ['B'] = 2,	['C'] = 3,  ['D'] = 4,	['E'] = 5,  ['F'] = 6,	['G'] = 7,
	['H'] = 8,  ['I'] = 9,	['J'] = 10, ['K'] = 11, ['L'] = 12, ['M'] = 13, ['N'] = 14,
	['O'] = 15, ['P'] = 16, ['Q'] = 17, ['R'] = 18, ['S'] = 19, ['T'] = 20, ['U'] = 21,
	['V'] = 22, ['W'] = 23, ['X'] = 24, ['Y'] = 25, ['Z'] = 26, ['a'] = 27, ['b'] = 28,
	['c'] = 29, ['d'] = 30, ['e'] = 31, ['f'] = 32, ['g'] = 33, ['h'] = 34, ['i'] = 35,
	['j'] = 36, ['k'] = 37, ['l'] = 38, ['m'] = 39, ['n'] = 40, ['o'] = 41, ['p'] = 42,
	['q'] = 43, ['r'] = 44, ['s'] = 45, ['t'] = 46, ['u'] = 47, ['v'] = 48, ['w'] = 49,
	['x'] = 50, ['y'] = 51, ['z'] = 52, ['0'] = 53, ['1'] = 54, ['2'] = 55, ['3'] = 56,
	['4'] = 57, ['5'] = 58, ['6'] = 59, ['7'] = 60, ['8'] = 61, ['9'] = 62, ['+'] = 63,
	['/'] = 64,
}; /* value + 1; 0 = not in the alphabet */

static void decode_base64(struct mime_cte_decoder *t, const uint8_t *in, size_t len,
			  struct buf *out)
{
	uint32_t acc = t->b64_acc;
	unsigned int bits = t->b64_bits;

	for (size_t i = 0; i < len; i++) {
		int v = base64_table[in[i]];
		if (v == 0) {
			/* line breaks, padding and garbage: padding ends a
			   group, so drop the partial bits it leaves */
			if (in[i] == '=')
				acc = bits = 0;
			continue;
		}
		acc = (acc << 6) | (uint32_t)(v - 1);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			buf_append_byte(out, (uint8_t)(acc >> bits));
			acc &= (1u << bits) - 1;
		}
	}
	t->b64_acc = acc;
	t->b64_bits = bits;
}

/* Decodes the escape at in[0] == '='. Returns the bytes it used, or 0 if
   more input is needed to tell. */
static size_t qp_escape(const uint8_t *in, size_t len, bool final, struct buf *out)
{
	if (len < 2)
		goto need_more;
	if (in[1] == '\n')
		return 2; /* soft line break */
	if (in[1] == '\r') {
		if (len < 3)
			goto need_more;
		if (in[2] == '\n')
			return 3;
	}
	if (len < 3 && hex_digit_value(in[1]) >= 0)
		goto need_more;
	int hi = hex_digit_value(in[1]), lo = len >= 3 ? hex_digit_value(in[2]) : -1;
	if (hi >= 0 && lo >= 0) {
		buf_append_byte(out, (uint8_t)(hi * 16 + lo));
		return 3;
	}
	buf_append_byte(out, '=');
	return 1;
need_more:
	if (!final)
		return 0;
	buf_append_byte(out, '=');
	return 1;
}

static void decode_qp(struct mime_cte_decoder *t, const uint8_t *in, size_t len, bool final,
		      struct buf *out)
{
	if (t->qp_hold_len > 0) {
		/* an escape split across pieces: at most two more bytes */
		uint8_t joined[5];
		size_t held = t->qp_hold_len, take = len < 2 ? len : 2;
		memcpy(joined, t->qp_hold, held);
		memcpy(joined + held, in, take);
		t->qp_hold_len = 0;
		size_t used = qp_escape(joined, held + take, final, out);
		if (used == 0) {
			memcpy(t->qp_hold, joined, held + take);
			t->qp_hold_len = held + take;
			return;
		}
		/* used >= held: the escape always covers the held bytes */
		size_t from_in = used > held ? used - held : 0;
		if (used < held) {
			/* a lone '=' was kept; replay the rest */
			decode_qp(t, joined + used, held - used, final, out);
			from_in = 0;
		}
		in += from_in;
		len -= from_in;
	}
	size_t i = 0;
	while (i < len) {
		const uint8_t *eq = memchr(in + i, '=', len - i);
		size_t run = eq != NULL ? (size_t)(eq - (in + i)) : len - i;
		buf_append(out, in + i, run);
		i += run;
		if (i >= len)
			break;
		size_t used = qp_escape(in + i, len - i, final, out);
		if (used == 0) {
			memcpy(t->qp_hold, in + i, len - i);
			t->qp_hold_len = len - i;
			return;
		}
		i += used;
	}
}

void mime_cte_decoder_init(struct mime_cte_decoder *d, enum mime_cte cte)
{
	memset(d, 0, sizeof(*d));
	d->cte = cte;
}

void mime_cte_decode(struct mime_cte_decoder *d, const uint8_t *in, size_t len, bool final,
		     struct buf *out)
{
	switch (d->cte) {
	case MIME_CTE_UNKNOWN:
	case MIME_CTE_IDENTITY:
		buf_append(out, in, len);
		return;
	case MIME_CTE_BASE64:
		decode_base64(d, in, len, out);
		return;
	case MIME_CTE_QP:
		decode_qp(d, in, len, final, out);
		return;
	}
}

/* ------------------------------------------------------------------ */
/* HTML                                                                */

static const struct {
	const char *name;
	uint32_t cp;
} entities[] = {
	{ "amp", '&' },	     { "lt", '<' },	   { "gt", '>' },	 { "quot", '"' },
	{ "apos", '\'' },    { "nbsp", ' ' },	   { "copy", 0xA9 },	 { "reg", 0xAE },
	{ "trade", 0x2122 }, { "hellip", 0x2026 }, { "mdash", 0x2014 }, { "ndash", 0x2013 },
	{ "lsquo", 0x2018 }, { "rsquo", 0x2019 },  { "ldquo", 0x201C }, { "rdquo", 0x201D },
	{ "euro", 0x20AC },  { "bull", 0x2022 },   { "middot", 0xB7 },	 { "laquo", 0xAB },
	{ "raquo", 0xBB },   { "auml", 0xE4 },	   { "ouml", 0xF6 },	 { "uuml", 0xFC },
	{ "Auml", 0xC4 },    { "Ouml", 0xD6 },	   { "Uuml", 0xDC },	 { "szlig", 0xDF },
	{ "eacute", 0xE9 },  { "egrave", 0xE8 },   { "agrave", 0xE0 },	 { "aacute", 0xE1 },
	{ "ccedil", 0xE7 },  { "ntilde", 0xF1 },   { "oslash", 0xF8 },	 { "aring", 0xE5 },
	{ "iexcl", 0xA1 },   { "iquest", 0xBF },   { "deg", 0xB0 },	 { "pound", 0xA3 },
	{ "yen", 0xA5 },     { "cent", 0xA2 },	   { "sect", 0xA7 },	 { "para", 0xB6 },
	{ "shy", 0xAD },     { "zwnj", 0x200C },   { "zwj", 0x200D },
};

/* A NUL from an entity is as unwelcome as one in a header. */
static void append_cp(struct buf *out, uint32_t cp)
{
	utf8_append_cp(out, cp == 0 ? 0xFFFD : cp);
}

/* Appends the decoded entity, or the raw "&name" when it is unknown. */
static void finish_entity(struct html *h, struct buf *out, bool terminated)
{
	const char *e = h->entity;
	size_t n = h->entity_len;
	h->state = HTML_TEXT;

	if (terminated && n >= 2 && e[0] == '#') {
		uint32_t cp = 0;
		bool hex = e[1] == 'x' || e[1] == 'X', ok = n > (hex ? 2u : 1u);
		for (size_t i = hex ? 2 : 1; i < n && ok; i++) {
			int d = hex_digit_value((uint8_t)e[i]);
			if (!hex && d > 9)
				d = -1;
			ok = d >= 0 && cp <= 0x10FFFF;
			cp = cp * (hex ? 16 : 10) + (uint32_t)d;
		}
		if (ok) {
			append_cp(out, cp);
			return;
		}
	} else if (terminated) {
		for (size_t i = 0; i < sizeof(entities) / sizeof(entities[0]); i++) {
			if (strlen(entities[i].name) == n && memcmp(entities[i].name, e, n) == 0) {
				append_cp(out, entities[i].cp);
				return;
			}
		}
	}
	buf_append_byte(out, '&');
	buf_append(out, e, n);
	if (terminated)
		buf_append_byte(out, ';');
}

static bool tag_is(const struct html *h, const char *name)
{
	return strlen(name) == h->tag_len && strncasecmp(h->tag, name, h->tag_len) == 0;
}

/* Tags that separate words on screen; without a break their neighbours
   would be indexed as one word. */
static bool tag_breaks_words(const struct html *h)
{
	static const char *const tags[] = { "br", "p",	"div", "tr", "td", "th", "li", "h1",
					    "h2", "h3", "h4",  "h5", "h6", "hr", "table",
					    "title", "blockquote", "pre", "ul", "ol", "dt", "dd" };
	for (size_t i = 0; i < sizeof(tags) / sizeof(tags[0]); i++)
		if (tag_is(h, tags[i]))
			return true;
	return false;
}

static void end_tag(struct html *h, struct buf *out)
{
	h->state = HTML_TEXT;
	if (tag_breaks_words(h))
		buf_append_byte(out, '\n');
	if (!h->tag_closing && (tag_is(h, "script") || tag_is(h, "style"))) {
		h->state = HTML_RAW;
		h->raw_end = tag_is(h, "script") ? "</script" : "</style";
		h->raw_matched = 0;
	}
}

static void html_byte(struct html *h, uint8_t c, struct buf *out)
{
	switch (h->state) {
	case HTML_TEXT:
		if (c == '<') {
			h->state = HTML_TAG;
			h->tag_len = 0;
			h->tag_closing = h->tag_name_done = false;
		} else if (c == '&') {
			h->state = HTML_ENTITY;
			h->entity_len = 0;
		} else {
			buf_append_byte(out, c);
		}
		break;
	case HTML_ENTITY:
		if (c == ';') {
			finish_entity(h, out, true);
		} else if (h->entity_len < ENTITY_MAX &&
			   ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			    (c >= '0' && c <= '9') || (c == '#' && h->entity_len == 0))) {
			h->entity[h->entity_len++] = (char)c;
		} else {
			finish_entity(h, out, false);
			html_byte(h, c, out);
		}
		break;
	case HTML_TAG:
		if (c == '>') {
			end_tag(h, out);
		} else if (c == '"' || c == '\'') {
			h->quote = (char)c;
			h->state = HTML_TAG_QUOTE;
			h->tag_name_done = true;
		} else if (!h->tag_name_done && h->tag_len == 0 && c == '/') {
			h->tag_closing = true;
		} else if (!h->tag_name_done && h->tag_len == 0 && c == '!') {
			/* "<!--" starts a comment; "<!DOCTYPE" is a tag */
			h->tag[h->tag_len++] = '!';
		} else if (h->tag_len == 1 && h->tag[0] == '!' && c == '-') {
			h->tag[h->tag_len++] = '-';
		} else if (h->tag_len == 2 && h->tag[0] == '!' && h->tag[1] == '-') {
			if (c == '-') {
				h->state = HTML_COMMENT;
				h->comment_dashes = 0;
			} else {
				h->tag_name_done = true;
			}
		} else if (!h->tag_name_done && ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
						 (c >= '0' && c <= '9'))) {
			if (h->tag_len < TAG_NAME_MAX)
				h->tag[h->tag_len++] = (char)c;
		} else {
			h->tag_name_done = true;
		}
		break;
	case HTML_TAG_QUOTE:
		if (c == (uint8_t)h->quote)
			h->state = HTML_TAG;
		break;
	case HTML_COMMENT:
		if (c == '>' && h->comment_dashes >= 2)
			h->state = HTML_TEXT;
		h->comment_dashes = c == '-' ? h->comment_dashes + 1 : 0;
		break;
	case HTML_RAW: {
		char want = h->raw_end[h->raw_matched];
		if ((c | 0x20) == (uint8_t)want || c == (uint8_t)want) {
			if (h->raw_end[++h->raw_matched] == '\0') {
				/* the rest of the closing tag is an ordinary tag */
				h->state = HTML_TAG;
				h->tag_closing = true;
				h->tag_name_done = true;
				h->tag_len = 0;
			}
		} else {
			h->raw_matched = c == '<' ? 1 : 0;
		}
		break;
	}
	}
}

static void html_feed(struct html *h, const uint8_t *in, size_t len, struct buf *out)
{
	for (size_t i = 0; i < len; i++) {
		if (h->state == HTML_TEXT) {
			/* copy plain runs in one go */
			size_t j = i;
			while (j < len && in[j] != '<' && in[j] != '&')
				j++;
			buf_append(out, in + i, j - i);
			i = j;
			if (i >= len)
				break;
		}
		html_byte(h, in[i], out);
	}
}

/* ------------------------------------------------------------------ */
/* Text parts                                                          */

void mime_text_part_begin(struct mime_text *t, enum mime_cte cte, const char *charset, bool html)
{
	set_kind(t, MIME_TEXT_BODY);
	/* keep the words of consecutive parts apart */
	uint8_t last = t->out.len > 0 ? t->out.data[t->out.len - 1] : t->last_byte;
	if (t->emitted && last != '\n')
		buf_append_byte(&t->out, '\n');
	t->in_part = true;
	t->html_part = html;
	mime_cte_decoder_init(&t->cte, cte);
	t->html = (struct html){ .state = HTML_TEXT };
	mime_conv_destroy(&t->conv);
	t->conv = mime_conv_create(charset);
}

static void emit_utf8(struct mime_text *t)
{
	if (t->utf8.len == 0)
		return;
	if (t->html_part)
		html_feed(&t->html, t->utf8.data, t->utf8.len, &t->out);
	else
		buf_append(&t->out, t->utf8.data, t->utf8.len);
	buf_clear(&t->utf8);
	t->emitted = true;
	maybe_flush(t);
}

static void convert(struct mime_text *t, const uint8_t *data, size_t len)
{
	mime_conv_feed(t->conv, data, len, &t->utf8);
	emit_utf8(t);
}

static void part_slice(struct mime_text *t, const uint8_t *data, size_t len)
{
	switch (t->cte.cte) {
	case MIME_CTE_UNKNOWN:
		return;
	case MIME_CTE_IDENTITY:
		convert(t, data, len);
		return;
	case MIME_CTE_BASE64:
	case MIME_CTE_QP:
		mime_cte_decode(&t->cte, data, len, false, &t->decoded);
		break;
	}
	convert(t, t->decoded.data, t->decoded.len);
	buf_clear(&t->decoded);
}

void mime_text_part_data(struct mime_text *t, const uint8_t *data, size_t len)
{
	if (!t->in_part)
		return;
	while (len > 0) {
		size_t n = len < SLICE_SIZE ? len : SLICE_SIZE;
		part_slice(t, data, n);
		data += n;
		len -= n;
	}
}

void mime_text_part_end(struct mime_text *t)
{
	if (!t->in_part)
		return;
	if (t->cte.cte == MIME_CTE_QP && t->cte.qp_hold_len > 0) {
		mime_cte_decode(&t->cte, (const uint8_t *)"", 0, true, &t->decoded);
		convert(t, t->decoded.data, t->decoded.len);
		buf_clear(&t->decoded);
	}
	mime_conv_finish(t->conv, &t->utf8);
	emit_utf8(t);
	if (t->html_part && t->html.state == HTML_ENTITY)
		finish_entity(&t->html, &t->out, false);
	mime_conv_destroy(&t->conv);
	t->in_part = false;
}
