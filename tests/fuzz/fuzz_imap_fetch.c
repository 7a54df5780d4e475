/*
 * Fuzz target for FETCH item parsing, section resolution and header
 * filtering. The input up to the first NUL byte is the FETCH items, sent
 * through the tokenizer as "a FETCH 1 <items>" CRLF; the rest is a message.
 * Checks:
 *   - a refused command always says why;
 *   - an accepted one keeps the limits (path depth, field count, partial
 *     length not 0), and every section's echo parses again to the same
 *     echo, so what the answer names is what the client can ask for;
 *   - every section resolves on the message's part table (the store's MIME
 *     parser) to a range inside the message, empty when the part is
 *     missing, and its <partial> lies inside the section;
 *   - HEADER.FIELDS(.NOT) output is lines that all end in CRLF, ending in
 *     the blank line, never longer than the header plus its line ends; the
 *     two filters share out the header's fields between them.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "imapd/imap_fetch.h"
#include "imapd/imap_parser.h"
#include "store/mime.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define check(expr)                                                                      \
	do {                                                                                 \
		if (!(expr)) {                                                               \
			fprintf(stderr, "fuzz_imap_fetch: %s failed (line %d)\n", #expr,       \
				__LINE__);                                                   \
			abort();                                                             \
		}                                                                            \
	} while (0)

static const struct imap_parse_limits limits = { .max_depth = 20, .max_args = 10000 };

/* Tokenizes "a FETCH 1 <items>" and parses the items. The wire is an
   exact-size heap copy, so ASan sees any read past it. */
static int parse_fetch(struct arena *a, const uint8_t *items, size_t len, bool uid,
		       struct imap_fetch_request *req, const char **error_r)
{
	static const char prefix[] = "a FETCH 1 ";
	size_t wire_len = sizeof(prefix) - 1 + len + 2;
	uint8_t *wire = malloc(wire_len);
	check(wire != NULL);
	memcpy(wire, prefix, sizeof(prefix) - 1);
	memcpy(wire + sizeof(prefix) - 1, items, len);
	memcpy(wire + wire_len - 2, "\r\n", 2);
	struct imap_command_line cmd;
	*error_r = NULL;
	int ret = imap_parse_command(a, span_make(wire, wire_len), &limits, &cmd, error_r);
	if (ret == 0 && cmd.count >= 1)
		ret = imap_fetch_parse(a, cmd.args + 1, cmd.count - 1, uid, req, error_r);
	else if (ret == 0)
		ret = -1, *error_r = "no sequence set";
	free(wire);
	return ret;
}

/* "BODY[<spec>]<o.l>" parses again to the same section. */
static void check_echo(const struct imap_section *sec)
{
	struct arena a;
	arena_init(&a, 1024);
	size_t len = 5 + sec->spec.len + 1 + 24;
	char *items = malloc(len);
	check(items != NULL);
	int n = snprintf(items, len, "BODY[%.*s]", (int)sec->spec.len, (const char *)sec->spec.ptr);
	if (sec->partial)
		n += snprintf(items + n, len - (size_t)n, "<%u.%u>", sec->origin, sec->length);
	struct imap_fetch_request again;
	const char *error;
	check(parse_fetch(&a, (const uint8_t *)items, (size_t)n, false, &again, &error) == 0);
	check(again.section_count == 1);
	const struct imap_section *s2 = &again.sections[0];
	check(s2->spec.len == sec->spec.len && memcmp(s2->spec.ptr, sec->spec.ptr, sec->spec.len) == 0);
	check(s2->depth == sec->depth && s2->text == sec->text);
	check(s2->field_count == sec->field_count);
	check(s2->partial == sec->partial && s2->origin == sec->origin && s2->length == sec->length);
	free(items);
	arena_free(&a);
}

static void check_section(const struct imap_section *sec)
{
	check(sec->depth <= IMAP_SECTION_MAX_DEPTH);
	check(sec->field_count <= IMAP_SECTION_MAX_FIELDS);
	check(!sec->partial || sec->length > 0);
	check((sec->spec.len == 0) == (sec->depth == 0 && sec->text == IMAP_SECTION_ALL));
	for (size_t i = 0; i < sec->depth; i++)
		check(sec->path[i] > 0);
	for (size_t i = 0; i < sec->field_count; i++)
		check(strlen(sec->fields[i]) < 1024 * 1024);
	check_echo(sec);
}

/* Lines all end in CRLF, the last one is the blank line. */
static void check_filtered(const struct buf *out, size_t header_len)
{
	check(out->len >= 2 && memcmp(out->data + out->len - 2, "\r\n", 2) == 0);
	check(out->len <= 2 * header_len + 4);
	for (size_t i = 0; i < out->len; i++)
		if (out->data[i] == '\n')
			check(i > 0 && out->data[i - 1] == '\r');
	check(out->len == 2 || (out->len >= 4 && memcmp(out->data + out->len - 4, "\r\n\r\n", 4) == 0));
}

static void filter_section(const struct imap_section *sec, struct span header)
{
	struct buf in = BUF_INIT, out = BUF_INIT;
	check(imap_header_filter(header, sec->fields, sec->field_count, false, &in) == 0);
	check(imap_header_filter(header, sec->fields, sec->field_count, true, &out) == 0);
	check_filtered(&in, header.len);
	check_filtered(&out, header.len);
	/* every field goes to one side: their sizes add up to one run with
	   everything kept (minus one of the two blank lines) */
	struct buf all = BUF_INIT;
	check(imap_header_filter(header, NULL, 0, true, &all) == 0);
	check(in.len + out.len == all.len + 2);
	buf_free(&in);
	buf_free(&out);
	buf_free(&all);
}

static void resolve_section(const struct imap_section *sec, const struct store_part *parts,
			    size_t count, const uint8_t *msg, size_t msg_len)
{
	struct imap_section_range range;
	check(imap_section_resolve(parts, count, sec, &range) == 0);
	if (range.empty) {
		check(range.offset == 0 && range.size == 0 && !range.filter_fields);
	} else {
		check(range.offset <= msg_len && range.size <= msg_len - range.offset);
		check(range.filter_fields == (sec->text == IMAP_SECTION_HEADER_FIELDS ||
					      sec->text == IMAP_SECTION_HEADER_FIELDS_NOT));
	}
	if (range.filter_fields)
		filter_section(sec, span_make(msg + range.offset, range.size));
	uint64_t start, len;
	imap_partial_apply(range.size, sec, &start, &len);
	check(start <= range.size && len <= range.size - start);
}

static struct store_part *part_table(const uint8_t *msg, size_t len, size_t *count_r)
{
	struct mime_limits mime_limits = MIME_DEFAULT_LIMITS;
	struct mime_parser *p = mime_parser_create(&mime_limits, NULL, NULL);
	mime_parser_feed(p, msg, len);
	struct mime_result *r = mime_parser_finish(p);
	struct store_part *parts = calloc(r->part_count, sizeof(*parts));
	check(parts != NULL);
	for (size_t i = 0; i < r->part_count; i++) {
		const struct mime_part *m = &r->parts[i];
		parts[i] = (struct store_part){
			.parent = m->parent,
			.children = m->children,
			.kind = (uint32_t)m->kind,
			.body_lines = m->body_lines,
			.header_offset = m->header_offset,
			.header_size = m->header_size,
			.body_offset = m->body_offset,
			.body_size = m->body_size,
		};
	}
	*count_r = r->part_count;
	mime_result_free(&r);
	return parts;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nul = memchr(data, '\0', size);
	size_t items_len = nul != NULL ? (size_t)(nul - data) : size;
	const uint8_t *msg = nul != NULL ? nul + 1 : data + size;
	size_t msg_len = size - (size_t)(msg - data);

	struct arena a;
	arena_init(&a, 512);
	struct imap_fetch_request req;
	const char *error;
	bool uid = size > 0 && (data[0] & 1);
	if (parse_fetch(&a, data, items_len, uid, &req, &error) < 0) {
		check(error != NULL);
		arena_free(&a);
	} else {
		check(!uid || (req.items & IMAP_FETCH_UID));
		size_t count;
		struct store_part *parts = part_table(msg, msg_len, &count);
		for (size_t i = 0; i < req.section_count; i++) {
			check_section(&req.sections[i]);
			resolve_section(&req.sections[i], parts, count, msg, msg_len);
		}
		free(parts);
		arena_free(&a);
	}

	/* the message's own header through the filter, with names drawn from
	   its own fields, so matches happen */
	const char *fields[] = { "from", "SUBJECT", "To", "received", "", "x" };
	struct span header = span_make(msg, msg_len);
	struct buf in = BUF_INIT, out = BUF_INIT;
	check(imap_header_filter(header, fields, 6, false, &in) == 0);
	check(imap_header_filter(header, fields, 6, true, &out) == 0);
	check_filtered(&in, msg_len);
	check_filtered(&out, msg_len);
	buf_free(&in);
	buf_free(&out);
	return 0;
}
