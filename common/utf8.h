/* UTF-8 validity checks (RFC 3629: shortest forms only, no surrogates). */
#ifndef PETREL_COMMON_UTF8_H
#define PETREL_COMMON_UTF8_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Length of the valid UTF-8 sequence starting at p (1..4), or 0 if the
   bytes there are not one. */
size_t utf8_seq_len(const uint8_t *p, size_t avail);
bool utf8_valid(const uint8_t *p, size_t len);
/* The code point of the n-byte sequence at p, where n came from
   utf8_seq_len() (so the bytes are known to be valid). */
uint32_t utf8_seq_value(const uint8_t *p, size_t n);

struct buf;
/* Appends one code point as UTF-8; surrogates and values beyond U+10FFFF
   become U+FFFD. Returns 0, or -1 past out->max (nothing appended). */
int utf8_append_cp(struct buf *out, uint32_t cp);

/* The value of a hexadecimal digit (either case), or -1. */
static inline int hex_digit_value(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

#endif
