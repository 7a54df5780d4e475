/* Line and literal framing, including every split point of the input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/reader.h"

/*
 * Drains the reader into a transcript:
 *   L<line>|            a line without literal
 *   L<line>{n}a|        a line with a literal we accepted (r: rejected, s: skipped)
 *   D<bytes>|           literal data, consecutive pieces merged
 *   E|                  line too long
 * Literals of at most 100 bytes are accepted; bigger ones are rejected when
 * synchronising and skipped when not, as a protocol would.
 */
struct transcript {
	char text[8192];
	size_t len;
	bool in_data;
};

static void tr_add(struct transcript *t, const void *data, size_t len)
{
	assert_true(t->len + len < sizeof(t->text));
	memcpy(t->text + t->len, data, len);
	t->len += len;
	t->text[t->len] = '\0';
}

static void drain(struct reader *r, struct transcript *t)
{
	struct reader_item item;
	for (;;) {
		enum reader_result res = reader_next(r, &item);
		if (res == READER_NEED_MORE)
			return;
		if (res != READER_LITERAL && t->in_data) {
			tr_add(t, "|", 1);
			t->in_data = false;
		}
		switch (res) {
		case READER_LINE:
			tr_add(t, "L", 1);
			tr_add(t, item.data.ptr, item.data.len);
			if (item.has_literal) {
				char c = 'a';
				if (reader_literal_accept(r, 100) < 0) {
					c = item.literal_nonsync ? 's' : 'r';
					if (item.literal_nonsync)
						reader_literal_skip(r);
					else
						reader_literal_reject(r);
				}
				tr_add(t, &c, 1);
			}
			tr_add(t, "|", 1);
			break;
		case READER_LITERAL:
			if (!t->in_data)
				tr_add(t, "D", 1);
			t->in_data = true;
			tr_add(t, item.data.ptr, item.data.len);
			if (item.literal_left == 0) {
				tr_add(t, "|", 1);
				t->in_data = false;
			}
			break;
		case READER_LINE_TOO_LONG:
			tr_add(t, "E|", 2);
			break;
		default:
			fail();
		}
	}
}

static const struct reader_limits imap_limits = { .max_line = 40, .literals = true };

static void run_whole(const char *input, size_t len, const struct reader_limits *lim,
		      struct transcript *t)
{
	struct reader r;
	reader_init(&r, lim);
	memset(t, 0, sizeof(*t));
	reader_feed(&r, (const uint8_t *)input, len);
	drain(&r, t);
	reader_deinit(&r);
}

/* Feeds input in two pieces split at every offset, then one byte at a time,
   and checks each gives the same transcript as feeding it whole. */
static void check_splits(const char *input, const char *expected, const struct reader_limits *lim)
{
	size_t len = strlen(input);
	struct transcript whole;
	run_whole(input, len, lim, &whole);
	assert_string_equal(whole.text, expected);

	for (size_t split = 0; split <= len; split++) {
		struct reader r;
		struct transcript t = { 0 };
		reader_init(&r, lim);
		reader_feed(&r, (const uint8_t *)input, split);
		drain(&r, &t);
		reader_feed(&r, (const uint8_t *)input + split, len - split);
		drain(&r, &t);
		reader_deinit(&r);
		if (strcmp(t.text, expected) != 0)
			fail_msg("split at %zu: got '%s' want '%s'", split, t.text, expected);
	}

	struct reader r;
	struct transcript t = { 0 };
	reader_init(&r, lim);
	for (size_t i = 0; i < len; i++) {
		reader_feed(&r, (const uint8_t *)input + i, 1);
		drain(&r, &t);
	}
	reader_deinit(&r);
	assert_string_equal(t.text, expected);
}

static void test_lines(void **state)
{
	check_splits("a NOOP\r\nb CAPABILITY\r\n", "La NOOP|Lb CAPABILITY|", &imap_limits);
	/* Bare LF is accepted; an empty line is a line. */
	check_splits("x\n\r\ny\r\n", "Lx|L|Ly|", &imap_limits);
	/* An incomplete last line stays buffered. */
	check_splits("a NOOP\r\nb NO", "La NOOP|", &imap_limits);
	/* A CR inside a line is data. */
	check_splits("a\rb\r\n", "La\rb|", &imap_limits);
}

static void test_literals(void **state)
{
	check_splits("a LOGIN {4}\r\nuser {4+}\r\npass\r\n",
		     "La LOGIN {4}a|Duser|L {4+}a|Dpass|L|", &imap_limits);
	/* A zero-length literal. */
	check_splits("a X {0}\r\n\r\n", "La X {0}a|L|", &imap_limits);
	/* Literal data may contain CRLF and braces; it is not parsed. */
	check_splits("a APPEND x {9}\r\nab\r\n{3}\r\n\r\n", "La APPEND x {9}a|Dab\r\n{3}\r\n|L|",
		     &imap_limits);
	/* Not announcements: no digits, no brace, text after the brace. */
	check_splits("a {}\r\nb 12}\r\nc {5} x\r\nd {+}\r\n", "La {}|Lb 12}|Lc {5} x|Ld {+}|",
		     &imap_limits);
	/* Without literal support, "{5}" is just text. */
	struct reader_limits pop3 = { .max_line = 40, .literals = false };
	check_splits("USER {5}\r\nPASS x\r\n", "LUSER {5}|LPASS x|", &pop3);
}

static void test_literal_refused(void **state)
{
	/* A synchronising literal we refuse is never sent: the next line is a
	   new command. */
	check_splits("a LOGIN {200}\r\nb NOOP\r\n", "La LOGIN {200}r|Lb NOOP|", &imap_limits);
	/* A non-synchronising one is sent anyway and must be skipped whole,
	   including CRLFs inside it. */
	char input[512];
	char expected[512];
	char body[201];
	memset(body, 'x', 200);
	body[50] = '\r';
	body[51] = '\n';
	body[200] = '\0';
	snprintf(input, sizeof(input), "a LOGIN {200+}\r\n%s\r\nb NOOP\r\n", body);
	snprintf(expected, sizeof(expected), "La LOGIN {200+}s|L|Lb NOOP|");
	check_splits(input, expected, &imap_limits);
}

static void test_literal_absurd_size(void **state)
{
	struct reader r;
	struct reader_item item;
	reader_init(&r, &imap_limits);
	const char *line = "a X {99999999999999999999999}\r\n";
	reader_feed(&r, (const uint8_t *)line, strlen(line));
	assert_int_equal(reader_next(&r, &item), READER_LINE);
	assert_true(item.has_literal);
	assert_true(item.literal_size == UINT64_MAX);
	assert_int_equal(reader_literal_accept(&r, UINT64_MAX - 1), -1);
	reader_literal_reject(&r);
	assert_int_equal(reader_next(&r, &item), READER_NEED_MORE);
	reader_deinit(&r);
}

static void test_line_too_long(void **state)
{
	/* Exactly max_line is fine, one more is not; the long line is dropped
	   and reading resumes at the next line. */
	char ok[64], bad[64], input[256], expected[256];
	memset(ok, 'o', 40);
	ok[40] = '\0';
	memset(bad, 'b', 41);
	bad[41] = '\0';
	snprintf(input, sizeof(input), "%s\r\n%s\r\nnext\r\n", ok, bad);
	snprintf(expected, sizeof(expected), "L%s|E|Lnext|", ok);
	check_splits(input, expected, &imap_limits);
}

static void test_huge_line_bounded_memory(void **state)
{
	/* 10 MB without a line end, fed in 64 KiB reads: one error, and the
	   buffer never grows past one read plus max_line. */
	struct reader_limits lim = { .max_line = 8192, .literals = true };
	struct reader r;
	struct reader_item item;
	reader_init(&r, &lim);
	static uint8_t chunk[65536];
	memset(chunk, 'A', sizeof(chunk));
	int errors = 0;
	size_t max_cap = 0;
	for (size_t sent = 0; sent < 10 * 1024 * 1024; sent += sizeof(chunk)) {
		reader_feed(&r, chunk, sizeof(chunk));
		if (r.in.cap > max_cap)
			max_cap = r.in.cap;
		enum reader_result res;
		while ((res = reader_next(&r, &item)) != READER_NEED_MORE) {
			assert_int_equal(res, READER_LINE_TOO_LONG);
			errors++;
		}
	}
	reader_feed(&r, (const uint8_t *)"\r\na NOOP\r\n", 10);
	assert_int_equal(reader_next(&r, &item), READER_LINE);
	assert_int_equal(item.data.len, 6);
	assert_memory_equal(item.data.ptr, "a NOOP", 6);
	assert_int_equal(errors, 1);
	assert_true(max_cap <= 2 * (sizeof(chunk) + lim.max_line));
	reader_deinit(&r);
}

static void test_idle_memory_released(void **state)
{
	struct reader r;
	struct reader_item item;
	reader_init(&r, &imap_limits);
	reader_feed(&r, (const uint8_t *)"a NOOP\r\n", 8);
	assert_int_equal(reader_next(&r, &item), READER_LINE);
	assert_int_equal(reader_next(&r, &item), READER_NEED_MORE);
	assert_null(r.in.data);
	assert_int_equal(reader_buffered(&r), 0);
	reader_deinit(&r);
}

static void test_reset_discards_pipelined(void **state)
{
	/* STARTTLS followed by injected plaintext in the same packet: after
	   reset, nothing of it may be seen. */
	struct reader r;
	struct reader_item item;
	reader_init(&r, &imap_limits);
	const char *in = "a STARTTLS\r\nb LOGIN evil evil\r\n";
	reader_feed(&r, (const uint8_t *)in, strlen(in));
	assert_int_equal(reader_next(&r, &item), READER_LINE);
	assert_int_equal(reader_buffered(&r), strlen("b LOGIN evil evil\r\n"));
	reader_reset(&r);
	assert_int_equal(reader_next(&r, &item), READER_NEED_MORE);
	reader_feed(&r, (const uint8_t *)"c NOOP\r\n", 8);
	assert_int_equal(reader_next(&r, &item), READER_LINE);
	assert_memory_equal(item.data.ptr, "c NOOP", 6);
	reader_deinit(&r);
}

/* Raw mode as LMTP uses it: "BDAT n" takes exactly n bytes; "DATA" takes
   bytes until the protocol finds its terminator and hands the rest back. */
static void test_raw_mode(void **state)
{
	const char *input = "BDAT 5\r\nab\r\ncDATA\r\nxy\r\n.\r\nQUIT\r\n";
	struct reader_limits lim = { .max_line = 40, .literals = false };
	/* Every split point: the frames must come out the same. */
	for (size_t split = 0; split <= strlen(input); split++) {
		struct reader r;
		reader_init(&r, &lim);
		char raw[64] = "";
		size_t rawlen = 0;
		char lines[128] = "";
		int phase = 0; /* 0 before BDAT, 1 in BDAT, 2 after, 3 in DATA, 4 after */
		const char *parts[2] = { input, input + split };
		size_t lens[2] = { split, strlen(input) - split };
		for (int p = 0; p < 2; p++) {
			reader_feed(&r, (const uint8_t *)parts[p], lens[p]);
			struct reader_item item;
			enum reader_result res;
			while ((res = reader_next(&r, &item)) != READER_NEED_MORE) {
				if (res == READER_LINE) {
					strncat(lines, (const char *)item.data.ptr, item.data.len);
					strcat(lines, "|");
					if (phase == 0) {
						reader_raw_begin(&r, 5);
						phase = 1;
					} else if (phase == 2) {
						reader_raw_begin(&r, UINT64_MAX);
						phase = 3;
					}
					continue;
				}
				assert_int_equal(res, READER_LITERAL);
				memcpy(raw + rawlen, item.data.ptr, item.data.len);
				rawlen += item.data.len;
				raw[rawlen] = '\0';
				if (phase == 1 && item.literal_left == 0) {
					phase = 2;
				} else if (phase == 3) {
					char *end = strstr(raw, "\r\n.\r\n");
					if (end != NULL) {
						size_t keep = (size_t)(end + 5 - raw);
						reader_raw_stop(&r, rawlen - keep);
						rawlen = keep;
						raw[rawlen] = '\0';
						phase = 4;
					}
				}
			}
		}
		assert_string_equal(lines, "BDAT 5|DATA|QUIT|");
		assert_string_equal(raw, "ab\r\ncxy\r\n.\r\n");
		reader_deinit(&r);
	}
}

static void test_limits_change(void **state)
{
	struct reader r;
	struct reader_item item;
	struct reader_limits small = { .max_line = 10, .literals = true };
	struct reader_limits big = { .max_line = 100, .literals = true };
	reader_init(&r, &small);
	const char *in = "0123456789abc\r\n";
	reader_feed(&r, (const uint8_t *)in, strlen(in));
	assert_int_equal(reader_next(&r, &item), READER_LINE_TOO_LONG);
	reader_set_limits(&r, &big);
	reader_feed(&r, (const uint8_t *)in, strlen(in));
	assert_int_equal(reader_next(&r, &item), READER_LINE);
	reader_deinit(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lines),
		cmocka_unit_test(test_literals),
		cmocka_unit_test(test_literal_refused),
		cmocka_unit_test(test_literal_absurd_size),
		cmocka_unit_test(test_line_too_long),
		cmocka_unit_test(test_huge_line_bounded_memory),
		cmocka_unit_test(test_idle_memory_released),
		cmocka_unit_test(test_reset_discards_pipelined),
		cmocka_unit_test(test_limits_change),
		cmocka_unit_test(test_raw_mode),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
