#include "common/utf8.h"

#include "common/buf.h"

size_t utf8_seq_len(const uint8_t *p, size_t avail)
{
	if (avail == 0)
		return 0;
	uint8_t c = p[0];
	if (c < 0x80)
		return 1;
	size_t n;
	uint32_t min, cp;
	if ((c & 0xe0) == 0xc0) {
		n = 2, min = 0x80, cp = c & 0x1f;
	} else if ((c & 0xf0) == 0xe0) {
		n = 3, min = 0x800, cp = c & 0x0f;
	} else if ((c & 0xf8) == 0xf0) {
		n = 4, min = 0x10000, cp = c & 0x07;
	} else {
		return 0;
	}
	if (avail < n)
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (p[i] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

bool utf8_valid(const uint8_t *p, size_t len)
{
	for (size_t i = 0; i < len;) {
		size_t n = utf8_seq_len(p + i, len - i);
		if (n == 0)
			return false;
		i += n;
	}
	return true;
}

uint32_t utf8_seq_value(const uint8_t *p, size_t n)
{
	if (n <= 1)
		return p[0];
	/* The lead byte keeps 7 - n payload bits. */
	uint32_t cp = p[0] & (0x7fu >> n);
	for (size_t i = 1; i < n; i++)
		cp = cp << 6 | (p[i] & 0x3f);
	return cp;
}

int utf8_append_cp(struct buf *out, uint32_t cp)
{
	if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
		cp = 0xFFFD;
	uint8_t b[4];
	size_t n;
	if (cp < 0x80) {
		b[0] = (uint8_t)cp;
		n = 1;
	} else if (cp < 0x800) {
		b[0] = (uint8_t)(0xC0 | (cp >> 6));
		b[1] = (uint8_t)(0x80 | (cp & 0x3F));
		n = 2;
	} else if (cp < 0x10000) {
		b[0] = (uint8_t)(0xE0 | (cp >> 12));
		b[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
		b[2] = (uint8_t)(0x80 | (cp & 0x3F));
		n = 3;
	} else {
		b[0] = (uint8_t)(0xF0 | (cp >> 18));
		b[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3F));
		b[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
		b[3] = (uint8_t)(0x80 | (cp & 0x3F));
		n = 4;
	}
	return buf_append(out, b, n);
}
