/* IMAP command tokenizer: valid forms, every error, hostile input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/buf.h"
#include "imapd/imap_parser.h"

static const struct imap_parse_limits limits = { .max_depth = 20, .max_args = 1000 };

/* Renders a parsed command: atoms bare, quoted as q"..", literals as
   L{n}.., lists in parentheses; arguments separated by '|'. */
static void render_args(struct buf *out, const struct imap_arg *args, size_t count)
{
	for (size_t i = 0; i < count; i++) {
		if (i > 0)
			buf_append_str(out, "|");
		const struct imap_arg *a = &args[i];
		switch (a->type) {
		case IMAP_ARG_ATOM:
			buf_append(out, a->str.ptr, a->str.len);
			break;
		case IMAP_ARG_QUOTED:
			buf_append_str(out, "q\"");
			buf_append(out, a->str.ptr, a->str.len);
			buf_append_str(out, "\"");
			break;
		case IMAP_ARG_LITERAL:
			buf_printf(out, "L{%zu%s}", a->str.len, a->literal_nonsync ? "+" : "");
			buf_append(out, a->str.ptr, a->str.len);
			break;
		case IMAP_ARG_LIST:
			buf_append_str(out, "(");
			render_args(out, a->list, a->count);
			buf_append_str(out, ")");
			break;
		}
	}
}

static char *parse(const char *wire, size_t len, const char **error_r)
{
	struct arena arena;
	arena_init(&arena, 256);
	struct imap_command_line cmd;
	/* Copy into an exact-size heap buffer so ASan sees any overread. */
	uint8_t *copy = malloc(len);
	memcpy(copy, wire, len);
	char *result = NULL;
	*error_r = NULL;
	if (imap_parse_command(&arena, span_make(copy, len), &limits, &cmd, error_r) == 0) {
		struct buf out = BUF_INIT;
		buf_append(&out, cmd.tag.ptr, cmd.tag.len);
		buf_append_str(&out, " ");
		buf_append(&out, cmd.name.ptr, cmd.name.len);
		buf_append_str(&out, ":");
		render_args(&out, cmd.args, cmd.count);
		result = (char *)out.data;
	}
	free(copy);
	arena_free(&arena);
	return result;
}

struct good_case {
	const char *wire;
	const char *expected;
};

static void test_valid(void **state)
{
	static const struct good_case cases[] = {
		{ "a1 NOOP\r\n", "a1 NOOP:" },
		{ "a LOGIN user pass\r\n", "a LOGIN:user|pass" },
		{ "a LOGIN \"us er\" \"p\\\"a\\\\ss\"\r\n", "a LOGIN:q\"us er\"|q\"p\"a\\ss\"" },
		{ "a LOGIN {4}\r\nuser {4+}\r\np ss\r\n", "a LOGIN:L{4}user|L{4+}p ss" },
		{ "a LOGIN {0}\r\n \"\"\r\n", "a LOGIN:L{0}|q\"\"" },
		{ "* LIST \"\" *\r\n", NULL }, /* '*' is not a tag char */
		{ "a] NOOP\r\n", "a] NOOP:" },
		{ "a LIST \"\" %\r\n", "a LIST:q\"\"|%" },
		{ "a FETCH 1:*,5 (FLAGS BODY.PEEK[HEADER.FIELDS (From To)]<0.100>)\r\n",
		  "a FETCH:1:*,5|(FLAGS|BODY.PEEK[HEADER.FIELDS (From To)]<0.100>)" },
		{ "a STORE 1 +FLAGS.SILENT (\\Seen \\Deleted)\r\n",
		  "a STORE:1|+FLAGS.SILENT|(\\Seen|\\Deleted)" },
		{ "a SEARCH (OR (FROM x) ())\r\n", "a SEARCH:(OR|(FROM|x)|())" },
		{ "a SEARCH CHARSET UTF-8 TEXT \"caf\xc3\xa9\"\r\n",
		  "a SEARCH:CHARSET|UTF-8|TEXT|q\"caf\xc3\xa9\"" },
		{ "a APPEND INBOX {11}\r\nHi\r\nthere\r\n\r\n", "a APPEND:INBOX|L{11}Hi\r\nthere\r\n" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *error;
		char *got = parse(cases[i].wire, strlen(cases[i].wire), &error);
		if (cases[i].expected == NULL) {
			if (got != NULL)
				fail_msg("case %zu: accepted '%s'", i, got);
			continue;
		}
		if (got == NULL)
			fail_msg("case %zu (%s): %s", i, cases[i].wire, error);
		assert_string_equal(got, cases[i].expected);
		free(got);
	}
}

struct bad_case {
	const char *wire;
	const char *error;
};

static void test_errors(void **state)
{
	static const struct bad_case cases[] = {
		{ "NOOP\r\n", "Invalid tag" },
		{ " a NOOP\r\n", "Invalid tag" },
		{ "a+ NOOP\r\n", "Invalid tag" },
		{ "a NOOP", "Missing CRLF" },
		{ "a \r\n", "Missing command name" },
		{ "a NO\"OP\r\n", "Invalid character in command name" },
		{ "a LOGIN (a b\r\n", "Missing ')'" },
		{ "a LOGIN a)\r\n", "Unexpected ')'" },
		{ "a LOGIN a  b\r\n", "Unexpected space" },
		{ "a LOGIN a \r\n", "Missing argument" },
		{ "a LOGIN \"abc\r\n", "Unterminated quoted string" },
		{ "a LOGIN \"a\\bc\"\r\n", "Invalid escape in quoted string" },
		{ "a LOGIN {3}x\r\n", "Literal must end the line" },
		{ "a LOGIN {}\r\n", "Invalid literal size" },
		{ "a LOGIN {10}\r\nabc\r\n", "Literal shorter than announced" },
		{ "a LOGIN {99999999999999999999999}\r\n", "Literal size too large" },
		{ "a LOGIN a\"b\r\n", "Expected space between arguments" },
		{ "a FETCH 1 BODY[HEADER\r\n", "Missing ']'" },
		{ "a LOGIN caf\xc3\xa9 x\r\n", "8-bit characters are allowed only in strings" },
		{ "a LOGIN \xc3\xa9 x\r\n", "8-bit characters are allowed only in strings" },
		{ "a LOGIN a\x01 x\r\n", "Expected space between arguments" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *error;
		char *got = parse(cases[i].wire, strlen(cases[i].wire), &error);
		if (got != NULL)
			fail_msg("case %zu (%s): accepted as '%s'", i, cases[i].wire, got);
		if (error == NULL || strcmp(error, cases[i].error) != 0)
			fail_msg("case %zu (%s): error '%s', want '%s'", i, cases[i].wire,
				 error ? error : "(none)", cases[i].error);
	}
}

static void test_nul_in_quoted_and_literal(void **state)
{
	const char *error;
	static const char quoted[] = "a LOGIN \"a\0b\" x\r\n";
	assert_null(parse(quoted, sizeof(quoted) - 1, &error));
	assert_string_equal(error, "NUL in quoted string");

	/* A literal may carry a NUL; imap_arg_cstr() refuses it. */
	static const char lit[] = "a LOGIN {3}\r\na\0b x\r\n";
	struct arena arena;
	arena_init(&arena, 128);
	struct imap_command_line cmd;
	assert_int_equal(imap_parse_command(&arena, span_make(lit, sizeof(lit) - 1), &limits, &cmd,
					    &error), 0);
	assert_int_equal(cmd.count, 2);
	assert_null(imap_arg_cstr(&arena, &cmd.args[0]));
	assert_string_equal(imap_arg_cstr(&arena, &cmd.args[1]), "x");
	arena_free(&arena);
}

static void test_deep_nesting(void **state)
{
	/* 10,000 open parentheses: a clean error, no deep recursion. */
	size_t depth = 10000;
	char *wire = malloc(depth * 2 + 32);
	size_t n = (size_t)sprintf(wire, "a SEARCH ");
	memset(wire + n, '(', depth);
	n += depth;
	memset(wire + n, ')', depth);
	n += depth;
	memcpy(wire + n, "\r\n", 2);
	n += 2;
	const char *error;
	assert_null(parse(wire, n, &error));
	assert_string_equal(error, "Lists nested too deeply");
	free(wire);
}

static void test_too_many_args(void **state)
{
	struct buf wire = BUF_INIT;
	buf_append_str(&wire, "a SEARCH");
	for (int i = 0; i < 1001; i++)
		buf_append_str(&wire, " x");
	buf_append_str(&wire, "\r\n");
	const char *error;
	assert_null(parse((const char *)wire.data, wire.len, &error));
	assert_string_equal(error, "Too many arguments");
	buf_free(&wire);
}

static void test_every_truncation(void **state)
{
	/* Every proper prefix (with CRLF appended) of a complicated command
	   either parses or fails cleanly; ASan checks no byte outside is read. */
	const char *full = "a1 FETCH 1:* (FLAGS BODY[HEADER.FIELDS (A B)]<0.5> \"q\\\"x\" {3}\r\nabc)";
	size_t len = strlen(full);
	for (size_t i = 0; i <= len; i++) {
		char *wire = malloc(i + 2);
		memcpy(wire, full, i);
		memcpy(wire + i, "\r\n", 2);
		const char *error;
		char *got = parse(wire, i + 2, &error);
		assert_true(got != NULL || error != NULL);
		free(got);
		free(wire);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_nul_in_quoted_and_literal),
		cmocka_unit_test(test_deep_nesting),
		cmocka_unit_test(test_too_many_args),
		cmocka_unit_test(test_every_truncation),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
