/*
 * Fuzz target for the MIME parser. The first two bytes choose where the
 * rest is cut in two (and a small header size limit now and then); the
 * message is parsed whole, cut there, and in pieces of a data-chosen size.
 * Checks:
 *   - all three feedings give the same result;
 *   - every part lies inside the message and inside its parent, its header
 *     ends where its body starts, child counts match the table;
 *   - ENVELOPE, BODY and BODYSTRUCTURE have balanced parentheses outside
 *     strings and literals, and literal lengths are right;
 *   - the search text is valid UTF-8 without NUL, and the same for all
 *     three feedings.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/mime.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define check(expr)                                                                      \
	do {                                                                                 \
		if (!(expr)) {                                                               \
			fprintf(stderr, "fuzz_mime: %s failed (line %d)\n", #expr, __LINE__);  \
			abort();                                                             \
		}                                                                            \
	} while (0)

static bool utf8_valid(const uint8_t *s, size_t len)
{
	for (size_t i = 0; i < len;) {
		uint8_t c = s[i];
		size_t n = c < 0x80 ? 1 : (c >= 0xC2 && c <= 0xDF) ? 2 : (c >= 0xE0 && c <= 0xEF) ? 3
					: (c >= 0xF0 && c <= 0xF4) ? 4 : 0;
		if (c == 0 || n == 0 || i + n > len)
			return false;
		for (size_t k = 1; k < n; k++)
			if ((s[i + k] & 0xC0) != 0x80)
				return false;
		if ((c == 0xE0 && s[i + 1] < 0xA0) || (c == 0xED && s[i + 1] > 0x9F) ||
		    (c == 0xF0 && s[i + 1] < 0x90) || (c == 0xF4 && s[i + 1] > 0x8F))
			return false;
		i += n;
	}
	return true;
}

struct text_sum {
	size_t len;
	uint64_t hash; /* FNV-1a over the text and its kinds */
};

static void text_cb(void *ctx, enum mime_text_kind kind, const char *utf8, size_t len)
{
	struct text_sum *sum = ctx;
	check(len > 0 && utf8_valid((const uint8_t *)utf8, len));
	sum->len += len;
	for (size_t i = 0; i < len; i++)
		sum->hash = (sum->hash ^ (uint8_t)utf8[i] ^ ((uint64_t)kind << 8)) * 0x100000001B3ULL;
}

/* Parentheses balance outside quoted strings and literals; literals are
   "{n}\r\n" followed by exactly n bytes. */
static bool imap_balanced(const char *s)
{
	int depth = 0;
	size_t len = strlen(s);
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '"') {
			for (i++; i < len && s[i] != '"'; i++)
				if (s[i] == '\\')
					i++;
			if (i >= len)
				return false;
		} else if (s[i] == '{') {
			char *end;
			unsigned long n = strtoul(s + i + 1, &end, 10);
			if (end[0] != '}' || end[1] != '\r' || end[2] != '\n')
				return false;
			i = (size_t)(end + 2 - s);
			if (n > len - i - 1)
				return false;
			i += n;
		} else if (s[i] == '(') {
			depth++;
		} else if (s[i] == ')' && --depth < 0) {
			return false;
		}
	}
	return depth == 0;
}

static void check_result(const struct mime_result *r, size_t len)
{
	check(r->size == len && r->part_count >= 1);
	check(r->parts[0].parent == UINT32_MAX);
	for (size_t i = 0; i < r->part_count; i++) {
		const struct mime_part *p = &r->parts[i];
		check(p->header_offset + p->header_size == p->body_offset);
		check(p->body_offset + p->body_size <= len);
		check(p->body_lines <= p->body_size);
		uint32_t children = 0;
		for (size_t j = i + 1; j < r->part_count; j++)
			if (r->parts[j].parent == i)
				children++;
		check(children == p->children);
		check(p->kind != MIME_PART_MESSAGE || p->children == 1);
		check(p->kind != MIME_PART_LEAF || p->children == 0);
		if (i > 0) {
			const struct mime_part *parent = &r->parts[p->parent];
			check(p->parent < i && parent->kind != MIME_PART_LEAF);
			check(p->header_offset >= parent->body_offset);
			check(p->body_offset + p->body_size <= parent->body_offset + parent->body_size);
		}
	}
	check(imap_balanced(r->envelope));
	check(imap_balanced(r->body));
	check(imap_balanced(r->bodystructure));
}

static bool same(const struct mime_result *a, const struct mime_result *b)
{
	if (strcmp(a->envelope, b->envelope) != 0 || strcmp(a->body, b->body) != 0 ||
	    strcmp(a->bodystructure, b->bodystructure) != 0 || a->part_count != b->part_count)
		return false;
	for (size_t i = 0; i < a->part_count; i++) {
		const struct mime_part *x = &a->parts[i], *y = &b->parts[i];
		if (x->parent != y->parent || x->kind != y->kind ||
		    x->header_offset != y->header_offset || x->body_offset != y->body_offset ||
		    x->body_size != y->body_size || x->body_lines != y->body_lines)
			return false;
	}
	return true;
}

static struct mime_result *parse(const struct mime_limits *limits, const uint8_t *msg,
				 size_t len, size_t cut, size_t piece, struct text_sum *text_r)
{
	*text_r = (struct text_sum){ 0, 0xCBF29CE484222325ULL };
	struct mime_parser *p = mime_parser_create(limits, text_cb, text_r);
	if (piece > 0) {
		for (size_t pos = 0; pos < len; pos += piece)
			mime_parser_feed(p, msg + pos, len - pos < piece ? len - pos : piece);
	} else {
		mime_parser_feed(p, msg, cut);
		mime_parser_feed(p, msg + cut, len - cut);
	}
	return mime_parser_finish(p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	struct mime_limits limits = MIME_DEFAULT_LIMITS;
	const uint8_t *msg = data + 2;
	size_t len = size - 2;
	size_t cut = len > 0 ? (((size_t)data[0] << 8) | data[1]) % (len + 1) : 0;
	size_t piece = 1 + data[1] % 7;
	if ((data[0] & 0xF0) == 0xF0)
		limits.max_header_size = 64; /* exercise the header cap */
	if ((data[0] & 0xF0) == 0xE0) {
		limits.max_parts = 5;
		limits.max_depth = 3;
	}

	struct text_sum text_whole, text_cut, text_pieces;
	struct mime_result *whole = parse(&limits, msg, len, len, 0, &text_whole);
	struct mime_result *split = parse(&limits, msg, len, cut, 0, &text_cut);
	struct mime_result *pieces = parse(&limits, msg, len, 0, piece, &text_pieces);
	check_result(whole, len);
	check(same(whole, split) && same(whole, pieces));
	check(text_whole.len == text_cut.len && text_whole.len == text_pieces.len);
	check(text_whole.hash == text_cut.hash && text_whole.hash == text_pieces.hash);
	mime_result_free(&whole);
	mime_result_free(&split);
	mime_result_free(&pieces);
	return 0;
}
