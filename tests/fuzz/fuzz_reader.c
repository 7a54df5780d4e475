/*
 * Fuzz target for the line/literal reader. The first bytes choose limits
 * and how the input is split into feeds; literal announcements are accepted,
 * rejected or skipped depending on their size, as a protocol would. Checks:
 * no crash, lines never exceed max_line, literal pieces never exceed what was
 * announced, and the buffer stays within max_line plus one feed.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/reader.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	struct reader_limits limits = { .max_line = 1 + data[0] % 64, .literals = data[1] & 1 };
	size_t split = 1 + (data[1] >> 1) % 16;
	data += 2;
	size -= 2;

	struct reader r;
	reader_init(&r, &limits);
	uint64_t literal_expected = 0;
	for (size_t off = 0; off < size; off += split) {
		size_t n = size - off < split ? size - off : split;
		uint8_t *piece = malloc(n); /* exact size: ASan sees overreads */
		if (piece == NULL)
			abort();
		memcpy(piece, data + off, n);
		reader_feed(&r, piece, n);
		free(piece);
		if (r.in.len - r.pos > limits.max_line + 2 + split)
			abort();
		struct reader_item item;
		enum reader_result res;
		while ((res = reader_next(&r, &item)) != READER_NEED_MORE) {
			if (res == READER_LINE) {
				if (item.data.len > limits.max_line || literal_expected != 0)
					abort();
				if (item.has_literal) {
					if (item.literal_size <= 32)
						reader_literal_accept(&r, 32);
					else if (item.literal_nonsync)
						reader_literal_skip(&r);
					else
						reader_literal_reject(&r);
					if (r.state == READER_STATE_LITERAL)
						literal_expected = item.literal_size;
				}
			} else if (res == READER_LITERAL) {
				if (item.data.len == 0 || item.data.len > literal_expected ||
				    item.literal_left != literal_expected - item.data.len)
					abort();
				literal_expected = item.literal_left;
			}
		}
	}
	reader_deinit(&r);
	return 0;
}
