/*
 * Charsets to UTF-8 for search text and decoded header fields: streaming
 * conversion through glibc's iconv, UTF-8 validation, and RFC 2047 encoded
 * words.
 *
 * Mail often lies about its charset, so a few labels are widened the way
 * browsers widen them (WHATWG Encoding): iso-8859-1 is decoded as
 * windows-1252, gb2312 as GB18030. Text that names no charset, us-ascii
 * (the RFC 2045 default, which 8-bit mail ignores) or a charset iconv does
 * not know is decoded sequence by sequence: valid UTF-8 stays, any other
 * byte is read as windows-1252. Whatever happens the output is valid UTF-8,
 * with U+FFFD where input could not be decoded, and never contains NUL.
 */
#include <errno.h>
#include <iconv.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/base64.h"
#include "common/utf8.h"
#include "common/xalloc.h"
#include "store/mime_internal.h"

/* ------------------------------------------------------------------ */
/* UTF-8                                                               */

static void append_replacement(struct buf *out)
{
	buf_append(out, MIME_REPLACEMENT_UTF8, 3);
}

/* windows-1252 0x80-0x9F; 0 marks the five unassigned bytes. */
static const uint16_t cp1252_c1[32] = {
	0x20AC, 0,	0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021,
	0x02C6, 0x2030, 0x0160, 0x2039, 0x0152, 0,	0x017D, 0,
	0,	0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014,
	0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0,	0x017E, 0x0178,
};

static void append_cp1252(struct buf *out, uint8_t c)
{
	if (c >= 0x80 && c < 0xA0) {
		if (cp1252_c1[c - 0x80] == 0)
			append_replacement(out);
		else
			utf8_append_cp(out, cp1252_c1[c - 0x80]);
	} else {
		utf8_append_cp(out, c);
	}
}

enum seq_result { SEQ_VALID, SEQ_INVALID, SEQ_INCOMPLETE };

/* Checks the UTF-8 sequence at p (RFC 3629: no overlongs, surrogates or
   code points past U+10FFFF). *len_r is its length when valid, otherwise
   the length of its longest valid prefix (at least 1): that much becomes
   one U+FFFD, as Unicode 3.9 recommends. */
static enum seq_result utf8_sequence(const uint8_t *p, size_t avail, size_t *len_r)
{
	uint8_t c = p[0];
	size_t need;
	uint8_t lo = 0x80, hi = 0xBF; /* allowed range of the second byte */

	*len_r = 1;
	if (c < 0x80)
		return SEQ_VALID;
	if (c >= 0xC2 && c <= 0xDF) {
		need = 2;
	} else if (c >= 0xE0 && c <= 0xEF) {
		need = 3;
		if (c == 0xE0)
			lo = 0xA0;
		else if (c == 0xED)
			hi = 0x9F;
	} else if (c >= 0xF0 && c <= 0xF4) {
		need = 4;
		if (c == 0xF0)
			lo = 0x90;
		else if (c == 0xF4)
			hi = 0x8F;
	} else {
		return SEQ_INVALID;
	}
	for (size_t i = 1; i < need; i++) {
		*len_r = i;
		if (i >= avail)
			return SEQ_INCOMPLETE;
		uint8_t min = i == 1 ? lo : 0x80, max = i == 1 ? hi : 0xBF;
		if (p[i] < min || p[i] > max)
			return SEQ_INVALID;
	}
	*len_r = need;
	return SEQ_VALID;
}

static size_t ascii_run(const uint8_t *p, size_t len)
{
	size_t i = 0;
	/* eight bytes at a time while no high bit and no NUL is in sight */
	while (i + 8 <= len) {
		uint64_t w;
		memcpy(&w, p + i, 8);
		if ((w & 0x8080808080808080ULL) != 0 ||
		    ((w - 0x0101010101010101ULL) & ~w & 0x8080808080808080ULL) != 0)
			break;
		i += 8;
	}
	while (i < len && p[i] < 0x80 && p[i] != 0)
		i++;
	return i;
}

/* Appends as much of in as forms complete sequences and returns how many
   bytes that was; an incomplete sequence at the end is left to the caller
   unless `final`. Invalid bytes go through windows-1252 when `lenient`,
   else become U+FFFD. */
static size_t utf8_append(struct buf *out, const uint8_t *in, size_t len, bool lenient,
			  bool final)
{
	size_t i = 0;
	while (i < len) {
		size_t run = ascii_run(in + i, len - i);
		if (run > 0) {
			buf_append(out, in + i, run);
			i += run;
			continue;
		}
		if (in[i] == '\0') {
			append_replacement(out);
			i++;
			continue;
		}
		size_t n;
		switch (utf8_sequence(in + i, len - i, &n)) {
		case SEQ_VALID:
			buf_append(out, in + i, n);
			i += n;
			break;
		case SEQ_INCOMPLETE:
			if (!final)
				return i;
			/* fall through */
		case SEQ_INVALID:
			/* windows-1252 reads every byte; strict UTF-8 replaces
			   the broken sequence as a whole */
			if (lenient) {
				append_cp1252(out, in[i]);
				n = 1;
			} else {
				append_replacement(out);
			}
			i += n;
			break;
		}
	}
	return i;
}

void mime_utf8_append_lenient(struct buf *out, const uint8_t *in, size_t len)
{
	(void)utf8_append(out, in, len, true, true);
}

size_t mime_utf8_complete_len(const uint8_t *in, size_t len)
{
	/* step back over at most three continuation bytes to a lead byte */
	size_t i = len, back = 0;
	while (i > 0 && back < 4 && (in[i - 1] & 0xC0) == 0x80) {
		i--;
		back++;
	}
	if (i == 0 || in[i - 1] < 0x80)
		return len;
	size_t n;
	if (utf8_sequence(in + i - 1, len - (i - 1), &n) == SEQ_INCOMPLETE)
		return i - 1;
	return len;
}

/* ------------------------------------------------------------------ */
/* Streaming converter                                                 */

enum conv_kind { CONV_UTF8, CONV_LENIENT, CONV_ICONV };

/* iconv gets the input in blocks cut at fixed stream offsets, never where
   the caller's pieces happen to end: stateful decoders (UTF-7, ISO-2022-JP)
   then see the same calls however the message arrives, so the text does
   not depend on how it was fed. An incomplete sequence at the end of a
   block (at most CONV_CARRY_MAX bytes) moves to the next one. */
#define CONV_BLOCK 4096
#define CONV_CARRY_MAX 16

struct mime_conv {
	enum conv_kind kind;
	iconv_t cd;
	uint8_t block[CONV_BLOCK];
	size_t block_len;
};

static bool name_is(const char *a, const char *b)
{
	return strcasecmp(a, b) == 0;
}

/* The iconv name to use for a MIME charset label, NULL for the lenient
   UTF-8/windows-1252 decoding. */
static const char *iconv_name(const char *charset)
{
	if (charset == NULL || charset[0] == '\0' || name_is(charset, "us-ascii") ||
	    name_is(charset, "ascii") || name_is(charset, "unknown-8bit") ||
	    name_is(charset, "x-unknown") || name_is(charset, "default"))
		return NULL;
	if (name_is(charset, "iso-8859-1") || name_is(charset, "latin1") ||
	    name_is(charset, "iso8859-1") || name_is(charset, "iso_8859-1"))
		return "WINDOWS-1252";
	if (name_is(charset, "gb2312") || name_is(charset, "gbk") || name_is(charset, "x-gbk"))
		return "GB18030";
	if (name_is(charset, "ks_c_5601-1987") || name_is(charset, "euc-kr"))
		return "CP949";
	if (name_is(charset, "shift_jis") || name_is(charset, "x-sjis") || name_is(charset, "sjis"))
		return "CP932";
	return charset;
}

static bool charset_name_ok(const char *name)
{
	size_t n = strlen(name);
	if (n == 0 || n >= 64)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '_' || c == '.' || c == ':' || c == '+'))
			return false;
	}
	return true;
}

struct mime_conv *mime_conv_create(const char *charset)
{
	struct mime_conv *c = xmalloc(sizeof(*c)); /* the block needs no zeroing */
	const char *name = iconv_name(charset);

	c->block_len = 0;
	c->cd = (iconv_t)-1;
	if (name == NULL) {
		c->kind = CONV_LENIENT;
	} else if (name_is(name, "utf-8") || name_is(name, "utf8")) {
		c->kind = CONV_UTF8;
	} else {
		/* Only plain charset names reach iconv_open: no "//IGNORE"
		   style suffixes, paths or junk from a header. */
		c->cd = charset_name_ok(name) ? iconv_open("UTF-8", name) : (iconv_t)-1;
		c->kind = c->cd == (iconv_t)-1 ? CONV_LENIENT : CONV_ICONV;
	}
	return c;
}

/* Converts with iconv; returns the bytes used (all but an incomplete
   trailing sequence unless `final`). */
static size_t iconv_run(struct mime_conv *c, const uint8_t *in, size_t len, struct buf *out,
			bool final)
{
	char *inp = (char *)(uintptr_t)in;
	size_t inleft = len;

	while (inleft > 0) {
		if (buf_reserve(out, inleft * 4 + 16) < 0)
			break;
		char *outp = (char *)out->data + out->len;
		size_t outleft = out->cap - out->len - 1;
		size_t ret = iconv(c->cd, &inp, &inleft, &outp, &outleft);
		out->len = (size_t)((uint8_t *)outp - out->data);
		out->data[out->len] = '\0';
		if (ret != (size_t)-1 || errno == E2BIG)
			continue;
		if (errno == EINVAL && !final && inleft < CONV_CARRY_MAX)
			break; /* a sequence cut by the end of the block */
		/* EILSEQ, or a sequence that can never complete */
		append_replacement(out);
		inp++;
		inleft--;
	}
	return len - inleft;
}

/* iconv may decode a NUL; the search text has none. */
static void replace_nuls(struct buf *out, size_t from)
{
	if (out->len == from || memchr(out->data + from, '\0', out->len - from) == NULL)
		return;
	struct buf fixed = BUF_INIT;
	buf_append(&fixed, out->data, from);
	(void)utf8_append(&fixed, out->data + from, out->len - from, false, true);
	buf_free(out);
	*out = fixed;
}

static void convert_block(struct mime_conv *c, struct buf *out, bool final)
{
	size_t start = out->len, used;

	if (c->kind == CONV_ICONV) {
		used = iconv_run(c, c->block, c->block_len, out, final);
		replace_nuls(out, start);
	} else {
		used = utf8_append(out, c->block, c->block_len, c->kind == CONV_LENIENT, final);
	}
	memmove(c->block, c->block + used, c->block_len - used);
	c->block_len -= used;
}

/* UTF-8 decoding depends on nothing but the bytes, so it needs no blocks:
   only an incomplete sequence (at most three bytes) waits in `block`, and
   new bytes complete it one at a time. */
static void utf8_feed(struct mime_conv *c, const uint8_t *in, size_t len, struct buf *out)
{
	bool lenient = c->kind == CONV_LENIENT;

	while (c->block_len > 0 && len > 0) {
		c->block[c->block_len++] = *in++;
		len--;
		size_t used = utf8_append(out, c->block, c->block_len, lenient, false);
		memmove(c->block, c->block + used, c->block_len - used);
		c->block_len -= used;
	}
	if (len == 0)
		return;
	size_t used = utf8_append(out, in, len, lenient, false);
	memcpy(c->block, in + used, len - used);
	c->block_len = len - used;
}

void mime_conv_feed(struct mime_conv *c, const uint8_t *in, size_t len, struct buf *out)
{
	if (c->kind != CONV_ICONV) {
		utf8_feed(c, in, len, out);
		return;
	}
	while (len > 0) {
		size_t take = CONV_BLOCK - c->block_len;
		if (take > len)
			take = len;
		memcpy(c->block + c->block_len, in, take);
		c->block_len += take;
		in += take;
		len -= take;
		if (c->block_len == CONV_BLOCK)
			convert_block(c, out, false);
	}
}

void mime_conv_finish(struct mime_conv *c, struct buf *out)
{
	convert_block(c, out, true);
	if (c->kind == CONV_ICONV) {
		/* return to the initial shift state (ISO-2022-JP) */
		if (buf_reserve(out, 64) == 0) {
			char *outp = (char *)out->data + out->len;
			size_t outleft = out->cap - out->len - 1;
			(void)iconv(c->cd, NULL, NULL, &outp, &outleft);
			out->len = (size_t)((uint8_t *)outp - out->data);
			out->data[out->len] = '\0';
		}
		(void)iconv(c->cd, NULL, NULL, NULL, NULL);
	}
}

void mime_conv_destroy(struct mime_conv **cp)
{
	struct mime_conv *c = *cp;
	if (c == NULL)
		return;
	if (c->cd != (iconv_t)-1)
		iconv_close(c->cd);
	free(c);
	*cp = NULL;
}

/* ------------------------------------------------------------------ */
/* RFC 2047 encoded words                                              */

struct encoded_word {
	const char *charset;
	size_t charset_len; /* without an RFC 2231 "*language" */
	char encoding;	    /* 'B' or 'Q' */
	const char *text;
	size_t text_len;
	size_t total_len;   /* "=?" ... "?=" */
};

#define CHARSET_NAME_MAX 64

/* encoded-word = "=?" charset "?" encoding "?" encoded-text "?=" */
static bool parse_encoded_word(const char *s, size_t len, struct encoded_word *w)
{
	if (len < 8 || s[0] != '=' || s[1] != '?')
		return false;
	size_t i = 2;
	while (i < len && s[i] != '?' && s[i] != ' ' && s[i] != '\t' && s[i] != '\r' &&
	       s[i] != '\n')
		i++;
	if (i >= len || s[i] != '?' || i == 2 || i - 2 > CHARSET_NAME_MAX)
		return false;
	w->charset = s + 2;
	w->charset_len = i - 2;
	const char *star = memchr(w->charset, '*', w->charset_len);
	if (star != NULL)
		w->charset_len = (size_t)(star - w->charset);
	if (i + 3 > len || s[i + 2] != '?')
		return false;
	char enc = s[i + 1];
	if (enc == 'b' || enc == 'B')
		w->encoding = 'B';
	else if (enc == 'q' || enc == 'Q')
		w->encoding = 'Q';
	else
		return false;
	size_t text = i + 3, j = text;
	while (j + 1 < len && !(s[j] == '?' && s[j + 1] == '=')) {
		if (s[j] == ' ' || s[j] == '\t' || s[j] == '\r' || s[j] == '\n' || s[j] == '?')
			return false;
		j++;
	}
	if (j + 1 >= len)
		return false;
	w->text = s + text;
	w->text_len = j - text;
	w->total_len = j + 2;
	return true;
}

static void decode_word_text(const struct encoded_word *w, struct buf *out)
{
	if (w->encoding == 'Q') {
		/* RFC 2047 4.2: "_" is a space, =XX a byte */
		for (size_t i = 0; i < w->text_len; i++) {
			char c = w->text[i];
			int hi, lo;
			if (c == '_') {
				buf_append_byte(out, ' ');
			} else if (c == '=' && i + 2 < w->text_len &&
				   (hi = hex_digit_value(w->text[i + 1])) >= 0 &&
				   (lo = hex_digit_value(w->text[i + 2])) >= 0) {
				buf_append_byte(out, (uint8_t)(hi * 16 + lo));
				i += 2;
			} else {
				buf_append_byte(out, (uint8_t)c);
			}
		}
		return;
	}
	/* B: base64, tolerating missing padding; stops at '=' */
	uint32_t acc = 0;
	int bits = 0;
	for (size_t i = 0; i < w->text_len && w->text[i] != '='; i++) {
		int v = base64_char_value((uint8_t)w->text[i]);
		if (v < 0)
			continue;
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			buf_append_byte(out, (uint8_t)(acc >> bits));
			acc &= (1u << bits) - 1;
		}
	}
}

static void flush_words(struct buf *out, struct buf *bytes, const char *charset)
{
	if (bytes->len == 0)
		return;
	struct mime_conv *c = mime_conv_create(charset);
	mime_conv_feed(c, bytes->data, bytes->len, out);
	mime_conv_finish(c, out);
	mime_conv_destroy(&c);
	buf_clear(bytes);
}

static bool is_fws(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

char *mime_decode_header(const char *value, size_t len)
{
	struct buf out = BUF_INIT, bytes = BUF_INIT;
	char charset[CHARSET_NAME_MAX + 1] = "";
	bool after_word = false;
	size_t i = 0;

	while (i < len) {
		struct encoded_word w;
		if (value[i] == '=' && parse_encoded_word(value + i, len - i, &w)) {
			char cs[CHARSET_NAME_MAX + 1];
			memcpy(cs, w.charset, w.charset_len);
			cs[w.charset_len] = '\0';
			/* Adjacent words in one charset are decoded together:
			   mailers split multibyte characters across them. */
			if (strcasecmp(cs, charset) != 0) {
				flush_words(&out, &bytes, charset);
				memcpy(charset, cs, w.charset_len + 1);
			}
			decode_word_text(&w, &bytes);
			i += w.total_len;
			after_word = true;
			continue;
		}
		if (is_fws(value[i])) {
			size_t j = i;
			while (j < len && is_fws(value[j]))
				j++;
			struct encoded_word next;
			/* RFC 2047 6.2: whitespace between encoded words goes */
			if (after_word && j < len && parse_encoded_word(value + j, len - j, &next)) {
				i = j;
				continue;
			}
			flush_words(&out, &bytes, charset);
			after_word = false;
			/* unfold: line breaks go, the whitespace stays */
			for (; i < j; i++)
				if (value[i] != '\r' && value[i] != '\n')
					buf_append_byte(&out, (uint8_t)value[i]);
			continue;
		}
		flush_words(&out, &bytes, charset);
		after_word = false;
		size_t j = i + 1;
		while (j < len && !is_fws(value[j]) && value[j] != '=')
			j++;
		mime_utf8_append_lenient(&out, (const uint8_t *)value + i, j - i);
		i = j;
	}
	flush_words(&out, &bytes, charset);
	buf_free(&bytes);
	char *s = xstrndup(buf_cstr(&out), out.len);
	buf_free(&out);
	return s;
}
