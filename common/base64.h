/* Strict base64 (RFC 4648 section 4) for SASL exchanges. */
#ifndef PETREL_COMMON_BASE64_H
#define PETREL_COMMON_BASE64_H

#include "common/buf.h"

/* Appends the encoding of data to out. Returns 0, or -1 past out->max. */
int base64_encode(struct buf *out, struct span data);
/* Appends the decoded bytes to out. Only the canonical encoding is
   accepted: padding is required, the unused bits before it must be zero,
   and whitespace or any other character is an error. Returns 0 or -1. */
int base64_decode(struct buf *out, struct span text);
/* The 6-bit value of a base64 alphabet character, or -1. */
int base64_char_value(uint8_t c);
/* The alphabet character for a 6-bit value (only the low 6 bits count). */
char base64_char(unsigned int value);

#endif
