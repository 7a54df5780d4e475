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

/* True when the line at pos is the blank line that ends a header: an empty
   line, CRLF or bare LF. */
static inline bool mailheader_at_blank_line(const uint8_t *h, size_t len, size_t pos)
{
	return h[pos] == '\n' || (h[pos] == '\r' && pos + 1 < len && h[pos + 1] == '\n');
}

/*
 * A field directory: where each field of a header block starts, then where
 * the last one ends, as u32s in host byte order - exactly the fields
 * mailheader_next_field() finds before the blank line. The store keeps one
 * with the header lines it indexes, so that picking fields (IMAP
 * HEADER.FIELDS) looks at names only instead of scanning every line.
 *
 * mailheader_directory() appends it to out; returns -1 past out's maximum
 * or for a block over 4 GiB. mailheader_directory_field() gives field i of
 * a directory of n = dir.len / 4 - 1 fields as mailheader_next_field()
 * would; it returns false when the directory does not fit the block
 * (offsets out of order or beyond it), which a caller treats as no
 * directory.
 */
struct buf;
int mailheader_directory(const uint8_t *h, size_t len, struct buf *out);
bool mailheader_directory_field(const uint8_t *h, size_t len, const uint8_t *dir, size_t i,
				size_t *start_r, size_t *len_r);

#endif
