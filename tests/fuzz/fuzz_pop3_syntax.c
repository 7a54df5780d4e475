/*
 * Fuzz target for pop3d's argument parser and multi-line encoder. The
 * first byte picks the TOP line count (255: RETR), the second a split
 * point. The input is split into argument words and each parsed as a
 * number; then it is encoded whole, in two pieces, and in two pieces
 * kept as they are where they encode to themselves (pop3_dotstuff_verbatim,
 * as RETR does), which must all agree, and the response must be
 * well-formed: CRLF line ends only, every line that starts with "."
 * stuffed, and exactly one terminator, at the end.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pop3d/pop3_args.h"
#include "pop3d/pop3_dotstuff.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* One piece: fed, or (verbatim) kept as it is when it encodes to itself,
   as RETR does with what it reads into place. */
static size_t piece(struct pop3_dotstuff *st, const uint8_t *data, size_t size, bool verbatim,
		    struct buf *out)
{
	if (verbatim && pop3_dotstuff_verbatim(st, data, size)) {
		buf_append(out, data, size);
		return size;
	}
	return pop3_dotstuff_feed(st, data, size, out);
}

static size_t encode(const uint8_t *data, size_t size, size_t split, uint64_t lines,
		     bool verbatim, struct buf *out)
{
	struct pop3_dotstuff st;
	pop3_dotstuff_init(&st, lines);
	size_t used = piece(&st, data, split, verbatim, out);
	if (!pop3_dotstuff_done(&st))
		used += piece(&st, data + split, size - split, verbatim, out);
	pop3_dotstuff_end(&st, out);
	return used;
}

static void check_response(const struct buf *out)
{
	if (out->len < 3 || memcmp(out->data + out->len - 3, ".\r\n", 3) != 0)
		abort();
	bool line_start = true;
	for (size_t i = 0; i < out->len; i++) {
		uint8_t c = out->data[i];
		if (c == '\n' && (i == 0 || out->data[i - 1] != '\r'))
			abort();
		if (line_start && c == '.') {
			bool terminator = i + 3 == out->len;
			if (!terminator && (i + 1 >= out->len || out->data[i + 1] != '.'))
				abort();
			if (!terminator)
				i++; /* the stuffed dot */
		}
		line_start = c == '\n';
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	uint64_t lines = data[0] == 255 ? POP3_DOTSTUFF_ALL : data[0];
	size_t split = data[1];
	data += 2;
	size -= 2;
	if (split > size)
		split = size;

	struct span words[3];
	int n = pop3_args_split(span_make(data, size), words, 3);
	for (int i = 0; i < n; i++) {
		uint64_t v;
		if (words[i].len == 0 || memchr(words[i].ptr, ' ', words[i].len) != NULL)
			abort();
		if (pop3_number_parse(words[i], UINT32_MAX, &v) == POP3_NUMBER_OK && v > UINT32_MAX)
			abort();
	}

	struct buf whole = BUF_INIT, parts = BUF_INIT, kept = BUF_INIT;
	size_t used1 = encode(data, size, size, lines, false, &whole);
	size_t used2 = encode(data, size, split, lines, false, &parts);
	size_t used3 = encode(data, size, split, lines, true, &kept);
	if (used1 != used2 || used1 != used3 || used1 > size || whole.len != parts.len ||
	    memcmp(whole.data, parts.data, whole.len) != 0 || whole.len > 2 * size + 5 ||
	    kept.len != whole.len || memcmp(kept.data, whole.data, whole.len) != 0)
		abort();
	check_response(&whole);
	buf_free(&whole);
	buf_free(&parts);
	buf_free(&kept);
	return 0;
}
