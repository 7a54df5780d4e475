/*
 * Incremental input framing: lines, and IMAP literals.
 *
 * Bytes arrive in arbitrary pieces (reader_feed); reader_next() hands out
 * complete frames one at a time:
 *
 *   READER_LINE      a line without its CRLF (a bare LF is accepted too).
 *                    When limits.literals is set and the line ends with an
 *                    IMAP literal announcement "{n}" or "{n+}" (RFC 3501
 *                    4.3, RFC 7888), item.has_literal says so and the
 *                    reader stops until the caller decides what to do with
 *                    the literal: reader_literal_accept(), _reject() or
 *                    _skip(). Calling reader_next() before deciding is a bug
 *                    (abort).
 *   READER_LITERAL   the next piece of an accepted literal, as it arrives
 *                    (never buffered whole, so a 50 MB APPEND can stream).
 *                    After the last piece the reader is back in line mode:
 *                    the rest of the command follows as another LINE.
 *   READER_NEED_MORE nothing complete is buffered.
 *   READER_LINE_TOO_LONG
 *                    a line exceeded limits.max_line. Its bytes are dropped
 *                    as they arrive, up to and including its LF, so memory
 *                    stays bounded whatever the client sends; this result is
 *                    returned once per such line.
 *
 * Lifetime: item.data points into the reader's buffer and stays valid until
 * the next call of any reader function on the same reader.
 *
 * Memory: the reader holds at most one partial line (<= max_line) plus the
 * unprocessed rest of the last feed; it frees its buffer whenever everything
 * has been consumed, so an idle connection costs nothing here.
 */
#ifndef PETREL_COMMON_READER_H
#define PETREL_COMMON_READER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

struct reader_limits {
	size_t max_line; /* longest line accepted, CRLF not counted */
	bool literals;	 /* recognise {n} and {n+} at the end of a line */
};

enum reader_result {
	READER_LINE_TOO_LONG = -1,
	READER_NEED_MORE = 0,
	READER_LINE = 1,
	READER_LITERAL = 2,
};

struct reader_item {
	struct span data;
	/* READER_LINE */
	bool has_literal;
	bool literal_nonsync;	/* "{n+}": the client sends it without waiting */
	uint64_t literal_size;	/* saturates at UINT64_MAX for absurd announcements */
	/* READER_LITERAL */
	uint64_t literal_left;	/* literal bytes still to come after this piece */
};

enum reader_state {
	READER_STATE_LINE,
	READER_STATE_LITERAL_PENDING,
	READER_STATE_LITERAL,
	READER_STATE_SKIP_LINE,
	READER_STATE_SKIP_LITERAL,
};

struct reader {
	struct buf in;
	size_t pos;	 /* start of unconsumed bytes in `in` */
	size_t scan;	 /* bytes after pos already searched for LF */
	size_t consume;	 /* size of the item handed out last; dropped on the next call */
	struct reader_limits limits;
	enum reader_state state;
	bool literal_nonsync;
	uint64_t literal_size;
	uint64_t literal_left;
};

void reader_init(struct reader *r, const struct reader_limits *limits);
void reader_deinit(struct reader *r);
/* New limits apply from the next line on (e.g. larger ones after login). */
void reader_set_limits(struct reader *r, const struct reader_limits *limits);

/* Buffers bytes from the network. */
void reader_feed(struct reader *r, const uint8_t *data, size_t len);
enum reader_result reader_next(struct reader *r, struct reader_item *item_r);

/* Decisions about an announced literal (state LITERAL_PENDING). */
/* Receive it. Returns -1 (and changes nothing) if its size exceeds `max`. */
int reader_literal_accept(struct reader *r, uint64_t max);
/* A synchronising literal we refused: the client will not send it. */
void reader_literal_reject(struct reader *r);
/* A non-synchronising literal we refused: its bytes arrive anyway; drop them. */
void reader_literal_skip(struct reader *r);

/* Raw mode, for protocols that frame data themselves (LMTP BDAT chunks,
   DATA with its dot-terminator): the next n bytes (UINT64_MAX: until
   reader_raw_stop) are handed out as READER_LITERAL items exactly as
   buffered, without looking for lines. Call it in line mode, after the
   command's LINE item was handed out. */
void reader_raw_begin(struct reader *r, uint64_t n);
/* Ends raw mode early: the last `unused` bytes of the item handed out last
   were not consumed and are read again, in line mode, by the next
   reader_next() (e.g. commands pipelined after DATA's final dot). */
void reader_raw_stop(struct reader *r, size_t unused);

/* Drops everything buffered and returns to line mode (STARTTLS: plaintext
   sent after the command must never be read as if it came over TLS). */
void reader_reset(struct reader *r);
/* Bytes buffered and not yet handed out. */
size_t reader_buffered(const struct reader *r);

#endif
