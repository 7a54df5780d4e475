/* Modified UTF-7 mailbox names: RFC 3501 examples, every rejection, round trips. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/buf.h"
#include "common/utf8.h"
#include "imapd/imap_mutf7.h"

/* Runs the codec on an exact-size heap copy, so ASan sees any overread. */
static int run_exact(int (*codec)(struct span, struct buf *), const void *in, size_t len,
		     struct buf *out)
{
	uint8_t *copy = malloc(len ? len : 1);
	memcpy(copy, in, len);
	int ret = codec(span_make(copy, len), out);
	free(copy);
	return ret;
}

static int decode_exact(const void *in, size_t len, struct buf *out)
{
	return run_exact(imap_mutf7_decode, in, len, out);
}

static int encode_exact(const void *in, size_t len, struct buf *out)
{
	return run_exact(imap_mutf7_encode, in, len, out);
}

/* Both directions between a UTF-8 name and its wire form. */
static void check_pair(const char *utf8, const char *mutf7)
{
	struct buf b = BUF_INIT;
	if (encode_exact(utf8, strlen(utf8), &b) < 0)
		fail_msg("could not encode '%s'", utf8);
	assert_string_equal(buf_cstr(&b), mutf7);
	buf_clear(&b);
	if (decode_exact(mutf7, strlen(mutf7), &b) < 0)
		fail_msg("could not decode '%s'", mutf7);
	assert_string_equal(buf_cstr(&b), utf8);
	buf_free(&b);
}

static void test_rfc3501_example(void **state)
{
	/* RFC 3501 5.1.3: "~peter/mail/台北/日本語". */
	check_pair("~peter/mail/\xe5\x8f\xb0\xe5\x8c\x97/\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e",
		   "~peter/mail/&U,BTFw-/&ZeVnLIqe-");
}

static void test_pairs(void **state)
{
	check_pair("", "");
	check_pair("INBOX", "INBOX");
	check_pair("Sent Items/2024", "Sent Items/2024");
	check_pair(" !\"#$%'()*+,-./09:;<=>?@AZ[\\]^_`az{|}~", " !\"#$%'()*+,-./09:;<=>?@AZ[\\]^_`az{|}~");
	/* '&' is always "&-", also next to runs and dashes. */
	check_pair("&", "&-");
	check_pair("a&b&&", "a&-b&-&-");
	check_pair("\xc3\xa9&", "&AOk-&-");
	check_pair("&\xc3\xa9", "&-&AOk-");
	check_pair("\xc3\xa9-", "&AOk--");
	check_pair("-\xc3\xa9-", "-&AOk--");
	/* One run for all consecutive non-printable characters; 0, 2 and 4
	   padding bits at the end of a run. */
	check_pair("Entw\xc3\xbcrfe", "Entw&APw-rfe");
	check_pair("\xc3\xa9", "&AOk-");
	check_pair("\xc3\xa9\xc3\xa9", "&AOkA6Q-");
	check_pair("\xc3\xa9\xc3\xa9\xc3\xa9", "&AOkA6QDp-");
	/* Controls and DEL are encoded, not sent as themselves. */
	check_pair("\x01", "&AAE-");
	check_pair("a\x7f", "a&AH8-");
	/* Beyond the BMP: a surrogate pair in the run. */
	check_pair("\xf0\x9f\x98\x80", "&2D3eAA-");
	check_pair("\xc3\xa4\xf0\x9f\x98\x80\xc3\xb6", "&AOTYPd4AAPY-");
	check_pair("\xf4\x8f\xbf\xbf", "&2,,f,w-"); /* U+10FFFF */
}

struct bad_case {
	const char *input;
	const char *why;
};

static void test_decode_rejects(void **state)
{
	static const struct bad_case cases[] = {
		{ "caf\xc3\xa9", "8-bit bytes" },
		{ "\xff", "8-bit byte" },
		{ "a\tb", "literal control character" },
		{ "a\x7f", "literal DEL" },
		{ "&", "lone '&'" },
		{ "a&", "'&' at the end" },
		{ "&AOk", "run without '-'" },
		{ "&AOkA6Q", "longer run without '-'" },
		{ "&A/k-", "'/' is not modified base64" },
		{ "&AOk=-", "padding is not modified base64" },
		{ "&A k-", "space inside a run" },
		{ "&AOk.-", "'.' inside a run" },
		{ "&AOl-", "non-zero padding bits" },
		{ "&AOkA6R-", "non-zero padding bits, longer run" },
		{ "&A-", "one character: no whole unit" },
		{ "&AA-", "two characters: no whole unit" },
		{ "&AOkA-", "a character too many after the last unit" },
		{ "&ACY-", "encoded '&' (must be \"&-\")" },
		{ "&AGE-", "encoded 'a'" },
		{ "&ACA-", "encoded space" },
		{ "&AOkAYQ-", "printable character inside a run" },
		{ "&AOk-&AOk-", "two runs back to back" },
		{ "&AOk-&AH8-x", "two runs back to back, then text" },
		{ "&2D0-", "lone high surrogate" },
		{ "&3gA-", "lone low surrogate" },
		{ "&2D0A6Q-", "high surrogate, then not a low one" },
		{ "&3gDYPQ-", "low surrogate before the high one" },
		{ "&2D3YPd4A-", "two high surrogates" },
		{ "&2D0-&3gA-", "pair split over two runs" },
		{ "&AAA-", "encoded NUL" },
		{ "&AOkAAA-", "encoded NUL after another character" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct buf b = BUF_INIT;
		buf_append_str(&b, "kept");
		if (decode_exact(cases[i].input, strlen(cases[i].input), &b) == 0)
			fail_msg("accepted '%s' (%s)", cases[i].input, cases[i].why);
		/* A failed call leaves the buffer as it was. */
		assert_string_equal(buf_cstr(&b), "kept");
		buf_free(&b);
	}
	/* A NUL byte on the wire is not printable ASCII either. */
	struct buf b = BUF_INIT;
	assert_int_equal(decode_exact("a\0b", 3, &b), -1);
	buf_free(&b);
}

static void test_encode_rejects(void **state)
{
	static const struct bad_case cases[] = {
		{ "\xff", "not UTF-8" },
		{ "a\x80", "continuation byte alone" },
		{ "\xc0\xaf", "overlong '/'" },
		{ "\xed\xa0\x80", "UTF-8 encoded surrogate" },
		{ "\xe6\x97", "truncated sequence" },
		{ "\xf4\x90\x80\x80", "beyond U+10FFFF" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct buf b = BUF_INIT;
		buf_append_str(&b, "kept");
		if (encode_exact(cases[i].input, strlen(cases[i].input), &b) == 0)
			fail_msg("encoded '%s' (%s)", cases[i].input, cases[i].why);
		assert_string_equal(buf_cstr(&b), "kept");
		buf_free(&b);
	}
	/* NUL is valid UTF-8 but no mailbox name can hold it. */
	struct buf b = BUF_INIT;
	assert_int_equal(encode_exact("\xc3\xa9\0x", 4, &b), -1);
	assert_int_equal(b.len, 0);
	buf_free(&b);
}

/* Output past the buffer's maximum fails and leaves it as it was. */
static void test_buffer_limit(void **state)
{
	struct buf b;
	buf_init(&b, 8);
	buf_append_str(&b, "ab");
	assert_int_equal(encode_exact("\xc3\xa9\xc3\xa9", 4, &b), -1); /* "&AOkA6Q-" is 8 */
	assert_string_equal(buf_cstr(&b), "ab");
	assert_int_equal(encode_exact("\xc3\xa9", 2, &b), 0); /* "&AOk-" fits */
	assert_string_equal(buf_cstr(&b), "ab&AOk-");
	buf_clear(&b);
	assert_int_equal(decode_exact("&U,BTFw-xyz", 11, &b), -1); /* 6 + 3 bytes */
	assert_int_equal(b.len, 0);
	assert_int_equal(decode_exact("&U,BTFw-xy", 10, &b), 0);
	assert_int_equal(b.len, 8);
	buf_free(&b);
}

/* Cutting a valid wire name anywhere: the prefixes that end inside a run
   ("&" without its "-") fail, all the others are valid names themselves. */
static void test_every_truncation(void **state)
{
	const char *wire = "~peter/mail/&U,BTFw-/&ZeVnLIqe-&-x";
	/*                  0           12     19 21       30 32 */
	size_t len = strlen(wire);
	for (size_t cut = 0; cut <= len; cut++) {
		bool cuts_run = (cut >= 13 && cut <= 19) || (cut >= 22 && cut <= 30) || cut == 32;
		struct buf b = BUF_INIT;
		if (decode_exact(wire, cut, &b) != (cuts_run ? -1 : 0))
			fail_msg("prefix of %zu bytes: wrong result", cut);
		buf_free(&b);
	}
}

/* ------------------------------------------------------- random names */

static uint64_t rng_state = 0x9e3779b97f4a7c15u;

static uint32_t rng_next(void)
{
	/* xorshift64: fixed seed, so every run tests the same names. */
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (uint32_t)(rng_state >> 32);
}

/* A code point from one of the classes the codec treats differently. */
static uint32_t random_code_point(void)
{
	switch (rng_next() % 8) {
	case 0:
		return '&';
	case 1:
		return '-';
	case 2:
	case 3:
		return 0x20 + rng_next() % 0x5f; /* printable ASCII */
	case 4:
		return rng_next() % 8 == 0 ? 0x7f : 1 + rng_next() % 0x1f; /* DEL, controls */
	case 5:
		return 0x80 + rng_next() % 0x780; /* two-byte UTF-8 */
	case 6: {
		uint32_t cp = 0x800 + rng_next() % 0xf800;
		return cp >= 0xd800 && cp <= 0xdfff ? cp + 0x800 : cp; /* BMP, no surrogates */
	}
	default:
		return 0x10000 + rng_next() % 0x100000; /* astral: surrogate pairs */
	}
}

static void test_random_round_trips(void **state)
{
	struct buf name = BUF_INIT, wire = BUF_INIT, back = BUF_INIT;
	for (int n = 0; n < 20000; n++) {
		buf_clear(&name);
		size_t count = rng_next() % 24;
		for (size_t k = 0; k < count; k++)
			assert_int_equal(utf8_append_cp(&name, random_code_point()), 0);
		buf_clear(&wire);
		buf_clear(&back);
		assert_int_equal(imap_mutf7_encode(buf_span(&name), &wire), 0);
		for (size_t k = 0; k < wire.len; k++)
			assert_true(wire.data[k] >= 0x20 && wire.data[k] <= 0x7e);
		assert_int_equal(imap_mutf7_decode(buf_span(&wire), &back), 0);
		assert_int_equal(back.len, name.len);
		assert_memory_equal(back.data, name.data, name.len);

		/* Change one byte of the wire form: whatever still decodes must
		   be canonical, i.e. encode back to exactly the changed bytes. */
		if (wire.len == 0)
			continue;
		wire.data[rng_next() % wire.len] = (uint8_t)(0x20 + rng_next() % 0x5f);
		buf_clear(&back);
		if (imap_mutf7_decode(buf_span(&wire), &back) < 0)
			continue;
		buf_clear(&name);
		assert_int_equal(imap_mutf7_encode(buf_span(&back), &name), 0);
		assert_int_equal(name.len, wire.len);
		assert_memory_equal(name.data, wire.data, wire.len);
	}
	buf_free(&name);
	buf_free(&wire);
	buf_free(&back);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rfc3501_example),
		cmocka_unit_test(test_pairs),
		cmocka_unit_test(test_decode_rejects),
		cmocka_unit_test(test_encode_rejects),
		cmocka_unit_test(test_buffer_limit),
		cmocka_unit_test(test_every_truncation),
		cmocka_unit_test(test_random_round_trips),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
