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

#endif
