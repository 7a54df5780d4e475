#include "imapd/imap_mutf7.h"

#include <stdbool.h>
#include <stdint.h>

#include "common/base64.h"
#include "common/utf8.h"

/* RFC 3501 5.1.3: these stand for themselves ('&' too, but spelled "&-"). */
static bool is_printable_ascii(uint32_t c)
{
	return c >= 0x20 && c <= 0x7e;
}

/* Modified base64 is RFC 4648 base64 with ',' in place of '/'. */
static char mbase64_char(unsigned int value)
{
	return (value & 63) == 63 ? ',' : base64_char(value);
}

static int mbase64_value(uint8_t c)
{
	if (c == ',')
		return 63;
	if (c == '/')
		return -1;
	return base64_char_value(c);
}

/* On failure the caller's buffer goes back to what it held before. */
static int fail_restoring(struct buf *out, size_t len)
{
	out->len = len;
	if (out->data != NULL)
		out->data[len] = '\0';
	return -1;
}

/* ---------------------------------------------------------------- encode */

/* An open "&..." run: bits of UTF-16 units not yet written as base64. */
struct utf16_run {
	bool open;
	unsigned int nbits; /* < 6 between units */
	uint32_t bits;
};

static int run_put_unit(struct utf16_run *run, uint16_t unit, struct buf *out)
{
	if (!run->open) {
		if (buf_append_byte(out, '&') < 0)
			return -1;
		run->open = true;
	}
	run->bits = run->bits << 16 | unit;
	run->nbits += 16;
	while (run->nbits >= 6) {
		run->nbits -= 6;
		if (buf_append_byte(out, (uint8_t)mbase64_char(run->bits >> run->nbits)) < 0)
			return -1;
	}
	run->bits &= (1u << run->nbits) - 1;
	return 0;
}

/* Code points beyond the BMP go out as a surrogate pair. */
static int run_put_code_point(struct utf16_run *run, uint32_t cp, struct buf *out)
{
	if (cp < 0x10000)
		return run_put_unit(run, (uint16_t)cp, out);
	cp -= 0x10000;
	if (run_put_unit(run, (uint16_t)(0xd800 | cp >> 10), out) < 0)
		return -1;
	return run_put_unit(run, (uint16_t)(0xdc00 | (cp & 0x3ff)), out);
}

/* Flushes the last bits, zero-padded to a whole base64 character, and the
   closing '-' (never optional in the modified form). */
static int run_close(struct utf16_run *run, struct buf *out)
{
	if (!run->open)
		return 0;
	if (run->nbits > 0 &&
	    buf_append_byte(out, (uint8_t)mbase64_char(run->bits << (6 - run->nbits))) < 0)
		return -1;
	*run = (struct utf16_run){ 0 };
	return buf_append_byte(out, '-');
}

static int encode_code_point(struct utf16_run *run, uint32_t cp, struct buf *out)
{
	if (cp == 0)
		return -1;
	if (!is_printable_ascii(cp))
		return run_put_code_point(run, cp, out);
	if (run_close(run, out) < 0)
		return -1;
	if (cp == '&')
		return buf_append_str(out, "&-");
	return buf_append_byte(out, (uint8_t)cp);
}

int imap_mutf7_encode(struct span utf8, struct buf *out)
{
	size_t orig_len = out->len;
	struct utf16_run run = { 0 };
	for (size_t i = 0; i < utf8.len;) {
		size_t n = utf8_seq_len(utf8.ptr + i, utf8.len - i);
		if (n == 0 || encode_code_point(&run, utf8_seq_value(utf8.ptr + i, n), out) < 0)
			return fail_restoring(out, orig_len);
		i += n;
	}
	if (run_close(&run, out) < 0)
		return fail_restoring(out, orig_len);
	return 0;
}

/* ---------------------------------------------------------------- decode */

static bool is_high_surrogate(uint32_t unit)
{
	return unit >= 0xd800 && unit <= 0xdbff;
}

static bool is_low_surrogate(uint32_t unit)
{
	return unit >= 0xdc00 && unit <= 0xdfff;
}

/* One UTF-16 unit of a run. *high holds a high surrogate waiting for its
   partner (0: none). */
static int decode_unit(uint32_t unit, uint32_t *high, struct buf *out)
{
	if (*high != 0) {
		if (!is_low_surrogate(unit))
			return -1;
		uint32_t cp = 0x10000 + ((*high - 0xd800) << 10) + (unit - 0xdc00);
		*high = 0;
		return utf8_append_cp(out, cp);
	}
	if (is_high_surrogate(unit)) {
		*high = unit;
		return 0;
	}
	/* A lone low surrogate, NUL, or a character that must be written as
	   itself: each would give a second spelling of some name, or none. */
	if (is_low_surrogate(unit) || unit == 0 || is_printable_ascii(unit))
		return -1;
	return utf8_append_cp(out, unit);
}

/* Decodes the run that starts after the '&' at in.ptr[*pos - 1], through its
   closing '-'; *pos ends up after the '-'. */
static int decode_run(struct span in, size_t *pos, struct buf *out)
{
	uint32_t bits = 0, high = 0;
	unsigned int nbits = 0;
	size_t i = *pos;
	for (;; i++) {
		if (i == in.len)
			return -1; /* no closing '-' */
		if (in.ptr[i] == '-')
			break;
		int value = mbase64_value(in.ptr[i]);
		if (value < 0)
			return -1;
		bits = bits << 6 | (uint32_t)value;
		nbits += 6;
		if (nbits >= 16) {
			nbits -= 16;
			if (decode_unit(bits >> nbits, &high, out) < 0)
				return -1;
			bits &= (1u << nbits) - 1;
		}
	}
	/* The encoder pads the last unit with fewer than 6 zero bits; a whole
	   extra character or set padding bits would be a second spelling. This
	   also refuses a run too short to hold any unit. */
	if (nbits >= 6 || bits != 0 || high != 0)
		return -1;
	*pos = i + 1;
	return 0;
}

int imap_mutf7_decode(struct span mutf7, struct buf *out)
{
	size_t orig_len = out->len;
	/* The encoder puts everything between two printable characters into
	   one run, so a run right after another is not canonical. */
	bool after_run = false;
	size_t i = 0;
	while (i < mutf7.len) {
		uint8_t c = mutf7.ptr[i];
		int ret;
		if (c != '&') {
			ret = is_printable_ascii(c) ? buf_append_byte(out, c) : -1;
			i++;
			after_run = false;
		} else if (i + 1 < mutf7.len && mutf7.ptr[i + 1] == '-') {
			ret = buf_append_byte(out, '&');
			i += 2;
			after_run = false;
		} else if (after_run) {
			ret = -1;
		} else {
			i++;
			ret = decode_run(mutf7, &i, out);
			after_run = true;
		}
		if (ret < 0)
			return fail_restoring(out, orig_len);
	}
	return 0;
}
