#include "common/mailheader.h"

#include "common/buf.h"

#include <string.h>

bool mailheader_next_field(const uint8_t *h, size_t len, size_t *pos, size_t *start_r,
			   size_t *len_r)
{
	size_t p = *pos;
	if (p >= len)
		return false;
	size_t start = p;
	for (;;) {
		const uint8_t *lf = memchr(h + p, '\n', len - p);
		p = lf != NULL ? (size_t)(lf - h) + 1 : len;
		if (p >= len || (h[p] != ' ' && h[p] != '\t'))
			break;
	}
	size_t flen = p - start;
	if (flen > 0 && h[start + flen - 1] == '\n')
		flen--;
	if (flen > 0 && h[start + flen - 1] == '\r')
		flen--;
	*start_r = start;
	*len_r = flen;
	*pos = p;
	return true;
}

size_t mailheader_field_name(const uint8_t *field, size_t len, size_t *value_r)
{
	const uint8_t *colon = memchr(field, ':', len);
	if (colon == NULL)
		return 0;
	*value_r = (size_t)(colon - field) + 1;
	size_t n = (size_t)(colon - field);
	while (n > 0 && (field[n - 1] == ' ' || field[n - 1] == '\t'))
		n--;
	return n;
}

int mailheader_directory(const uint8_t *h, size_t len, struct buf *out)
{
	if (len > UINT32_MAX)
		return -1;
	size_t pos = 0, start, flen;
	uint32_t at = 0;
	while (pos < len && !mailheader_at_blank_line(h, len, pos) &&
	       mailheader_next_field(h, len, &pos, &start, &flen)) {
		at = (uint32_t)start;
		if (buf_append(out, &at, 4) < 0)
			return -1;
	}
	at = (uint32_t)pos;
	return buf_append(out, &at, 4);
}

bool mailheader_directory_field(const uint8_t *h, size_t len, const uint8_t *dir, size_t i,
				size_t *start_r, size_t *len_r)
{
	uint32_t start, end;
	memcpy(&start, dir + 4 * i, 4);
	memcpy(&end, dir + 4 * (i + 1), 4);
	if (start > end || end > len)
		return false;
	/* The field without its final line end, as mailheader_next_field(). */
	size_t flen = end - start;
	if (flen > 0 && h[start + flen - 1] == '\n')
		flen--;
	if (flen > 0 && h[start + flen - 1] == '\r')
		flen--;
	*start_r = start;
	*len_r = flen;
	return true;
}
