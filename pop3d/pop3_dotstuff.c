#include "pop3d/pop3_dotstuff.h"

#include <string.h>

void pop3_dotstuff_init(struct pop3_dotstuff *st, uint64_t body_lines)
{
	*st = (struct pop3_dotstuff){ .body_lines = body_lines, .prev = '\n' };
}

/* A line ended (its LF was just written). */
static void line_ended(struct pop3_dotstuff *st, bool empty)
{
	if (st->in_body) {
		if (st->body_lines != POP3_DOTSTUFF_ALL && --st->body_lines == 0)
			st->done = true;
	} else if (empty) {
		/* The blank line that ends the header (RFC 5322 2.1). */
		st->in_body = true;
		if (st->body_lines == 0)
			st->done = true;
	}
	st->line_len = 0;
	st->prev = '\n';
}

size_t pop3_dotstuff_feed(struct pop3_dotstuff *st, const uint8_t *in, size_t len,
			  struct buf *out)
{
	/* Input goes out in runs, appended only where a byte must be added
	   (a stuffed dot, the CR of a bare LF) and at the end: a stored
	   message needs few, so most of a chunk is one copy. */
	size_t i = 0, run = 0;
	while (i < len && !st->done) {
		if (st->line_len == 0 && in[i] == '.') {
			buf_append(out, in + run, i - run);
			buf_append_byte(out, '.');
			run = i;
		}
		const uint8_t *lf = memchr(in + i, '\n', len - i);
		size_t end = lf != NULL ? (size_t)(lf - in) : len;
		if (end > i) {
			st->line_len += end - i;
			st->prev = in[end - 1];
			i = end;
		}
		if (lf == NULL)
			break;
		/* CRLF stays; a bare LF gets its CR. */
		bool had_cr = st->line_len > 0 && st->prev == '\r';
		if (!had_cr) {
			buf_append(out, in + run, i - run);
			buf_append_byte(out, '\r');
			run = i;
		}
		i++; /* the LF goes with the run */
		line_ended(st, st->line_len == 0 || (st->line_len == 1 && had_cr));
	}
	buf_append(out, in + run, i - run);
	return i;
}

bool pop3_dotstuff_verbatim(struct pop3_dotstuff *st, const uint8_t *in, size_t len)
{
	if (st->body_lines != POP3_DOTSTUFF_ALL)
		return false;
	struct pop3_dotstuff next = *st;
	size_t i = 0;
	while (i < len) {
		if (next.line_len == 0 && in[i] == '.')
			return false;
		const uint8_t *lf = memchr(in + i, '\n', len - i);
		size_t end = lf != NULL ? (size_t)(lf - in) : len;
		if (end > i) {
			next.line_len += end - i;
			next.prev = in[end - 1];
		}
		if (lf == NULL)
			break;
		if (next.line_len == 0 || next.prev != '\r')
			return false; /* a bare LF */
		i = end + 1;
		line_ended(&next, next.line_len == 1);
	}
	*st = next;
	return true;
}

void pop3_dotstuff_end(struct pop3_dotstuff *st, struct buf *out)
{
	if (st->line_len > 0)
		buf_append_str(out, st->prev == '\r' ? "\n" : "\r\n");
	buf_append_str(out, ".\r\n");
	st->line_len = 0;
	st->prev = '\n';
}
