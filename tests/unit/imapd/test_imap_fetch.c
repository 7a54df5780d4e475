/*
 * FETCH without the mailbox: data item parsing (every item, macro and
 * error), section resolution on part tables made by the store's MIME
 * parser (the RFC 3501 6.4.5 example message, byte for byte, and every
 * section Dovecot answered for the MIME corpus), HEADER.FIELDS filtering
 * and partial ranges.
 */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/buf.h"
#include "imapd/imap_fetch.h"
#include "imapd/imap_parser.h"
#include "store/mime.h"
#include "store/store.h"

#ifndef PETREL_SOURCE_DIR
#error "PETREL_SOURCE_DIR must point at the source tree"
#endif
#define CORPUS_DIR PETREL_SOURCE_DIR "/tests/data/mime"

/* ------------------------------------------------------------------ */
/* Parsing                                                             */

static struct arena arena;

static int setup_arena(void **state)
{
	arena_init(&arena, 1024);
	return 0;
}

static int teardown_arena(void **state)
{
	arena_free(&arena);
	return 0;
}

/* Tokenizes "a FETCH 1 <items>" and parses what follows the sequence set.
   The wire is a heap copy of its exact size, so ASan sees any overread. */
static int parse_items(const char *items, bool uid, struct imap_fetch_request *req,
		       const char **error_r)
{
	static const struct imap_parse_limits limits = { .max_depth = 20, .max_args = 100000 };
	size_t len = strlen("a FETCH 1 ") + strlen(items) + 2;
	char *wire = malloc(len + 1);
	snprintf(wire, len + 1, "a FETCH 1 %s\r\n", items);
	uint8_t *copy = malloc(len);
	memcpy(copy, wire, len);
	free(wire);

	struct imap_command_line cmd;
	*error_r = NULL;
	int ret = imap_parse_command(&arena, span_make(copy, len), &limits, &cmd, error_r);
	if (ret == 0) {
		assert_true(cmd.count >= 1);
		ret = imap_fetch_parse(&arena, cmd.args + 1, cmd.count - 1, uid, req, error_r);
	}
	if (ret == 0) {
		/* the request must not point into the command's bytes */
		memset(copy, 'x', len);
	}
	free(copy);
	return ret;
}

static const char *const item_names[] = {
	"UID", "FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE", "BODY", "BODYSTRUCTURE",
	"RFC822", "RFC822.HEADER", "RFC822.TEXT",
};

/* "UID FLAGS BODY.PEEK[1.MIME]<0.10> +seen +structure" */
static void render_request(const struct imap_fetch_request *req, struct buf *out)
{
	for (size_t i = 0; i < sizeof(item_names) / sizeof(item_names[0]); i++)
		if (req->items & (1u << i))
			buf_printf(out, "%s%s", out->len > 0 ? " " : "", item_names[i]);
	for (size_t i = 0; i < req->section_count; i++) {
		const struct imap_section *sec = &req->sections[i];
		buf_printf(out, "%s%s[%.*s]", out->len > 0 ? " " : "", sec->peek ? "BODY.PEEK" : "BODY",
			   (int)sec->spec.len, (const char *)sec->spec.ptr);
		if (sec->partial)
			buf_printf(out, "<%u.%u>", sec->origin, sec->length);
	}
	if (req->sets_seen)
		buf_append_str(out, " +seen");
	if (req->needs_structure)
		buf_append_str(out, " +structure");
}

struct parse_case {
	const char *items;
	bool uid;
	const char *expected;
};

static void check_parse_cases(const struct parse_case *cases, size_t count)
{
	for (size_t i = 0; i < count; i++) {
		struct imap_fetch_request req;
		const char *error;
		if (parse_items(cases[i].items, cases[i].uid, &req, &error) < 0)
			fail_msg("%s: %s", cases[i].items, error);
		struct buf out = BUF_INIT;
		render_request(&req, &out);
		if (strcmp(buf_cstr(&out), cases[i].expected) != 0)
			fail_msg("%s: got '%s', want '%s'", cases[i].items, buf_cstr(&out),
				 cases[i].expected);
		buf_free(&out);
		arena_reset(&arena);
	}
}

static void test_items(void **state)
{
	static const struct parse_case cases[] = {
		{ "UID", false, "UID" },
		{ "FLAGS", false, "FLAGS" },
		{ "INTERNALDATE", false, "INTERNALDATE" },
		{ "RFC822.SIZE", false, "RFC822.SIZE" },
		{ "ENVELOPE", false, "ENVELOPE +structure" },
		{ "BODY", false, "BODY +structure" },
		{ "BODYSTRUCTURE", false, "BODYSTRUCTURE +structure" },
		{ "RFC822", false, "RFC822 +seen" },
		{ "RFC822.HEADER", false, "RFC822.HEADER +structure" },
		{ "RFC822.TEXT", false, "RFC822.TEXT +seen +structure" },
		{ "rfc822.size", false, "RFC822.SIZE" },
		{ "Uid", false, "UID" },
		{ "(FLAGS)", false, "FLAGS" },
		{ "(flags uid Envelope)", false, "UID FLAGS ENVELOPE +structure" },
		{ "(FLAGS FLAGS)", false, "FLAGS" },
		{ "(UID RFC822.SIZE INTERNALDATE BODYSTRUCTURE ENVELOPE RFC822.HEADER)", false,
		  "UID INTERNALDATE RFC822.SIZE ENVELOPE BODYSTRUCTURE RFC822.HEADER +structure" },
		/* UID FETCH always answers UID */
		{ "FLAGS", true, "UID FLAGS" },
		{ "(UID FLAGS)", true, "UID FLAGS" },
		{ "ALL", true, "UID FLAGS INTERNALDATE RFC822.SIZE ENVELOPE +structure" },
	};
	check_parse_cases(cases, sizeof(cases) / sizeof(cases[0]));
}

static void test_macros(void **state)
{
	static const struct parse_case cases[] = {
		{ "ALL", false, "FLAGS INTERNALDATE RFC822.SIZE ENVELOPE +structure" },
		{ "all", false, "FLAGS INTERNALDATE RFC822.SIZE ENVELOPE +structure" },
		{ "FAST", false, "FLAGS INTERNALDATE RFC822.SIZE" },
		{ "Fast", false, "FLAGS INTERNALDATE RFC822.SIZE" },
		{ "FULL", false, "FLAGS INTERNALDATE RFC822.SIZE ENVELOPE BODY +structure" },
		{ "full", false, "FLAGS INTERNALDATE RFC822.SIZE ENVELOPE BODY +structure" },
		{ "(FAST)", false, "FLAGS INTERNALDATE RFC822.SIZE" },
	};
	check_parse_cases(cases, sizeof(cases) / sizeof(cases[0]));
}

static void test_sections(void **state)
{
	static const struct parse_case cases[] = {
		{ "BODY[]", false, "BODY[] +seen" },
		{ "BODY.PEEK[]", false, "BODY.PEEK[]" },
		{ "body.peek[]", false, "BODY.PEEK[]" },
		{ "BODY[]<0.100>", false, "BODY[]<0.100> +seen" },
		{ "BODY.PEEK[]<007.1>", false, "BODY.PEEK[]<7.1>" },
		{ "BODY.PEEK[]<4294967295.4294967295>", false, "BODY.PEEK[]<4294967295.4294967295>" },
		{ "BODY.PEEK[HEADER]", false, "BODY.PEEK[HEADER] +structure" },
		{ "BODY.PEEK[header]", false, "BODY.PEEK[HEADER] +structure" },
		{ "BODY[TEXT]", false, "BODY[TEXT] +seen +structure" },
		{ "BODY.PEEK[Text]<10.20>", false, "BODY.PEEK[TEXT]<10.20> +structure" },
		{ "BODY.PEEK[1]", false, "BODY.PEEK[1] +structure" },
		{ "BODY.PEEK[1.2.3]", false, "BODY.PEEK[1.2.3] +structure" },
		{ "BODY.PEEK[4294967295]", false, "BODY.PEEK[4294967295] +structure" },
		{ "BODY.PEEK[10.mime]", false, "BODY.PEEK[10.MIME] +structure" },
		{ "BODY.PEEK[3.HEADER]", false, "BODY.PEEK[3.HEADER] +structure" },
		{ "BODY.PEEK[3.text]", false, "BODY.PEEK[3.TEXT] +structure" },
		/* the echo Dovecot 2.3 gives: names upper-case, quoted ones
		   kept quoted, one space between names */
		{ "BODY.PEEK[header.fields (From subject)]", false,
		  "BODY.PEEK[HEADER.FIELDS (FROM SUBJECT)] +structure" },
		{ "BODY.PEEK[HEADER.FIELDS (\"From\" x-odd)]", false,
		  "BODY.PEEK[HEADER.FIELDS (\"FROM\" X-ODD)] +structure" },
		{ "BODY.PEEK[header.fields.not (From   subject)]", false,
		  "BODY.PEEK[HEADER.FIELDS.NOT (FROM SUBJECT)] +structure" },
		{ "BODY.PEEK[HEADER.FIELDS  ( From )]", false,
		  "BODY.PEEK[HEADER.FIELDS (FROM)] +structure" },
		{ "BODY.PEEK[HEADER.FIELDS (\"a\\\\b\\\"c\" \"\")]", false,
		  "BODY.PEEK[HEADER.FIELDS (\"A\\\\B\\\"C\" \"\")] +structure" },
		{ "BODY.PEEK[2.1.HEADER.FIELDS (X-A)]<5.6>", false,
		  "BODY.PEEK[2.1.HEADER.FIELDS (X-A)]<5.6> +structure" },
		/* several sections, in order, repeats kept */
		{ "(UID BODY.PEEK[1] BODY[2.MIME] BODY.PEEK[1])", false,
		  "UID BODY.PEEK[1] BODY[2.MIME] BODY.PEEK[1] +seen +structure" },
		{ "(FLAGS BODY[] RFC822.HEADER)", false, "FLAGS RFC822.HEADER BODY[] +seen +structure" },
		{ "(BODY.PEEK[] RFC822.SIZE)", false, "RFC822.SIZE BODY.PEEK[]" },
	};
	check_parse_cases(cases, sizeof(cases) / sizeof(cases[0]));
}

static void test_section_fields(void **state)
{
	struct imap_fetch_request req;
	const char *error;
	assert_int_equal(parse_items("(BODY.PEEK[1.2.HEADER.FIELDS.NOT (From \"X-Spam Flag\" "
				     "to \"q\\\"uote\")]<3.4>)",
				     false, &req, &error),
			 0);
	assert_int_equal(req.section_count, 1);
	const struct imap_section *sec = &req.sections[0];
	assert_int_equal(sec->depth, 2);
	assert_int_equal(sec->path[0], 1);
	assert_int_equal(sec->path[1], 2);
	assert_int_equal(sec->text, IMAP_SECTION_HEADER_FIELDS_NOT);
	assert_int_equal(sec->field_count, 4);
	/* field names as given, unescaped */
	assert_string_equal(sec->fields[0], "From");
	assert_string_equal(sec->fields[1], "X-Spam Flag");
	assert_string_equal(sec->fields[2], "to");
	assert_string_equal(sec->fields[3], "q\"uote");
	assert_true(sec->peek);
	assert_true(sec->partial);
	assert_int_equal(sec->origin, 3);
	assert_int_equal(sec->length, 4);
	arena_reset(&arena);

	assert_int_equal(parse_items("BODY[]", false, &req, &error), 0);
	assert_int_equal(req.sections[0].depth, 0);
	assert_null(req.sections[0].path);
	assert_int_equal(req.sections[0].text, IMAP_SECTION_ALL);
	assert_int_equal(req.sections[0].spec.len, 0);
	assert_false(req.sections[0].partial);
	arena_reset(&arena);
}

struct error_case {
	const char *items;
	const char *error;
};

static void test_errors(void **state)
{
	static const struct error_case cases[] = {
		{ "()", "Missing FETCH items" },
		{ "FLAGS UID", "Unexpected arguments after FETCH items" },
		{ "(FLAGS) UID", "Unexpected arguments after FETCH items" },
		{ "FOO", "Unknown FETCH item" },
		{ "(FLAGS FOO)", "Unknown FETCH item" },
		{ "BODY.PEEK", "Unknown FETCH item" },
		{ "RFC822.PEEK", "Unknown FETCH item" },
		{ "BINARY[]", "Unknown FETCH item" },
		{ "BODYX[]", "Unknown FETCH item" },
		{ "\"FLAGS\"", "Invalid FETCH item" },
		{ "(FLAGS \"UID\")", "Invalid FETCH item" },
		{ "(FLAGS (UID))", "Invalid FETCH item" },
		{ "(ALL FLAGS)", "FETCH macros ALL, FAST and FULL must stand alone" },
		{ "(UID fast)", "FETCH macros ALL, FAST and FULL must stand alone" },
		{ "BODY[1.0]", "Invalid section part number" },
		{ "BODY[0]", "Invalid section part number" },
		{ "BODY[01]", "Invalid section part number" },
		{ "BODY[1.]", "Invalid section" },
		{ "BODY[.1]", "Invalid section" },
		{ "BODY[1..2]", "Invalid section" },
		{ "BODY[4294967296]", "Section part number too large" },
		{ "BODY[99999999999999999999999]", "Section part number too large" },
		{ "BODY[HEADER.FIELDS]", "Missing header field list in section" },
		{ "BODY[HEADER.FIELDS ]", "Missing header field list in section" },
		{ "BODY[HEADER.FIELDS From]", "Missing header field list in section" },
		{ "BODY[1.HEADER.FIELDS ()]", "Empty header field list in section" },
		{ "BODY[HEADER.FIELDS (  )]", "Empty header field list in section" },
		{ "BODY[HEADER.FIELDS (From]", "Invalid header field name in section" },
		{ "BODY[HEADER.FIELDS (From)x]", "Invalid section" },
		{ "BODY[HEADER.FIELDS (Fr%m)]", "Invalid header field name in section" },
		{ "BODY[HEADER.FIELDS (\"From)]", "Invalid header field name in section" },
		{ "BODY[HEADER.FIELDS (\"a\\b\")]", "Invalid header field name in section" },
		{ "BODY[HEADER.FIELDS (\"a\"b)]", "Invalid header field name in section" },
		{ "BODY[HEADER.FIELDS (a{3})]", "Invalid header field name in section" },
		{ "BODY[HEADER.FIELDSX (a)]", "Invalid section" },
		{ "BODY[HEADER.FIELDS.NOTX (a)]", "Invalid section" },
		{ "BODY[HEADER.FIELDS(a)]", "Invalid section" },
		{ "BODY[HEADERS]", "Invalid section" },
		{ "BODY[TEXT.1]", "Invalid section" },
		{ "BODY[HEADER.1]", "Invalid section" },
		{ "BODY[MIME]", "Section MIME needs a part number" },
		{ "BODY[1.MIME.1]", "Invalid section" },
		{ "BODY[1.BODY]", "Invalid section" },
		{ "BODY[1 ]", "Invalid section" },
		{ "BODY[ 1]", "Invalid section" },
		{ "BODY[[1]]", "Invalid section" },
		{ "BODY[]x", "Unexpected data after section" },
		{ "BODY[]<", "Invalid partial" },
		{ "BODY[]<>", "Invalid partial" },
		{ "BODY[]<1>", "Partial needs <origin.length>" },
		{ "BODY[]<1.>", "Invalid partial length" },
		{ "BODY[]<.1>", "Invalid partial" },
		{ "BODY[]<0.0>", "Invalid partial length" },
		{ "BODY[]<0.01>", "Invalid partial length" },
		{ "BODY[]<-1.5>", "Invalid partial" },
		{ "BODY[]<1.5", "Invalid partial" },
		{ "BODY[]<1.5>>", "Invalid partial" },
		{ "BODY[]<1.5>x", "Invalid partial" },
		{ "BODY[]<4294967296.1>", "Partial origin too large" },
		{ "BODY[]<0.4294967296>", "Partial length too large" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct imap_fetch_request req;
		const char *error;
		if (parse_items(cases[i].items, false, &req, &error) == 0)
			fail_msg("%s: accepted", cases[i].items);
		if (error == NULL || strcmp(error, cases[i].error) != 0)
			fail_msg("%s: error '%s', want '%s'", cases[i].items, error, cases[i].error);
		arena_reset(&arena);
	}
}

/* Part paths up to 100 numbers, header lists up to 1000 names. */
static void test_limits(void **state)
{
	struct buf items = BUF_INIT;
	struct imap_fetch_request req;
	const char *error;

	buf_append_str(&items, "BODY[1");
	for (int i = 1; i < IMAP_SECTION_MAX_DEPTH; i++)
		buf_append_str(&items, ".1");
	buf_append_str(&items, "]");
	assert_int_equal(parse_items(buf_cstr(&items), false, &req, &error), 0);
	assert_int_equal(req.sections[0].depth, IMAP_SECTION_MAX_DEPTH);
	arena_reset(&arena);
	items.len -= 1;
	buf_append_str(&items, ".1]");
	assert_int_equal(parse_items(buf_cstr(&items), false, &req, &error), -1);
	assert_string_equal(error, "Section part path too deep");
	arena_reset(&arena);

	buf_clear(&items);
	buf_append_str(&items, "BODY[HEADER.FIELDS (");
	for (int i = 0; i < IMAP_SECTION_MAX_FIELDS; i++)
		buf_printf(&items, "%sX-F%d", i > 0 ? " " : "", i);
	buf_append_str(&items, ")]");
	assert_int_equal(parse_items(buf_cstr(&items), false, &req, &error), 0);
	assert_int_equal(req.sections[0].field_count, IMAP_SECTION_MAX_FIELDS);
	assert_string_equal(req.sections[0].fields[999], "X-F999");
	arena_reset(&arena);
	items.len -= 2;
	buf_append_str(&items, " X-F1000)]");
	assert_int_equal(parse_items(buf_cstr(&items), false, &req, &error), -1);
	assert_string_equal(error, "Too many header fields in section");
	arena_reset(&arena);
	buf_free(&items);
}

/* Arguments that never come from the tokenizer: the parser still refuses
   what is not printable ASCII, and reads nothing beyond the atom. */
static void test_raw_args(void **state)
{
	static const char *const atoms[] = {
		"BODY[HEADER.FIELDS (\"a\x01\")]",
		"BODY[HEADER.FIELDS (a\x80)]",
		"BODY[HEADER.FIELDS (\"a",
		"BODY[1.",
		"BODY[",
		"BODY[]<1.",
	};
	struct imap_fetch_request req;
	const char *error = NULL;
	assert_int_equal(imap_fetch_parse(&arena, NULL, 0, false, &req, &error), -1);
	assert_string_equal(error, "Missing FETCH items");

	for (size_t i = 0; i < sizeof(atoms) / sizeof(atoms[0]); i++) {
		size_t len = strlen(atoms[i]);
		uint8_t *copy = malloc(len);
		memcpy(copy, atoms[i], len);
		struct imap_arg arg = { .type = IMAP_ARG_ATOM, .str = span_make(copy, len) };
		error = NULL;
		if (imap_fetch_parse(&arena, &arg, 1, false, &req, &error) == 0)
			fail_msg("raw atom %zu accepted", i);
		assert_non_null(error);
		free(copy);
		arena_reset(&arena);
	}
}

/* ------------------------------------------------------------------ */
/* Section resolution                                                  */

/* The message of RFC 3501 6.4.5's example, built from named pieces so
   every section's bytes are known without the parser. A part's body ends
   before the CRLF that precedes the next delimiter (RFC 2046 5.1.1); the
   nested multiparts end in "--close--" CRLF and an empty epilogue, so that
   line end belongs to them without doubt. */
#define TOP_HEADER                                                     \
	"From: Ann <ann@example.com>\r\n"                              \
	"To: Bob <bob@example.com>\r\n"                                \
	"Subject: the RFC 3501 example\r\n"                            \
	"MIME-Version: 1.0\r\n"                                        \
	"Content-Type: multipart/mixed; boundary=\"top\"\r\n"          \
	"\r\n"
#define P1_MIME "Content-Type: text/plain; charset=us-ascii\r\n\r\n"
#define P1_BODY "Part 1, plain text.\r\nSecond line."
#define P2_MIME                                                        \
	"Content-Type: application/octet-stream\r\n"                   \
	"Content-Transfer-Encoding: base64\r\n\r\n"
#define P2_BODY "AAECAwQFBgcICQ=="
#define P3_MIME "Content-Type: message/rfc822\r\n\r\n"
#define P3_HEADER                                                      \
	"From: Carl <carl@example.com>\r\n"                            \
	"Subject: part 3, a message\r\n"                               \
	"Content-Type: multipart/mixed; boundary=\"three\"\r\n"        \
	"\r\n"
#define P31_MIME "Content-Type: text/plain\r\n\r\n"
#define P31_BODY "Part 3.1."
#define P32_MIME "Content-Type: application/octet-stream\r\n\r\n"
#define P32_BODY "part 3.2 bytes"
#define P3_TEXT                                                        \
	"--three\r\n" P31_MIME P31_BODY                                \
	"\r\n--three\r\n" P32_MIME P32_BODY                            \
	"\r\n--three--\r\n"
#define P3_BODY P3_HEADER P3_TEXT
#define P4_MIME "Content-Type: multipart/mixed; boundary=\"four\"\r\n\r\n"
#define P41_MIME                                                       \
	"Content-Type: image/gif\r\n"                                  \
	"Content-Transfer-Encoding: base64\r\n\r\n"
#define P41_BODY "R0lGODlhAQABAAAAACw="
#define P42_MIME "Content-Type: message/rfc822\r\n\r\n"
#define P42_HEADER                                                     \
	"From: Dora <dora@example.com>\r\n"                            \
	"Subject: part 4.2\r\n"                                        \
	" folded\r\n"                                                  \
	"Content-Type: multipart/mixed; boundary=\"fourtwo\"\r\n"      \
	"\r\n"
#define P421_MIME "Content-Type: text/plain\r\n\r\n"
#define P421_BODY "Part 4.2.1."
#define P422_MIME "Content-Type: multipart/alternative; boundary=\"alt\"\r\n\r\n"
#define P4221_MIME "Content-Type: text/plain\r\n\r\n"
#define P4221_BODY "Part 4.2.2.1, plain."
#define P4222_MIME "Content-Type: text/richtext\r\n\r\n"
#define P4222_BODY "<bold>Part 4.2.2.2</bold>, rich."
#define P422_BODY                                                      \
	"--alt\r\n" P4221_MIME P4221_BODY                              \
	"\r\n--alt\r\n" P4222_MIME P4222_BODY                          \
	"\r\n--alt--\r\n"
#define P42_TEXT                                                       \
	"--fourtwo\r\n" P421_MIME P421_BODY                            \
	"\r\n--fourtwo\r\n" P422_MIME P422_BODY                        \
	"\r\n--fourtwo--\r\n"
#define P42_BODY P42_HEADER P42_TEXT
#define P4_BODY                                                        \
	"--four\r\n" P41_MIME P41_BODY                                 \
	"\r\n--four\r\n" P42_MIME P42_BODY                             \
	"\r\n--four--\r\n"
#define TOP_TEXT                                                       \
	"--top\r\n" P1_MIME P1_BODY                                    \
	"\r\n--top\r\n" P2_MIME P2_BODY                                \
	"\r\n--top\r\n" P3_MIME P3_BODY                                \
	"\r\n--top\r\n" P4_MIME P4_BODY                                \
	"\r\n--top--\r\n"
#define RFC3501_MESSAGE TOP_HEADER TOP_TEXT

/* A part table as the store keeps it. */
struct table {
	struct store_part *parts;
	size_t count;
};

static void table_from_mime(const struct mime_result *r, struct table *t)
{
	t->count = r->part_count;
	t->parts = calloc(r->part_count, sizeof(*t->parts));
	for (size_t i = 0; i < r->part_count; i++) {
		const struct mime_part *p = &r->parts[i];
		t->parts[i] = (struct store_part){
			.parent = p->parent,
			.children = p->children,
			.kind = (uint32_t)p->kind,
			.body_lines = p->body_lines,
			.header_offset = p->header_offset,
			.header_size = p->header_size,
			.body_offset = p->body_offset,
			.body_size = p->body_size,
		};
	}
}

static void table_parse(const uint8_t *msg, size_t len, const struct mime_limits *limits,
			struct table *t)
{
	struct mime_parser *p = mime_parser_create(limits, NULL, NULL);
	mime_parser_feed(p, msg, len);
	struct mime_result *r = mime_parser_finish(p);
	table_from_mime(r, t);
	mime_result_free(&r);
}

/* Parses "BODY.PEEK[<spec>]" and resolves it. */
static int resolve(const struct table *t, const char *spec, struct imap_section_range *range)
{
	struct imap_fetch_request req;
	const char *error;
	char items[512];
	snprintf(items, sizeof(items), "BODY.PEEK[%s]", spec);
	if (parse_items(items, false, &req, &error) < 0)
		fail_msg("BODY.PEEK[%s]: %s", spec, error);
	assert_int_equal(req.section_count, 1);
	return imap_section_resolve(t->parts, t->count, &req.sections[0], range);
}

struct section_case {
	const char *spec;
	const char *bytes;   /* NULL: the part does not exist */
	bool filter_fields;
};

static void check_sections(const char *msg, const struct section_case *cases, size_t count)
{
	struct table t;
	size_t len = strlen(msg);
	table_parse((const uint8_t *)msg, len, NULL, &t);
	for (size_t i = 0; i < count; i++) {
		struct imap_section_range range;
		assert_int_equal(resolve(&t, cases[i].spec, &range), 0);
		if (cases[i].bytes == NULL) {
			if (!range.empty)
				fail_msg("[%s] exists: %llu+%llu", cases[i].spec,
					 (unsigned long long)range.offset,
					 (unsigned long long)range.size);
			assert_int_equal(range.offset, 0);
			assert_int_equal(range.size, 0);
			assert_false(range.filter_fields);
		} else {
			if (range.empty)
				fail_msg("[%s] is empty", cases[i].spec);
			assert_true(range.offset + range.size <= len);
			if (range.size != strlen(cases[i].bytes) ||
			    memcmp(msg + range.offset, cases[i].bytes, range.size) != 0)
				fail_msg("[%s] is '%.*s'\nwant '%s'", cases[i].spec, (int)range.size,
					 msg + range.offset, cases[i].bytes);
			assert_int_equal(range.filter_fields, cases[i].filter_fields);
		}
		arena_reset(&arena);
	}
	free(t.parts);
}

#define SECTION_CASES(cases) cases, sizeof(cases) / sizeof(cases[0])

static void test_resolve_rfc3501_example(void **state)
{
	static const struct section_case cases[] = {
		{ "", RFC3501_MESSAGE, false },
		{ "HEADER", TOP_HEADER, false },
		{ "TEXT", TOP_TEXT, false },
		{ "1", P1_BODY, false },
		{ "2", P2_BODY, false },
		{ "3", P3_BODY, false },
		{ "3.HEADER", P3_HEADER, false },
		{ "3.TEXT", P3_TEXT, false },
		{ "3.1", P31_BODY, false },
		{ "3.2", P32_BODY, false },
		{ "4", P4_BODY, false },
		{ "4.1", P41_BODY, false },
		{ "4.1.MIME", P41_MIME, false },
		{ "4.2", P42_BODY, false },
		{ "4.2.HEADER", P42_HEADER, false },
		{ "4.2.TEXT", P42_TEXT, false },
		{ "4.2.1", P421_BODY, false },
		{ "4.2.2", P422_BODY, false },
		{ "4.2.2.1", P4221_BODY, false },
		{ "4.2.2.2", P4222_BODY, false },
		/* the MIME header of every kind of part */
		{ "1.MIME", P1_MIME, false },
		{ "2.MIME", P2_MIME, false },
		{ "3.MIME", P3_MIME, false },
		{ "3.1.MIME", P31_MIME, false },
		{ "3.2.MIME", P32_MIME, false },
		{ "4.MIME", P4_MIME, false },
		{ "4.2.MIME", P42_MIME, false },
		{ "4.2.1.MIME", P421_MIME, false },
		{ "4.2.2.MIME", P422_MIME, false },
		{ "4.2.2.1.MIME", P4221_MIME, false },
		{ "4.2.2.2.MIME", P4222_MIME, false },
		/* header fields: the header block, to be filtered */
		{ "HEADER.FIELDS (Subject)", TOP_HEADER, true },
		{ "HEADER.FIELDS.NOT (Subject)", TOP_HEADER, true },
		{ "3.HEADER.FIELDS (From)", P3_HEADER, true },
		{ "4.2.HEADER.FIELDS.NOT (From)", P42_HEADER, true },
		/* parts that do not exist. "1.1", "2.1", "3.1.1", "4.1.1" and
		   "4.2.2.1.1" name sub-parts of leaves: RFC 3501 has none,
		   Dovecot 2.3 answers them with the leaf itself. */
		{ "5", NULL, false },
		{ "5.MIME", NULL, false },
		{ "1.1", NULL, false },
		{ "1.HEADER", NULL, false },
		{ "1.TEXT", NULL, false },
		{ "2.1", NULL, false },
		{ "3.3", NULL, false },
		{ "3.1.1", NULL, false },
		{ "4.HEADER", NULL, false },
		{ "4.TEXT", NULL, false },
		{ "4.HEADER.FIELDS (From)", NULL, false },
		{ "4.3", NULL, false },
		{ "4.1.1", NULL, false },
		{ "4.1.HEADER", NULL, false },
		{ "4.2.3", NULL, false },
		{ "4.2.2.HEADER", NULL, false },
		{ "4.2.2.3", NULL, false },
		{ "4.2.2.1.1", NULL, false },
		{ "4.2.2.1.1.1.1", NULL, false },
		{ "4294967295", NULL, false },
	};
	check_sections(RFC3501_MESSAGE, SECTION_CASES(cases));
}

#define PLAIN_HEADER                                                   \
	"From: ann@example.com\r\n"                                    \
	"Subject: plain\r\n"                                           \
	"\r\n"
#define PLAIN_BODY "Just text.\r\nTwo lines.\r\n"

/* RFC 3501: a non-multipart message has only part 1, its body; its MIME
   header is the message header (Dovecot's answer, in the corpus too). */
static void test_resolve_single_part(void **state)
{
	static const struct section_case cases[] = {
		{ "", PLAIN_HEADER PLAIN_BODY, false },
		{ "HEADER", PLAIN_HEADER, false },
		{ "TEXT", PLAIN_BODY, false },
		{ "1", PLAIN_BODY, false },
		{ "1.MIME", PLAIN_HEADER, false },
		{ "HEADER.FIELDS (From)", PLAIN_HEADER, true },
		{ "2", NULL, false },
		{ "1.1", NULL, false },
		{ "1.HEADER", NULL, false },
		{ "1.TEXT", NULL, false },
		{ "1.2", NULL, false },
	};
	check_sections(PLAIN_HEADER PLAIN_BODY, SECTION_CASES(cases));
}

#define ALT_HEADER                                                     \
	"Subject: alternative inside mixed\r\n"                        \
	"Content-Type: multipart/mixed; boundary=\"m\"\r\n"            \
	"\r\n"
#define ALT_MIME "Content-Type: multipart/alternative; boundary=\"a\"\r\n\r\n"
#define ALT1_MIME "Content-Type: text/plain\r\n\r\n"
#define ALT1_BODY "plain"
#define ALT2_MIME "Content-Type: text/html\r\n\r\n"
#define ALT2_BODY "<p>html</p>"
#define ALT_BODY                                                       \
	"preamble\r\n--a\r\n" ALT1_MIME ALT1_BODY                     \
	"\r\n--a\r\n" ALT2_MIME ALT2_BODY "\r\n--a--\r\nepilogue"
#define ATT_MIME                                                       \
	"Content-Type: application/pdf\r\n"                            \
	"Content-Disposition: attachment; filename=a.pdf\r\n\r\n"
#define ATT_BODY "%PDF-1.4"
#define ALT_TEXT                                                       \
	"--m\r\n" ALT_MIME ALT_BODY "\r\n--m\r\n" ATT_MIME ATT_BODY    \
	"\r\n--m--\r\n"

static void test_resolve_nested_alternative(void **state)
{
	static const struct section_case cases[] = {
		{ "TEXT", ALT_TEXT, false },
		{ "1", ALT_BODY, false },
		{ "1.MIME", ALT_MIME, false },
		{ "1.1", ALT1_BODY, false },
		{ "1.1.MIME", ALT1_MIME, false },
		{ "1.2", ALT2_BODY, false },
		{ "1.2.MIME", ALT2_MIME, false },
		{ "2", ATT_BODY, false },
		{ "2.MIME", ATT_MIME, false },
		{ "1.3", NULL, false },
		{ "1.HEADER", NULL, false },
		{ "1.TEXT", NULL, false },
		{ "3", NULL, false },
	};
	check_sections(ALT_HEADER ALT_TEXT, SECTION_CASES(cases));
}

/* message/rfc822 whose message is not a multipart: "2.1" is that
   message's body, "2.1.MIME" its header. */
#define FWD_HEADER                                                     \
	"Subject: Fwd: hello\r\n"                                      \
	"Content-Type: multipart/mixed; boundary=\"f\"\r\n"            \
	"\r\n"
#define FWD1_MIME "Content-Type: text/plain\r\n\r\n"
#define FWD1_BODY "See below."
#define FWD2_MIME "Content-Type: message/rfc822\r\n\r\n"
#define INNER_HEADER                                                   \
	"From: eve@example.com\r\n"                                    \
	"Subject: hello\r\n"                                           \
	"\r\n"
#define INNER_BODY "Hello there."
#define FWD_TEXT                                                       \
	"--f\r\n" FWD1_MIME FWD1_BODY "\r\n--f\r\n" FWD2_MIME          \
	INNER_HEADER INNER_BODY "\r\n--f--\r\n"

static void test_resolve_forwarded_single_part(void **state)
{
	static const struct section_case cases[] = {
		{ "2", INNER_HEADER INNER_BODY, false },
		{ "2.MIME", FWD2_MIME, false },
		{ "2.HEADER", INNER_HEADER, false },
		{ "2.TEXT", INNER_BODY, false },
		{ "2.1", INNER_BODY, false },
		{ "2.1.MIME", INNER_HEADER, false },
		{ "2.HEADER.FIELDS (Subject)", INNER_HEADER, true },
		{ "2.2", NULL, false },
		{ "2.1.1", NULL, false },
		{ "2.1.HEADER", NULL, false },
	};
	check_sections(FWD_HEADER FWD_TEXT, SECTION_CASES(cases));
}

/* A message that is itself a message/rfc822: part 1 is its body, the
   encapsulated message; "1.1" continues inside it. */
#define WRAP_HEADER "Subject: wrapper\r\nContent-Type: message/rfc822\r\n\r\n"
#define WRAPPED_HEADER "Subject: wrapped\r\nContent-Type: multipart/mixed; boundary=w\r\n\r\n"
#define WRAPPED1_MIME "Content-Type: text/plain\r\n\r\n"
#define WRAPPED1_BODY "inner one"
#define WRAPPED_TEXT "--w\r\n" WRAPPED1_MIME WRAPPED1_BODY "\r\n--w--\r\n"

static void test_resolve_top_level_rfc822(void **state)
{
	static const struct section_case cases[] = {
		{ "HEADER", WRAP_HEADER, false },
		{ "TEXT", WRAPPED_HEADER WRAPPED_TEXT, false },
		{ "1", WRAPPED_HEADER WRAPPED_TEXT, false },
		{ "1.MIME", WRAP_HEADER, false },
		{ "1.HEADER", WRAPPED_HEADER, false },
		{ "1.TEXT", WRAPPED_TEXT, false },
		{ "1.1", WRAPPED1_BODY, false },
		{ "1.1.MIME", WRAPPED1_MIME, false },
		{ "1.2", NULL, false },
		{ "2", NULL, false },
	};
	check_sections(WRAP_HEADER WRAPPED_HEADER WRAPPED_TEXT, SECTION_CASES(cases));
}

/* Tables the index should never hold are refused, not walked. */
static void test_resolve_bad_tables(void **state)
{
	struct imap_section sec = { .text = IMAP_SECTION_ALL };
	struct imap_section_range range;
	struct store_part parts[3] = {
		{ .parent = UINT32_MAX, .kind = 1, .children = 2 },
		{ .parent = 0 },
		{ .parent = 2 }, /* its own parent */
	};
	assert_int_equal(imap_section_resolve(parts, 0, &sec, &range), -1);
	assert_int_equal(imap_section_resolve(parts, 3, &sec, &range), -1);
	parts[2].parent = 0;
	parts[0].parent = 0;
	assert_int_equal(imap_section_resolve(parts, 3, &sec, &range), -1);
	parts[0].parent = UINT32_MAX;
	assert_int_equal(imap_section_resolve(parts, 3, &sec, &range), 0);

	/* a message/rfc822 left without its child (a limit was hit) */
	struct store_part lone[2] = {
		{ .parent = UINT32_MAX, .kind = 1, .children = 1 },
		{ .parent = 0, .kind = 2, .header_offset = 10, .header_size = 5, .body_offset = 15,
		  .body_size = 7 },
	};
	uint32_t path[2] = { 1, 1 };
	sec = (struct imap_section){ .path = path, .depth = 1, .text = IMAP_SECTION_HEADER };
	assert_int_equal(imap_section_resolve(lone, 2, &sec, &range), 0);
	assert_true(range.empty);
	sec.depth = 2;
	sec.text = IMAP_SECTION_ALL;
	assert_int_equal(imap_section_resolve(lone, 2, &sec, &range), 0);
	assert_true(range.empty);
	sec.depth = 1;
	assert_int_equal(imap_section_resolve(lone, 2, &sec, &range), 0);
	assert_false(range.empty);
	assert_int_equal(range.offset, 15);
	assert_int_equal(range.size, 7);
}

/* ------------------------------------------------------------------ */
/* Every section Dovecot answered for the MIME corpus                   */

static uint8_t *read_file(const char *path, size_t *len_r)
{
	FILE *f = fopen(path, "rb");
	if (f == NULL)
		return NULL;
	struct buf b = BUF_INIT;
	uint8_t chunk[65536];
	size_t n;
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		buf_append(&b, chunk, n);
	fclose(f);
	*len_r = b.len;
	if (b.data == NULL)
		buf_reserve(&b, 1);
	return b.data;
}

/* Dovecot sends NUL as 0x80 in literals (RFC 3501 4.3). */
static bool same_bytes(const uint8_t *stored, const uint8_t *sent, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (stored[i] != sent[i] && !(stored[i] == '\0' && sent[i] == 0x80))
			return false;
	return true;
}

struct corpus_entry {
	char *line;	      /* "SECTION 1.MIME" (length cut off), "LIMITS 100 10000" */
	const uint8_t *value; /* SECTION, DOVECOT and PETREL entries */
	size_t len;
};

/* Splits an .expected file (format in tests/data/mime/make_expected.py)
   into entries, in place; returns how many (at most max). */
static size_t corpus_entries(uint8_t *exp, size_t exp_len, struct corpus_entry *e, size_t max)
{
	size_t n = 0;
	for (size_t pos = 0; pos < exp_len && n < max;) {
		uint8_t *nl = memchr(exp + pos, '\n', exp_len - pos);
		assert_non_null(nl);
		*nl = '\0';
		struct corpus_entry *en = &e[n++];
		*en = (struct corpus_entry){ .line = (char *)exp + pos };
		pos = (size_t)(nl - exp) + 1;
		bool valued = strncmp(en->line, "SECTION ", 8) == 0 ||
			      strncmp(en->line, "DOVECOT ", 8) == 0 ||
			      strncmp(en->line, "PETREL ", 7) == 0;
		if (!valued)
			continue;
		char *len_str = strrchr(en->line, ' ');
		*len_str = '\0';
		if (strcmp(len_str + 1, "NIL") == 0)
			continue;
		en->len = strtoul(len_str + 1, NULL, 10);
		assert_true(pos + en->len < exp_len);
		en->value = exp + pos;
		pos += en->len + 1;
	}
	return n;
}

/* Checks the SECTION entries of one message; returns how many. */
static size_t check_corpus_sections(const char *name, const uint8_t *msg, size_t msg_len,
				    uint8_t *exp, size_t exp_len)
{
	static struct corpus_entry entries[4096];
	size_t count = corpus_entries(exp, exp_len, entries, sizeof(entries) / sizeof(entries[0]));
	struct mime_limits limits = MIME_DEFAULT_LIMITS;
	for (size_t i = 0; i < count; i++) {
		if (strncmp(entries[i].line, "NOSECTIONS ", 11) == 0)
			return 0;
		if (strncmp(entries[i].line, "LIMITS ", 7) == 0) {
			char *end;
			limits.max_depth = (unsigned int)strtoul(entries[i].line + 7, &end, 10);
			limits.max_parts = (unsigned int)strtoul(end, NULL, 10);
		}
	}

	struct table t;
	size_t checked = 0;
	table_parse(msg, msg_len, &limits, &t);
	for (size_t i = 0; i < count; i++) {
		const struct corpus_entry *en = &entries[i];
		if (strncmp(en->line, "SECTION ", 8) != 0 || en->value == NULL)
			continue;
		struct imap_section_range range;
		assert_int_equal(resolve(&t, en->line + 8, &range), 0);
		assert_true(range.offset + range.size <= msg_len);
		if (range.size != en->len || !same_bytes(msg + range.offset, en->value, en->len))
			fail_msg("%s: BODY[%s] is %llu+%llu%s, Dovecot sent %zu bytes", name,
				 en->line + 8, (unsigned long long)range.offset,
				 (unsigned long long)range.size, range.empty ? " (empty)" : "",
				 en->len);
		arena_reset(&arena);
		checked++;
	}
	free(t.parts);
	return checked;
}

static void test_resolve_corpus(void **state)
{
	DIR *dir = opendir(CORPUS_DIR);
	assert_non_null(dir);
	size_t messages = 0, sections = 0;
	struct dirent *de;
	while ((de = readdir(dir)) != NULL) {
		size_t n = strlen(de->d_name);
		if (n < 5 || strcmp(de->d_name + n - 4, ".eml") != 0)
			continue;
		char path[1024];
		size_t msg_len, exp_len;
		snprintf(path, sizeof(path), "%s/%s", CORPUS_DIR, de->d_name);
		uint8_t *msg = read_file(path, &msg_len);
		assert_non_null(msg);
		snprintf(path + strlen(path) - 4, 10, ".expected");
		uint8_t *exp = read_file(path, &exp_len);
		assert_non_null(exp);
		sections += check_corpus_sections(de->d_name, msg, msg_len, exp, exp_len);
		messages++;
		free(msg);
		free(exp);
	}
	closedir(dir);
	print_message("%zu sections of %zu corpus messages match Dovecot\n", sections, messages);
	assert_true(messages >= 50);
	assert_true(sections >= 450);
}

/* ------------------------------------------------------------------ */
/* Header fields                                                       */

static char *filter(const char *header, size_t len, const char *const *fields, size_t count,
		    bool not)
{
	/* exact-size heap copy: ASan catches reads past the block */
	uint8_t *copy = malloc(len > 0 ? len : 1);
	memcpy(copy, header, len);
	struct buf out = BUF_INIT;
	assert_int_equal(imap_header_filter(span_make(copy, len), fields, count, not, &out), 0);
	free(copy);
	return (char *)out.data;
}

#define FILTER(header, not, ...)                                                         \
	filter(header, sizeof(header) - 1, (const char *const[]){ __VA_ARGS__ },         \
	       sizeof((const char *const[]){ __VA_ARGS__ }) / sizeof(const char *), not)

#define SAMPLE_HEADER                                                  \
	"Received: from a by b;\r\n"                                   \
	"\tMon, 1 Jan 2024 00:00:00 +0000\r\n"                         \
	"From: Ann <ann@example.com>\r\n"                              \
	"Subject: a long subject\r\n"                                  \
	"  folded twice\r\n"                                           \
	"   and again\r\n"                                             \
	"To: bob@example.com\r\n"                                      \
	"Received: from c by d; Mon, 1 Jan 2024 00:00:01 +0000\r\n"    \
	"X-From: not from\r\n"                                         \
	"Fromage: neither\r\n"                                         \
	"\r\n"

static void expect_filtered(char *got, const char *want)
{
	if (strcmp(got, want) != 0)
		fail_msg("got '%s'\nwant '%s'", got, want);
	free(got);
}

static void test_filter_fields(void **state)
{
	expect_filtered(FILTER(SAMPLE_HEADER, false, "From"),
			"From: Ann <ann@example.com>\r\n\r\n");
	/* case-insensitive both ways, message order, continuations kept */
	expect_filtered(FILTER(SAMPLE_HEADER, false, "SUBJECT", "from"),
			"From: Ann <ann@example.com>\r\n"
			"Subject: a long subject\r\n  folded twice\r\n   and again\r\n\r\n");
	/* every occurrence */
	expect_filtered(FILTER(SAMPLE_HEADER, false, "received"),
			"Received: from a by b;\r\n\tMon, 1 Jan 2024 00:00:00 +0000\r\n"
			"Received: from c by d; Mon, 1 Jan 2024 00:00:01 +0000\r\n\r\n");
	/* names are whole: no prefixes, no suffixes */
	expect_filtered(FILTER(SAMPLE_HEADER, false, "Fro", "rom", "From:", "X-"), "\r\n");
	/* missing fields: just the blank line */
	expect_filtered(FILTER(SAMPLE_HEADER, false, "Cc", "Bcc"), "\r\n");
	/* a name given twice changes nothing */
	expect_filtered(FILTER(SAMPLE_HEADER, false, "To", "to"), "To: bob@example.com\r\n\r\n");
}

static void test_filter_fields_not(void **state)
{
	expect_filtered(FILTER(SAMPLE_HEADER, true, "received", "SUBJECT", "x-from", "fromage"),
			"From: Ann <ann@example.com>\r\n"
			"To: bob@example.com\r\n\r\n");
	expect_filtered(FILTER(SAMPLE_HEADER, true, "Nothing"), SAMPLE_HEADER);
	expect_filtered(FILTER(SAMPLE_HEADER, true, "From", "To", "Subject", "Received",
			       "X-From", "Fromage"),
			"\r\n");
}

static void test_filter_broken(void **state)
{
	/* a line without a colon has the empty name: .NOT keeps it, only ""
	   matches it (as in Dovecot) */
	static const char no_colon[] = "From: a\r\nX-Odd line without colon\r\nTo: b\r\n\r\n";
	expect_filtered(FILTER(no_colon, false, "X-Odd", "X-Odd line without colon"), "\r\n");
	expect_filtered(FILTER(no_colon, true, "From"), "X-Odd line without colon\r\nTo: b\r\n\r\n");
	expect_filtered(FILTER(no_colon, false, ""), "X-Odd line without colon\r\n\r\n");
	expect_filtered(FILTER(no_colon, true, ""), "From: a\r\nTo: b\r\n\r\n");

	/* blanks before the colon are not part of the name */
	static const char blank_name[] = "Subject \t: spaced\r\n\r\n";
	expect_filtered(FILTER(blank_name, false, "subject"), "Subject \t: spaced\r\n\r\n");

	/* no blank line at the end, last line without CRLF */
	static const char open_end[] = "From: a\r\nTo: b";
	expect_filtered(FILTER(open_end, false, "To"), "To: b\r\n\r\n");
	expect_filtered(FILTER(open_end, true, "x"), "From: a\r\nTo: b\r\n\r\n");

	/* bare LF line ends, also inside a folded field and for the blank
	   line; the answer has CRLF */
	static const char bare_lf[] = "From: a\nSubject: x\n y\r\nTo: b\n\nbody: no\n";
	expect_filtered(FILTER(bare_lf, false, "subject", "body"), "Subject: x\r\n y\r\n\r\n");
	expect_filtered(FILTER(bare_lf, true, "subject"), "From: a\r\nTo: b\r\n\r\n");

	/* what follows the blank line is not header */
	static const char with_body[] = "From: a\r\n\r\nTo: b\r\n";
	expect_filtered(FILTER(with_body, false, "to"), "\r\n");

	/* a continuation line with nothing to continue */
	static const char leading_fold[] = " stray: x\r\nFrom: a\r\n\r\n";
	expect_filtered(FILTER(leading_fold, false, "stray", "from"), "From: a\r\n\r\n");
	expect_filtered(FILTER(leading_fold, true, "from"), " stray: x\r\n\r\n");

	/* NUL in a name must not match a listed name that ends there */
	static const char nul_name[] = "Fr\0m: a\r\nFr: b\r\n\r\n";
	expect_filtered(FILTER(nul_name, false, "Fr"), "Fr: b\r\n\r\n");

	/* colon first: the empty name too */
	static const char colon_first[] = ": empty\r\nX: y\r\n\r\n";
	expect_filtered(FILTER(colon_first, false, ""), ": empty\r\n\r\n");
	expect_filtered(FILTER(colon_first, false, "x"), "X: y\r\n\r\n");

	/* a bare CR inside a line stays, only line ends are rewritten */
	static const char bare_cr[] = "From: a\rb\r\n\r\n";
	expect_filtered(FILTER(bare_cr, false, "from"), "From: a\rb\r\n\r\n");

	/* empty and blank-only headers */
	expect_filtered(filter("", 0, (const char *const[]){ "From" }, 1, false), "\r\n");
	expect_filtered(filter("", 0, (const char *const[]){ "From" }, 1, true), "\r\n");
	expect_filtered(FILTER("\r\n", true, "From"), "\r\n");
	expect_filtered(FILTER("\n", true, "From"), "\r\n");
	expect_filtered(FILTER("\r", true, "From"), "\r\n\r\n");
}

static void test_filter_long_lines(void **state)
{
	struct buf header = BUF_INIT, want = BUF_INIT;
	buf_append_str(&header, "X-Long: ");
	for (int i = 0; i < 200000; i++)
		buf_append_byte(&header, (uint8_t)('a' + i % 26));
	buf_append_str(&header, "\r\n\tcontinued\r\nTo: b\r\n\r\n");
	buf_append(&want, header.data, header.len - strlen("To: b\r\n\r\n"));
	buf_append_str(&want, "\r\n");

	const char *fields[] = { "x-long" };
	char *got = filter((const char *)header.data, header.len, fields, 1, false);
	assert_int_equal(strlen(got), want.len);
	assert_memory_equal(got, want.data, want.len);
	free(got);
	buf_free(&header);
	buf_free(&want);
}

/* An output buffer at its maximum: the filter says so. */
static void test_filter_buffer_full(void **state)
{
	static const char header[] = "Subject: 0123456789\r\n\r\n";
	const char *fields[] = { "subject" };
	struct buf out;
	buf_init(&out, 10);
	assert_int_equal(imap_header_filter(span_make(header, sizeof(header) - 1), fields, 1, false,
					    &out),
			 -1);
	buf_free(&out);
	buf_init(&out, 2);
	assert_int_equal(imap_header_filter(span_make(header, sizeof(header) - 1), fields, 0, false,
					    &out),
			 0);
	assert_memory_equal(out.data, "\r\n", 2);
	buf_free(&out);
}

/* ------------------------------------------------------------------ */
/* Partial                                                             */

static void expect_partial(uint64_t size, bool partial, uint32_t origin, uint32_t length,
			   uint64_t start, uint64_t len)
{
	struct imap_section sec = { .partial = partial, .origin = origin, .length = length };
	uint64_t got_start = 12345, got_len = 12345;
	imap_partial_apply(size, &sec, &got_start, &got_len);
	if (got_start != start || got_len != len)
		fail_msg("size %llu <%u.%u>: %llu+%llu, want %llu+%llu", (unsigned long long)size,
			 origin, length, (unsigned long long)got_start,
			 (unsigned long long)got_len, (unsigned long long)start,
			 (unsigned long long)len);
}

static void test_partial(void **state)
{
	expect_partial(100, false, 0, 0, 0, 100);
	expect_partial(0, false, 0, 0, 0, 0);
	expect_partial(100, true, 0, 10, 0, 10);
	expect_partial(100, true, 10, 20, 10, 20);
	expect_partial(100, true, 90, 10, 90, 10);
	expect_partial(100, true, 90, 11, 90, 10);      /* cut at the end */
	expect_partial(100, true, 99, 4294967295u, 99, 1);
	expect_partial(100, true, 100, 1, 100, 0);      /* origin at the end: "" */
	expect_partial(100, true, 4294967295u, 1, 100, 0);
	expect_partial(0, true, 0, 1, 0, 0);
	/* sections above 4 GiB: origin and length stay 32-bit */
	expect_partial(10000000000ull, true, 4294967295u, 4294967295u, 4294967295u, 4294967295u);
	expect_partial(10000000000ull, false, 0, 0, 0, 10000000000ull);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_items),
		cmocka_unit_test(test_macros),
		cmocka_unit_test(test_sections),
		cmocka_unit_test(test_section_fields),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_raw_args),
		cmocka_unit_test(test_resolve_rfc3501_example),
		cmocka_unit_test(test_resolve_single_part),
		cmocka_unit_test(test_resolve_nested_alternative),
		cmocka_unit_test(test_resolve_forwarded_single_part),
		cmocka_unit_test(test_resolve_top_level_rfc822),
		cmocka_unit_test(test_resolve_bad_tables),
		cmocka_unit_test(test_resolve_corpus),
		cmocka_unit_test(test_filter_fields),
		cmocka_unit_test(test_filter_fields_not),
		cmocka_unit_test(test_filter_broken),
		cmocka_unit_test(test_filter_long_lines),
		cmocka_unit_test(test_filter_buffer_full),
		cmocka_unit_test(test_partial),
	};
	return cmocka_run_group_tests(tests, setup_arena, teardown_arena);
}
