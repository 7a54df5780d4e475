/*
 * The DATA stream of SMTP/LMTP (RFC 5321 4.5.2): removes the dot-stuffing,
 * finds the terminating "CRLF.CRLF", and writes line ends as CRLF (a bare
 * LF is taken as a line end, as every MTA does). Works on pieces of any
 * size, split anywhere.
 *
 * With `stuffed` false it only normalises line ends: BDAT chunks carry the
 * message as is (RFC 3030), but our DKIM and store want CRLF.
 */
#ifndef PETREL_LMTPD_DOT_STREAM_H
#define PETREL_LMTPD_DOT_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

enum dot_state {
	DOT_LINE_START,	/* at the start of a line */
	DOT_DOT,	/* "." at the start of a line */
	DOT_DOT_CR,	/* ".\r" at the start of a line */
	DOT_MID,	/* inside a line */
	DOT_CR,		/* "\r" inside a line */
	DOT_END,	/* the terminator was seen */
};

struct dot_stream {
	enum dot_state state;
	bool stuffed;
};

void dot_stream_init(struct dot_stream *d, bool stuffed);
/* Decodes input into out (appended). Returns the number of input bytes
   used: all of them, unless the terminator ends earlier (the rest belongs
   to the next command). */
size_t dot_stream_feed(struct dot_stream *d, const uint8_t *in, size_t len, struct buf *out);
/* True once "CRLF.CRLF" was seen (stuffed mode only). */
bool dot_stream_done(const struct dot_stream *d);
/* End of a BDAT LAST message: a trailing bare CR is kept as data. */
void dot_stream_finish(struct dot_stream *d, struct buf *out);

#endif
