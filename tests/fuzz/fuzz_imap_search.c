/*
 * Fuzz target for SEARCH translation. The input is tokenized as a command
 * in wire form (CRLF appended if missing) and its arguments translated, as
 * for "tag SEARCH <args>". The mailbox (empty, one message, many) is picked
 * from the input's length so each shape gets exercised.
 *
 * Besides not crashing, the result must be a tree the store can trust:
 * NOT has one child, OR two, AND at least two; UID ranges are ascending,
 * disjoint and first <= last; texts are NUL-free valid UTF-8; nesting stays
 * within IMAP_SEARCH_MAX_DEPTH; a BAD always explains itself.
 *
 * The first argument is also parsed as a sequence set on its own, and the
 * set checked against imap_seqset_contains() and imap_seqset_size().
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/utf8.h"
#include "imapd/imap_parser.h"
#include "imapd/imap_search.h"
#include "imapd/imap_seqset.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct mailbox {
	uint32_t messages, max_uid;
};

/* UIDs with gaps, ascending: seq * 3 + 1. */
static uint32_t seq_to_uid(void *ctx, uint32_t seq)
{
	const struct mailbox *mb = ctx;
	if (seq < 1 || seq > mb->messages)
		abort();
	return seq * 3 + 1;
}

static void check_text(const char *text)
{
	if (text == NULL || !utf8_valid((const uint8_t *)text, strlen(text)))
		abort();
}

static void check_ranges(const struct store_search *k)
{
	for (size_t i = 0; i < k->range_count; i++) {
		if (k->ranges[i].first > k->ranges[i].last)
			abort();
		if (i > 0 && k->ranges[i - 1].last >= k->ranges[i].first)
			abort();
	}
}

static void check(const struct store_search *k, unsigned int depth)
{
	if (depth > IMAP_SEARCH_MAX_DEPTH)
		abort();
	switch (k->kind) {
	case STORE_SEARCH_AND:
	case STORE_SEARCH_OR:
	case STORE_SEARCH_NOT: {
		size_t want = k->kind == STORE_SEARCH_NOT ? 1 : 2;
		if (k->kind == STORE_SEARCH_AND ? k->child_count < 2 : k->child_count != want)
			abort();
		for (size_t i = 0; i < k->child_count; i++)
			check(&k->children[i], depth + 1);
		break;
	}
	case STORE_SEARCH_UIDS:
		check_ranges(k);
		break;
	case STORE_SEARCH_HEADER:
		if (k->field == NULL || k->field[0] == '\0' || strchr(k->field, ':') != NULL)
			abort();
		check_text(k->text);
		break;
	case STORE_SEARCH_BODY:
	case STORE_SEARCH_TEXT:
		check_text(k->text);
		break;
	case STORE_SEARCH_FLAGS_SET:
	case STORE_SEARCH_FLAGS_UNSET:
		if ((k->flags & ~STORE_FLAGS_ALL) != 0)
			abort();
		for (size_t i = 0; i < k->keywords.count; i++)
			if (k->keywords.names[i][0] == '\0' || k->keywords.names[i][0] == '\\')
				abort();
		break;
	case STORE_SEARCH_LARGER:
	case STORE_SEARCH_SMALLER:
		if (k->number > UINT32_MAX)
			abort();
		break;
	default:
		break;
	}
}

static void check_seqset(struct arena *arena, struct span text, uint32_t star)
{
	struct imap_seqset set;
	if (imap_seqset_parse(arena, text, star, &set) < 0)
		return;
	uint64_t size = 0;
	for (size_t i = 0; i < set.count; i++) {
		const struct imap_seq_range *r = &set.ranges[i];
		if (r->first > r->last || (i > 0 && (uint64_t)set.ranges[i - 1].last + 1 >= r->first))
			abort(); /* unsorted, overlapping or adjacent */
		if (!imap_seqset_contains(&set, r->first) || !imap_seqset_contains(&set, r->last))
			abort();
		if (r->first > 0 && imap_seqset_contains(&set, r->first - 1))
			abort();
		if (r->last < UINT32_MAX && imap_seqset_contains(&set, r->last + 1))
			abort();
		size += (uint64_t)r->last - r->first + 1;
	}
	if (set.count == 0 || size != imap_seqset_size(&set))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct imap_parse_limits limits = { .max_depth = 300, .max_args = 10000 };
	static const struct mailbox mailboxes[] = { { 0, 0 }, { 1, 4 }, { 1000, 3001 } };
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
		const struct mailbox *mb = &mailboxes[size % 3];
		struct imap_search_context ctx = { .messages = mb->messages,
						   .max_uid = mb->max_uid,
						   .seq_to_uid = seq_to_uid,
						   .ctx = (void *)mb };
		if (cmd.count > 0 && cmd.args[0].type == IMAP_ARG_ATOM)
			check_seqset(&arena, cmd.args[0].str, mb->messages);
		struct store_search *root;
		switch (imap_search_parse(&arena, cmd.args, cmd.count, &ctx, &root, &error)) {
		case IMAP_SEARCH_OK:
			if (root == NULL)
				abort();
			check(root, 0);
			break;
		case IMAP_SEARCH_BAD:
			if (root != NULL || error == NULL || error[0] == '\0' ||
			    strpbrk(error, "\r\n") != NULL)
				abort();
			break;
		case IMAP_SEARCH_BADCHARSET:
			if (root != NULL)
				abort();
			break;
		}
	}
	arena_free(&arena);
	free(wire);
	return 0;
}
