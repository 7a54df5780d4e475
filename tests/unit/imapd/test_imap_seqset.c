/* IMAP sequence sets: valid and invalid forms, membership, size, hostile
   input (100,000 ranges in any order). */
#include <inttypes.h>
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
#include "imapd/imap_seqset.h"

static char *render_set(const struct imap_seqset *s)
{
	struct buf out = BUF_INIT;
	buf_append_str(&out, "");
	for (size_t i = 0; i < s->count; i++)
		buf_printf(&out, "%s%" PRIu32 ":%" PRIu32, i ? "," : "", s->ranges[i].first,
			   s->ranges[i].last);
	return (char *)out.data;
}

/* Parses `text` from an exact-size heap copy, so ASan sees any overread.
   Returns the rendered set (malloc'd) or NULL. */
static char *seqset(const char *text, uint32_t star, uint64_t *size_r)
{
	struct arena arena;
	arena_init(&arena, 256);
	size_t len = strlen(text);
	uint8_t *copy = malloc(len + 1);
	memcpy(copy, text, len);
	struct imap_seqset s;
	char *result = NULL;
	if (imap_seqset_parse(&arena, span_make(copy, len), star, &s) == 0) {
		result = render_set(&s);
		if (size_r != NULL)
			*size_r = imap_seqset_size(&s);
	}
	free(copy);
	arena_free(&arena);
	return result;
}

static void test_seqset_valid(void **state)
{
	static const struct {
		const char *text;
		uint32_t star;
		const char *expected;
		uint64_t size;
	} cases[] = {
		{ "1", 10, "1:1", 1 },
		{ "1:4,7,*:10,5", 20, "1:5,7:7,10:20", 17 },
		{ "3:1", 10, "1:3", 3 },
		{ "*", 10, "10:10", 1 },
		{ "*:*", 10, "10:10", 1 },
		{ "5:*", 3, "3:5", 3 }, /* beyond star: A:B = B:A */
		{ "*", 0, "0:0", 1 },	/* empty mailbox: callers clamp */
		{ "1:*", 0, "0:1", 2 },
		{ "1:2,3:4", 10, "1:4", 4 },  /* adjacent */
		{ "1:5,2:3", 10, "1:5", 5 },  /* contained */
		{ "9,1:3,5", 10, "1:3,5:5,9:9", 5 },
		{ "5,5,5", 10, "5:5", 1 },
		{ "4294967295", 1, "4294967295:4294967295", 1 },
		{ "1:4294967295", 1, "1:4294967295", 4294967295u },
		{ "4294967295,1:4294967294", 1, "1:4294967295", 4294967295u },
		{ "4294967295:4294967294,4294967295", 1, "4294967294:4294967295", 2 },
		{ "10", 3, "10:10", 1 },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint64_t size = 0;
		char *got = seqset(cases[i].text, cases[i].star, &size);
		if (got == NULL)
			fail_msg("case %zu (%s): refused", i, cases[i].text);
		if (strcmp(got, cases[i].expected) != 0)
			fail_msg("case %zu (%s): got %s, want %s", i, cases[i].text, got,
				 cases[i].expected);
		assert_int_equal(size, cases[i].size);
		free(got);
	}
}

static void test_seqset_invalid(void **state)
{
	static const char *const cases[] = {
		"", "0", "0:5", "5:0", "01", "1,00", "4294967296", "99999999999999999999",
		",", "1,", ",1", "1:", ":1", "1::2", "1:2:3", "1,,2", "a", "1 2", "1;2",
		"**", "*1", "1*", "-1", "+1", "1:-2", "$",
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *got = seqset(cases[i], 10, NULL);
		if (got != NULL)
			fail_msg("case %zu (%s): accepted as %s", i, cases[i], got);
	}
}

static void test_seqset_contains(void **state)
{
	struct arena arena;
	arena_init(&arena, 256);
	struct imap_seqset s;
	assert_int_equal(imap_seqset_parse(&arena, span_cstr("2:4,10,4294967295"), 7, &s), 0);
	static const uint32_t in[] = { 2, 3, 4, 10, 4294967295u };
	static const uint32_t out[] = { 0, 1, 5, 9, 11, 4294967294u };
	for (size_t i = 0; i < sizeof(in) / sizeof(in[0]); i++)
		assert_true(imap_seqset_contains(&s, in[i]));
	for (size_t i = 0; i < sizeof(out) / sizeof(out[0]); i++)
		assert_false(imap_seqset_contains(&s, out[i]));
	struct imap_seqset empty = { NULL, 0 };
	assert_false(imap_seqset_contains(&empty, 1));
	assert_int_equal(imap_seqset_size(&empty), 0);
	arena_free(&arena);
}

/* "1,3,5,...": `count` single odd numbers, descending if asked. */
static char *odd_numbers(size_t count, bool descending)
{
	struct buf b = BUF_INIT;
	for (size_t i = 0; i < count; i++) {
		size_t k = descending ? count - 1 - i : i;
		buf_printf(&b, "%s%zu", i ? "," : "", 2 * k + 1);
	}
	return (char *)b.data;
}

static void test_seqset_hostile(void **state)
{
	/* 100,000 ranges, ascending, descending and interleaved with a
	   range that swallows them: sort + merge, not quadratic. */
	const size_t n = 100000;
	for (int descending = 0; descending <= 1; descending++) {
		char *text = odd_numbers(n, descending);
		struct arena arena;
		arena_init(&arena, 4096);
		struct imap_seqset s;
		assert_int_equal(imap_seqset_parse(&arena, span_cstr(text), 0, &s), 0);
		assert_int_equal(s.count, n);
		assert_int_equal(imap_seqset_size(&s), n);
		for (size_t i = 1; i < s.count; i++)
			assert_true(s.ranges[i - 1].last + 1 < s.ranges[i].first);
		assert_true(imap_seqset_contains(&s, 199999));
		assert_false(imap_seqset_contains(&s, 100000));
		arena_free(&arena);

		struct buf b = BUF_INIT;
		buf_append_str(&b, text);
		buf_append_str(&b, ",1:*");
		arena_init(&arena, 4096);
		assert_int_equal(imap_seqset_parse(&arena, buf_span(&b), 300000, &s), 0);
		assert_int_equal(s.count, 1);
		assert_int_equal(s.ranges[0].first, 1);
		assert_int_equal(s.ranges[0].last, 300000);
		arena_free(&arena);
		buf_free(&b);
		free(text);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_seqset_valid),
		cmocka_unit_test(test_seqset_invalid),
		cmocka_unit_test(test_seqset_contains),
		cmocka_unit_test(test_seqset_hostile),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
