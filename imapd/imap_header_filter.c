/*
 * HEADER.FIELDS and HEADER.FIELDS.NOT (RFC 3501 6.4.5): the chosen fields
 * of a header block, whole (with continuation lines), in message order,
 * then the blank line - which is also all the answer holds when no field
 * matches.
 *
 * The store keeps mail with CRLF line ends, but a header block can still be
 * anything: lines without a colon, no blank line at the end, bare LF, very
 * long lines. None of it stops the filter, and every line it writes ends in
 * CRLF, so the answer is a well-formed header block whatever came in.
 */
#include "imapd/imap_fetch.h"

#include <string.h>

#include "common/mailheader.h"

static uint8_t ascii_lower(uint8_t c)
{
	return c >= 'A' && c <= 'Z' ? (uint8_t)(c + 'a' - 'A') : c;
}

/* Compares up to the list entry's NUL, never past it: the name may hold
   NUL bytes, so strncasecmp could stop early and match a shorter entry. */
static bool name_is(const uint8_t *name, size_t len, const char *field)
{
	for (size_t k = 0; k < len; k++)
		if (field[k] == '\0' || ascii_lower(name[k]) != ascii_lower((uint8_t)field[k]))
			return false;
	return field[len] == '\0';
}

static bool name_listed(const uint8_t *name, size_t len, const char *const *fields, size_t count)
{
	for (size_t i = 0; i < count; i++)
		if (name_is(name, len, fields[i]))
			return true;
	return false;
}

/* A field whose name is in the list. A line without a colon has the empty
   name, as to Dovecot: only "" names it. */
static bool field_listed(const uint8_t *field, size_t len, const char *const *fields, size_t count)
{
	size_t value;
	size_t name_len = mailheader_field_name(field, len, &value);
	return name_listed(field, name_len, fields, count);
}

/* Copies a field line by line, each line ending in CRLF. */
static int append_field(struct buf *out, const uint8_t *field, size_t len)
{
	size_t pos = 0;
	while (pos <= len) {
		const uint8_t *lf = memchr(field + pos, '\n', len - pos);
		size_t end = lf != NULL ? (size_t)(lf - field) : len;
		size_t line_end = end > pos && field[end - 1] == '\r' ? end - 1 : end;
		if (buf_append(out, field + pos, line_end - pos) < 0 || buf_append(out, "\r\n", 2) < 0)
			return -1;
		pos = end + 1;
	}
	return 0;
}

/* The blank line that ends the header: an empty line, CRLF or bare LF. */
static bool at_blank_line(const uint8_t *h, size_t len, size_t pos)
{
	return h[pos] == '\n' || (h[pos] == '\r' && pos + 1 < len && h[pos + 1] == '\n');
}

int imap_header_filter(struct span header, const char *const *fields, size_t count, bool not,
		       struct buf *out)
{
	const uint8_t *h = header.ptr;
	size_t pos = 0, start, len;

	while (pos < header.len && !at_blank_line(h, header.len, pos) &&
	       mailheader_next_field(h, header.len, &pos, &start, &len)) {
		if (field_listed(h + start, len, fields, count) != not &&
		    append_field(out, h + start, len) < 0)
			return -1;
	}
	return buf_append(out, "\r\n", 2);
}
