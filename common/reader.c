#include "common/reader.h"

#include <stdlib.h>
#include <string.h>

void reader_init(struct reader *r, const struct reader_limits *limits)
{
	memset(r, 0, sizeof(*r));
	r->limits = *limits;
	r->state = READER_STATE_LINE;
}

void reader_deinit(struct reader *r)
{
	buf_free(&r->in);
}

void reader_set_limits(struct reader *r, const struct reader_limits *limits)
{
	r->limits = *limits;
}

size_t reader_buffered(const struct reader *r)
{
	return r->in.len - r->pos - r->consume;
}

void reader_feed(struct reader *r, const uint8_t *data, size_t len)
{
	if (len == 0)
		return;
	/* Move the unconsumed tail to the front before growing; it is at most
	   one partial line, so this copy is bounded by max_line. */
	if (r->pos > 0) {
		buf_consume(&r->in, r->pos);
		r->pos = 0;
	}
	/* The buffer has no hard maximum: the connection stops reading while
	   the protocol is busy, and reader_next() drops oversized lines, so its
	   size is bounded by max_line plus one socket read. */
	buf_append(&r->in, data, len);
}

void reader_reset(struct reader *r)
{
	buf_free(&r->in);
	r->pos = r->scan = r->consume = 0;
	r->state = READER_STATE_LINE;
	r->literal_left = r->literal_size = 0;
}

/* Recognises "{digits}" or "{digits+}" at the end of a line. */
static bool parse_literal_announce(struct span line, uint64_t *size_r, bool *nonsync_r)
{
	if (line.len < 3 || line.ptr[line.len - 1] != '}')
		return false;
	size_t end = line.len - 1;
	bool nonsync = false;
	if (line.ptr[end - 1] == '+') {
		nonsync = true;
		end--;
	}
	size_t start = end;
	while (start > 0 && line.ptr[start - 1] >= '0' && line.ptr[start - 1] <= '9')
		start--;
	if (start == end || start == 0 || line.ptr[start - 1] != '{')
		return false;
	uint64_t n = 0;
	for (size_t i = start; i < end; i++) {
		unsigned digit = (unsigned)(line.ptr[i] - '0');
		if (n > (UINT64_MAX - digit) / 10) {
			n = UINT64_MAX; /* absurd; the caller will refuse it */
			break;
		}
		n = n * 10 + digit;
	}
	*size_r = n;
	*nonsync_r = nonsync;
	return true;
}

static enum reader_result next_line(struct reader *r, struct reader_item *item)
{
	const uint8_t *base = r->in.data + r->pos;
	size_t avail = r->in.len - r->pos;
	const uint8_t *lf = avail > r->scan ? memchr(base + r->scan, '\n', avail - r->scan) : NULL;

	if (lf == NULL) {
		r->scan = avail;
		/* +1: the CR of a line of exactly max_line may already be here. */
		if (avail > r->limits.max_line + 1) {
			r->pos = r->in.len;
			r->scan = 0;
			r->state = READER_STATE_SKIP_LINE;
			return READER_LINE_TOO_LONG;
		}
		return READER_NEED_MORE;
	}

	size_t frame = (size_t)(lf - base) + 1;
	size_t len = frame - 1;
	if (len > 0 && base[len - 1] == '\r')
		len--;
	r->scan = 0;
	if (len > r->limits.max_line) {
		r->pos += frame;
		return READER_LINE_TOO_LONG;
	}

	memset(item, 0, sizeof(*item));
	item->data = span_make(base, len);
	r->consume = frame;
	if (r->limits.literals &&
	    parse_literal_announce(item->data, &item->literal_size, &item->literal_nonsync)) {
		item->has_literal = true;
		r->literal_size = item->literal_size;
		r->literal_nonsync = item->literal_nonsync;
		r->state = READER_STATE_LITERAL_PENDING;
	}
	return READER_LINE;
}

enum reader_result reader_next(struct reader *r, struct reader_item *item_r)
{
	r->pos += r->consume;
	r->consume = 0;

	for (;;) {
		size_t avail = r->in.len - r->pos;
		switch (r->state) {
		case READER_STATE_LITERAL_PENDING:
			abort(); /* the caller must accept, reject or skip first */
		case READER_STATE_LINE:
			if (avail == 0)
				goto need_more;
			return next_line(r, item_r);
		case READER_STATE_SKIP_LINE: {
			if (avail == 0)
				goto need_more;
			const uint8_t *lf = memchr(r->in.data + r->pos, '\n', avail);
			if (lf == NULL) {
				r->pos = r->in.len;
				goto need_more;
			}
			r->pos = (size_t)(lf - r->in.data) + 1;
			r->state = READER_STATE_LINE;
			continue;
		}
		case READER_STATE_SKIP_LITERAL: {
			size_t n = avail < r->literal_left ? avail : (size_t)r->literal_left;
			r->pos += n;
			r->literal_left -= n;
			if (r->literal_left > 0)
				goto need_more;
			r->state = READER_STATE_LINE;
			continue;
		}
		case READER_STATE_LITERAL: {
			if (r->literal_left == 0) {
				r->state = READER_STATE_LINE;
				continue;
			}
			if (avail == 0)
				goto need_more;
			size_t n = avail < r->literal_left ? avail : (size_t)r->literal_left;
			memset(item_r, 0, sizeof(*item_r));
			item_r->data = span_make(r->in.data + r->pos, n);
			r->literal_left -= n;
			item_r->literal_left = r->literal_left;
			r->consume = n;
			if (r->literal_left == 0)
				r->state = READER_STATE_LINE;
			return READER_LITERAL;
		}
		}
	}
need_more:
	if (r->pos == r->in.len) {
		/* Everything consumed: give the memory back while idle. */
		buf_free(&r->in);
		r->pos = 0;
		r->scan = 0;
	}
	return READER_NEED_MORE;
}

int reader_literal_accept(struct reader *r, uint64_t max)
{
	if (r->state != READER_STATE_LITERAL_PENDING)
		abort();
	if (r->literal_size > max)
		return -1;
	r->state = READER_STATE_LITERAL;
	r->literal_left = r->literal_size;
	return 0;
}

void reader_literal_reject(struct reader *r)
{
	if (r->state != READER_STATE_LITERAL_PENDING)
		abort();
	r->state = READER_STATE_LINE;
}

void reader_literal_skip(struct reader *r)
{
	if (r->state != READER_STATE_LITERAL_PENDING)
		abort();
	r->state = READER_STATE_SKIP_LITERAL;
	r->literal_left = r->literal_size;
}

void reader_raw_begin(struct reader *r, uint64_t n)
{
	if (r->state != READER_STATE_LINE)
		abort();
	r->state = READER_STATE_LITERAL;
	r->literal_left = n;
}

void reader_raw_stop(struct reader *r, size_t unused)
{
	if (unused > r->consume)
		abort();
	r->consume -= unused;
	r->literal_left = 0;
	r->scan = 0;
	r->state = READER_STATE_LINE;
}
