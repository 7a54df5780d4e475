/*
 * A message as a POP3 multi-line response (RFC 1939 3): every line ends
 * in CRLF, a line starting with "." gets another one in front, and the
 * response ends with ".\r\n". For TOP (RFC 1939 7) it also stops after
 * the header, the blank line and the first n lines of the body.
 *
 * The store keeps messages with CRLF line ends, but a file another tool
 * left in the Maildir may hold bare LFs: a bare LF goes out as CRLF, so
 * the wire never carries one (a lone CR is passed through as data).
 *
 * The encoder works on pieces of any size, split anywhere; all of its
 * state is in the struct, so a 50 MB message is encoded a step at a time.
 * Output is at most twice the input plus the terminator.
 */
#ifndef PETREL_POP3D_POP3_DOTSTUFF_H
#define PETREL_POP3D_POP3_DOTSTUFF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

#define POP3_DOTSTUFF_ALL UINT64_MAX /* body_lines for RETR: no limit */

struct pop3_dotstuff {
	uint64_t body_lines;	/* TOP: body lines still to send */
	uint64_t line_len;	/* input bytes of the current line so far */
	uint8_t prev;		/* the last input byte */
	bool in_body;		/* the blank line after the header went out */
	bool done;		/* TOP's lines are out: the rest is not sent */
};

/* body_lines: POP3_DOTSTUFF_ALL for RETR, n for "TOP msg n". */
void pop3_dotstuff_init(struct pop3_dotstuff *st, uint64_t body_lines);

/* Encodes input, appending to out. Returns the bytes used: all of them,
   unless TOP's limit was reached (pop3_dotstuff_done), which ignores the
   rest of the message. */
size_t pop3_dotstuff_feed(struct pop3_dotstuff *st, const uint8_t *in, size_t len,
			  struct buf *out);

/*
 * For input the caller already has where its encoding should go (RETR
 * reads a file straight into the response): true if the encoding is the
 * input itself - no line starts with ".", every LF has its CR - and the
 * state has moved on as pop3_dotstuff_feed's would. False, with the state
 * unchanged, if anything must be added (then feed a copy), and always for
 * TOP, which may stop midway.
 */
bool pop3_dotstuff_verbatim(struct pop3_dotstuff *st, const uint8_t *in, size_t len);

/* True once TOP has sent all it should: the caller may stop reading. */
static inline bool pop3_dotstuff_done(const struct pop3_dotstuff *st)
{
	return st->done;
}

/* Ends the response: CRLF if the message's last line had none, then
   ".\r\n". */
void pop3_dotstuff_end(struct pop3_dotstuff *st, struct buf *out);

#endif
