/* pop3d's pure pieces: argument words, numbers, and the multi-line
   encoder (dot-stuffing, line ends, TOP) at every split point. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "pop3d/pop3_args.h"
#include "pop3d/pop3_dotstuff.h"

static struct span S(const char *s)
{
	return span_cstr(s);
}

static void test_split(void **state)
{
	struct span w[2];
	assert_int_equal(pop3_args_split(S(""), w, 2), 0);
	assert_int_equal(pop3_args_split(S("   "), w, 2), 0);
	assert_int_equal(pop3_args_split(S("1"), w, 2), 1);
	assert_true(span_eq(w[0], "1"));
	assert_int_equal(pop3_args_split(S("  12   7 "), w, 2), 2);
	assert_true(span_eq(w[0], "12"));
	assert_true(span_eq(w[1], "7"));
	assert_int_equal(pop3_args_split(S("1 2 3"), w, 2), -1);
	assert_int_equal(pop3_args_split(S("x"), w, 0), -1);
	assert_int_equal(pop3_args_split(S(""), w, 0), 0);
	/* Tabs and NULs are not separators: they make a word invalid later. */
	assert_int_equal(pop3_args_split(span_make("1\t2", 3), w, 2), 1);
	assert_int_equal(pop3_args_split(span_make("1\0 2", 4), w, 2), 2);
	assert_int_equal(w[0].len, 2);
}

static void test_numbers(void **state)
{
	static const struct {
		const char *text;
		uint64_t max;
		int result;
		uint64_t value;
	} cases[] = {
		{ "1", UINT32_MAX, POP3_NUMBER_OK, 1 },
		{ "0", UINT32_MAX, POP3_NUMBER_OK, 0 },
		{ "007", UINT32_MAX, POP3_NUMBER_OK, 7 },
		{ "4294967295", UINT32_MAX, POP3_NUMBER_OK, UINT32_MAX },
		{ "4294967296", UINT32_MAX, POP3_NUMBER_TOO_LARGE, 0 },
		{ "18446744073709551615", UINT64_MAX, POP3_NUMBER_OK, UINT64_MAX },
		{ "18446744073709551616", UINT64_MAX, POP3_NUMBER_TOO_LARGE, 0 },
		{ "99999999999999999999999999", UINT64_MAX, POP3_NUMBER_TOO_LARGE, 0 },
		{ "9", 5, POP3_NUMBER_TOO_LARGE, 0 },
		{ "5", 5, POP3_NUMBER_OK, 5 },
		{ "1", 0, POP3_NUMBER_TOO_LARGE, 0 },
		{ "", UINT64_MAX, POP3_NUMBER_INVALID, 0 },
		{ "-1", UINT64_MAX, POP3_NUMBER_INVALID, 0 },
		{ "+1", UINT64_MAX, POP3_NUMBER_INVALID, 0 },
		{ "1x", UINT64_MAX, POP3_NUMBER_INVALID, 0 },
		{ "x1", UINT64_MAX, POP3_NUMBER_INVALID, 0 },
		{ " 1", UINT64_MAX, POP3_NUMBER_INVALID, 0 },
		{ "1.0", UINT64_MAX, POP3_NUMBER_INVALID, 0 },
		{ "0x10", UINT64_MAX, POP3_NUMBER_INVALID, 0 },
		/* Overflow is never mistaken for syntax, and vice versa. */
		{ "99999999999999999999999999x", UINT64_MAX, POP3_NUMBER_INVALID, 0 },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint64_t v = 12345;
		int r = pop3_number_parse(S(cases[i].text), cases[i].max, &v);
		if (r != cases[i].result)
			fail_msg("'%s': %d, expected %d", cases[i].text, r, cases[i].result);
		if (r == POP3_NUMBER_OK && v != cases[i].value)
			fail_msg("'%s': %llu", cases[i].text, (unsigned long long)v);
		if (r != POP3_NUMBER_OK && v != 12345)
			fail_msg("'%s': value written on error", cases[i].text);
	}
	uint64_t v;
	assert_int_equal(pop3_number_parse(span_make("1\0", 2), UINT64_MAX, &v), POP3_NUMBER_INVALID);
}

/* Encodes `in` with the split points given (sorted offsets), returns the
   response in out and the bytes used. */
static size_t encode_split(const char *in, size_t len, uint64_t lines, const size_t *splits,
			   size_t nsplits, struct buf *out)
{
	struct pop3_dotstuff st;
	pop3_dotstuff_init(&st, lines);
	size_t used = 0, from = 0;
	for (size_t k = 0; k <= nsplits; k++) {
		size_t to = k < nsplits ? splits[k] : len;
		if (!pop3_dotstuff_done(&st))
			used += pop3_dotstuff_feed(&st, (const uint8_t *)in + from, to - from, out);
		from = to;
	}
	pop3_dotstuff_end(&st, out);
	return used;
}

/* Lengths from sizeof, so cases may hold NUL bytes. */
#define C(in, lines, out) { in, sizeof(in) - 1, lines, out, sizeof(out) - 1 }
#define ALL POP3_DOTSTUFF_ALL

static const struct {
	const char *in;
	size_t in_len;
	uint64_t lines; /* ALL: RETR */
	const char *out;
	size_t out_len;
} encode_cases[] = {
	C("", ALL, ".\r\n"),
	C("a\r\n", ALL, "a\r\n.\r\n"),
	C("a", ALL, "a\r\n.\r\n"),
	C("a\n", ALL, "a\r\n.\r\n"),
	C("a\nb\n\nc", ALL, "a\r\nb\r\n\r\nc\r\n.\r\n"),
	C(".\r\n", ALL, "..\r\n.\r\n"),
	C(".", ALL, "..\r\n.\r\n"),
	C("a\r\n.\r\n..x\r\nb.c\r\n", ALL, "a\r\n..\r\n...x\r\nb.c\r\n.\r\n"),
	C("a\n.\n", ALL, "a\r\n..\r\n.\r\n"),
	C("a\r", ALL, "a\r\n.\r\n"),
	C("a\rb\r\n", ALL, "a\rb\r\n.\r\n"),
	C("\r\r\n", ALL, "\r\r\n.\r\n"),
	C("\n\n", ALL, "\r\n\r\n.\r\n"),
	/* TOP: header, blank line, n body lines. */
	C("H: 1\r\nJ: 2\r\n\r\nb1\r\nb2\r\nb3\r\n", 0, "H: 1\r\nJ: 2\r\n\r\n.\r\n"),
	C("H: 1\r\nJ: 2\r\n\r\nb1\r\nb2\r\nb3\r\n", 2, "H: 1\r\nJ: 2\r\n\r\nb1\r\nb2\r\n.\r\n"),
	C("H: 1\r\n\r\nb1\r\n.b2\r\nb3", 3, "H: 1\r\n\r\nb1\r\n..b2\r\nb3\r\n.\r\n"),
	C("H: 1\r\n\r\nb1\r\n", 99, "H: 1\r\n\r\nb1\r\n.\r\n"),
	C("H: 1\nJ: 2\n\nb1\nb2\n", 1, "H: 1\r\nJ: 2\r\n\r\nb1\r\n.\r\n"),
	/* No blank line: all of it is header. */
	C("H: 1\r\nJ: 2\r\n", 0, "H: 1\r\nJ: 2\r\n.\r\n"),
	/* A message that starts with the blank line: empty header. */
	C("\r\nbody\r\nmore\r\n", 1, "\r\nbody\r\n.\r\n"),
	C("\r\nbody\r\n", 0, "\r\n.\r\n"),
	/* A line of "\r" alone ends the header too ("\r\r\n" does not). */
	C("H: 1\r\n\r\r\nx\r\n\r\ny\r\n", 0, "H: 1\r\n\r\r\nx\r\n\r\n.\r\n"),
	C("H\r\n\r\n.\r\n.\r\n", 1, "H\r\n\r\n..\r\n.\r\n"),
	/* NUL bytes are data. */
	C("a\0b\r\n", ALL, "a\0b\r\n.\r\n"),
};

/* Every case, whole, at every single split point and byte by byte. */
static void test_encode_every_split(void **state)
{
	for (size_t i = 0; i < sizeof(encode_cases) / sizeof(encode_cases[0]); i++) {
		const char *in = encode_cases[i].in;
		size_t len = encode_cases[i].in_len;
		const char *want = encode_cases[i].out;
		size_t want_len = encode_cases[i].out_len;
		for (size_t split = 0; split <= len + 1; split++) {
			struct buf out = BUF_INIT;
			size_t splits[64];
			size_t n = 0;
			if (split <= len) {
				splits[n++] = split;
			} else {
				for (size_t k = 1; k < len && n < 64; k++)
					splits[n++] = k; /* byte by byte */
			}
			encode_split(in, len, encode_cases[i].lines, splits, n, &out);
			if (out.len != want_len || memcmp(out.data, want, want_len) != 0)
				fail_msg("case %zu split %zu: got '%.*s'", i, split, (int)out.len,
					 (const char *)out.data);
			buf_free(&out);
		}
	}
}

/* What RETR does with pieces read into place: each one that encodes to
   itself (pop3_dotstuff_verbatim) stays, the others are fed. The response
   must be the one feeding every piece gives; a clean piece stays. */
static void test_encode_verbatim(void **state)
{
	for (size_t i = 0; i < sizeof(encode_cases) / sizeof(encode_cases[0]); i++) {
		const uint8_t *in = (const uint8_t *)encode_cases[i].in;
		size_t len = encode_cases[i].in_len;
		for (size_t piece = 1; piece <= len + 1; piece++) {
			struct pop3_dotstuff st;
			pop3_dotstuff_init(&st, encode_cases[i].lines);
			struct buf out = BUF_INIT;
			for (size_t at = 0; at < len && !pop3_dotstuff_done(&st); at += piece) {
				size_t n = len - at < piece ? len - at : piece;
				if (pop3_dotstuff_verbatim(&st, in + at, n))
					buf_append(&out, in + at, n);
				else
					pop3_dotstuff_feed(&st, in + at, n, &out);
			}
			pop3_dotstuff_end(&st, &out);
			if (out.len != encode_cases[i].out_len ||
			    memcmp(out.data, encode_cases[i].out, out.len) != 0)
				fail_msg("case %zu pieces of %zu: got '%.*s'", i, piece,
					 (int)out.len, (const char *)out.data);
			buf_free(&out);
		}
	}
	struct pop3_dotstuff st;
	pop3_dotstuff_init(&st, POP3_DOTSTUFF_ALL);
	const char *clean = "H: 1\r\n\r\nbody. .\r\nx\r";
	assert_true(pop3_dotstuff_verbatim(&st, (const uint8_t *)clean, strlen(clean)));
	assert_true(pop3_dotstuff_verbatim(&st, (const uint8_t *)"\n", 1));
	assert_false(pop3_dotstuff_verbatim(&st, (const uint8_t *)"a\r\n.b\r\n", 7));
	assert_false(pop3_dotstuff_verbatim(&st, (const uint8_t *)"a\nb", 4));
	/* Refused pieces left the state alone: a line start still. */
	assert_false(pop3_dotstuff_verbatim(&st, (const uint8_t *)".", 1));
	pop3_dotstuff_init(&st, 5);
	assert_false(pop3_dotstuff_verbatim(&st, (const uint8_t *)clean, strlen(clean)));
}

/* TOP stops using input once its lines are out; RETR uses all of it. */
static void test_encode_used(void **state)
{
	const char *msg = "H: 1\r\n\r\nb1\r\nb2\r\n";
	struct buf out = BUF_INIT;
	assert_int_equal(encode_split(msg, strlen(msg), 1, NULL, 0, &out), 12);
	buf_free(&out);
	assert_int_equal(encode_split(msg, strlen(msg), POP3_DOTSTUFF_ALL, NULL, 0, &out),
			 strlen(msg));
	buf_free(&out);
	struct pop3_dotstuff st;
	pop3_dotstuff_init(&st, 0);
	assert_int_equal(pop3_dotstuff_feed(&st, (const uint8_t *)"H\r\n\r", 4, &out), 4);
	assert_false(pop3_dotstuff_done(&st));
	assert_int_equal(pop3_dotstuff_feed(&st, (const uint8_t *)"\nrest", 5, &out), 1);
	assert_true(pop3_dotstuff_done(&st));
	buf_free(&out);
}

/* A long message in random pieces: the output, un-stuffed, is the input,
   and never holds a bare LF or an early terminator. */
static void test_encode_long(void **state)
{
	struct buf in = BUF_INIT;
	uint32_t seed = 12345;
	for (int i = 0; i < 20000; i++) {
		seed = seed * 1103515245 + 12345;
		static const char *const parts[] = { ".", "..", "x", "\r\n", "\n", "\r", " .", "abc" };
		buf_append_str(&in, parts[(seed >> 16) % 8]);
	}
	buf_append_str(&in, "\r\n");
	struct buf out = BUF_INIT;
	struct pop3_dotstuff st;
	pop3_dotstuff_init(&st, POP3_DOTSTUFF_ALL);
	size_t at = 0;
	while (at < in.len) {
		seed = seed * 1103515245 + 12345;
		size_t n = 1 + (seed >> 16) % 97;
		if (n > in.len - at)
			n = in.len - at;
		assert_int_equal(pop3_dotstuff_feed(&st, in.data + at, n, &out), n);
		at += n;
	}
	pop3_dotstuff_end(&st, &out);
	/* Decode: the terminator is the first "\r\n.\r\n"; remove stuffing. */
	struct buf dec = BUF_INIT;
	size_t i = 0;
	bool line_start = true, ended = false;
	while (i < out.len) {
		assert_false(out.data[i] == '\n' && (i == 0 || out.data[i - 1] != '\r'));
		if (line_start && out.data[i] == '.') {
			if (i + 2 < out.len && out.data[i + 1] == '\r' && out.data[i + 2] == '\n') {
				assert_int_equal(i + 3, out.len);
				ended = true;
				break;
			}
			assert_int_equal(out.data[i + 1], '.');
			i++;
		}
		buf_append_byte(&dec, out.data[i]);
		line_start = out.data[i] == '\n';
		i++;
	}
	assert_true(ended);
	/* The input with every bare LF made CRLF. */
	struct buf want = BUF_INIT;
	for (size_t k = 0; k < in.len; k++) {
		if (in.data[k] == '\n' && (k == 0 || in.data[k - 1] != '\r'))
			buf_append_byte(&want, '\r');
		buf_append_byte(&want, in.data[k]);
	}
	assert_int_equal(dec.len, want.len);
	assert_memory_equal(dec.data, want.data, want.len);
	buf_free(&in);
	buf_free(&out);
	buf_free(&dec);
	buf_free(&want);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_split),
		cmocka_unit_test(test_numbers),
		cmocka_unit_test(test_encode_every_split),
		cmocka_unit_test(test_encode_used),
		cmocka_unit_test(test_encode_verbatim),
		cmocka_unit_test(test_encode_long),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
