/*
 * Walking the fields of an RFC 5322 header block: a field is a line and
 * the continuation lines after it (starting with space or tab). Line ends
 * may be CRLF or LF. Shared by lmtpd (checks, filtering), the store's part
 * descriptions and `petrelctl inspect`.
 */
#ifndef PETREL_COMMON_MAILHEADER_H
#define PETREL_COMMON_MAILHEADER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The field that starts at *pos: sets *start_r and *len_r (the field
   without its final line end) and moves *pos past it. Returns false when
   *pos is at the end. */
bool mailheader_next_field(const uint8_t *h, size_t len, size_t *pos, size_t *start_r,
			   size_t *len_r);

/* Length of the field name (before the colon, trailing blanks dropped), or
   0 when the field has no colon. *value_r is set to the offset just after
   the colon. */
size_t mailheader_field_name(const uint8_t *field, size_t len, size_t *value_r);

#endif
