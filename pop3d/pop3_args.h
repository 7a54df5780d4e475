/*
 * Arguments of POP3 commands (RFC 1939, RFC 2449 3): words separated by
 * spaces, message numbers and line counts in decimal. Pure functions on
 * spans, no session: unit-tested and fuzzed on their own.
 */
#ifndef PETREL_POP3D_POP3_ARGS_H
#define PETREL_POP3D_POP3_ARGS_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

/*
 * Splits args into words separated by one or more spaces (leading and
 * trailing spaces are ignored). Returns the number of words (0..max) with
 * words[] pointing into args (borrowed), or -1 if there are more than max.
 */
int pop3_args_split(struct span args, struct span *words, size_t max);

enum pop3_number_result {
	POP3_NUMBER_OK = 0,
	POP3_NUMBER_INVALID = -1,   /* empty, a sign, or anything but digits */
	POP3_NUMBER_TOO_LARGE = -2, /* digits, but above max */
};

/*
 * Parses a non-negative decimal number of digits only (leading zeros are
 * allowed: nothing in RFC 1939 forbids them) that is at most
 * max. Overflow-safe: each digit is checked before the multiplication.
 */
enum pop3_number_result pop3_number_parse(struct span word, uint64_t max, uint64_t *value_r);

#endif
