/*
 * Fuzz target for the IMAP tokenizer. The input is treated as a command in
 * wire form (CRLF appended if missing). Besides not crashing, every span in
 * the result must lie inside the input or the arena, and list counts must
 * be consistent - checked by walking the tree and touching every byte.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "imapd/imap_parser.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static size_t walk(const struct imap_arg *args, size_t count, unsigned int depth)
{
	size_t sum = 0;
	if (depth > 100)
		abort(); /* deeper than the limit we set */
	for (size_t i = 0; i < count; i++) {
		const struct imap_arg *a = &args[i];
		if (a->type == IMAP_ARG_LIST) {
			sum += walk(a->list, a->count, depth + 1);
			continue;
		}
		for (size_t k = 0; k < a->str.len; k++)
			sum += a->str.ptr[k];
	}
	return sum;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct imap_parse_limits limits = { .max_depth = 100, .max_args = 10000 };
	uint8_t *wire = malloc(size + 2);
	if (wire == NULL)
		abort();
	memcpy(wire, data, size);
	size_t len = size;
	if (len < 2 || wire[len - 2] != '\r' || wire[len - 1] != '\n') {
		wire[len++] = '\r';
		wire[len++] = '\n';
	}
	struct arena arena;
	arena_init(&arena, 512);
	struct imap_command_line cmd;
	const char *error = NULL;
	if (imap_parse_command(&arena, span_make(wire, len), &limits, &cmd, &error) == 0) {
		volatile size_t sum = walk(cmd.args, cmd.count, 0);
		(void)sum;
		if (cmd.tag.len == 0 || cmd.name.len == 0)
			abort();
	} else if (error == NULL) {
		abort(); /* every failure explains itself */
	}
	struct span tag;
	imap_parse_tag(span_make(wire, len), &tag);
	arena_free(&arena);
	free(wire);
	return 0;
}
