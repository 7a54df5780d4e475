#include "common/base64.h"

static const char alphabet[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int base64_encode(struct buf *out, struct span data)
{
	if (buf_reserve(out, (data.len + 2) / 3 * 4) < 0)
		return -1;
	size_t i = 0;
	for (; i + 3 <= data.len; i += 3) {
		uint32_t v = (uint32_t)data.ptr[i] << 16 | (uint32_t)data.ptr[i + 1] << 8 |
			     data.ptr[i + 2];
		char q[4] = { alphabet[v >> 18], alphabet[(v >> 12) & 63], alphabet[(v >> 6) & 63],
			      alphabet[v & 63] };
		buf_append(out, q, 4);
	}
	if (i < data.len) {
		uint32_t v = (uint32_t)data.ptr[i] << 16;
		if (i + 1 < data.len)
			v |= (uint32_t)data.ptr[i + 1] << 8;
		char q[4] = { alphabet[v >> 18], alphabet[(v >> 12) & 63],
			      i + 1 < data.len ? alphabet[(v >> 6) & 63] : '=', '=' };
		buf_append(out, q, 4);
	}
	return 0;
}

char base64_char(unsigned int value)
{
	return alphabet[value & 63];
}

int base64_char_value(uint8_t c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

int base64_decode(struct buf *out, struct span text)
{
	if (text.len % 4 != 0)
		return -1;
	for (size_t i = 0; i < text.len; i += 4) {
		const uint8_t *q = text.ptr + i;
		bool last = i + 4 == text.len;
		int v[4];
		int pad = 0;
		for (int k = 0; k < 4; k++) {
			if (q[k] == '=' && last && k >= 2) {
				v[k] = 0;
				pad++;
				continue;
			}
			if (pad > 0) /* data after padding */
				return -1;
			v[k] = base64_char_value(q[k]);
			if (v[k] < 0)
				return -1;
		}
		uint32_t n = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 |
			     (uint32_t)v[3];
		/* RFC 4648 3.5: the bits below the last full byte must be zero,
		   so every byte string has exactly one encoding. */
		if ((pad == 1 && (n & 0xff) != 0) || (pad == 2 && (n & 0xffff) != 0))
			return -1;
		uint8_t bytes[3] = { (uint8_t)(n >> 16), (uint8_t)(n >> 8), (uint8_t)n };
		if (buf_append(out, bytes, (size_t)(3 - pad)) < 0)
			return -1;
	}
	return 0;
}
