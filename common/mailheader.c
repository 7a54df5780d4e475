#include "common/mailheader.h"

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
