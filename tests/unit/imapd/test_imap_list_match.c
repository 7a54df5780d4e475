/* LIST/LSUB patterns: wildcards, reference, INBOX case, CHILDREN, limits, speed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "imapd/imap_list_match.h"
#include "tests/unit/imapd/list_match_oracle.h"

/* Short names keep the case tables readable. */
#define NO IMAP_MATCH_NO
#define YES IMAP_MATCH_YES
#define CHILDREN IMAP_MATCH_CHILDREN

struct match_case {
	const char *reference;
	const char *pattern;
	const char *name;
	enum imap_match_result expected;
};

static const char *result_name(enum imap_match_result r)
{
	return r == YES ? "YES" : r == CHILDREN ? "CHILDREN" : "NO";
}

static void check_cases(const struct match_case *cases, size_t count)
{
	for (size_t i = 0; i < count; i++) {
		const struct match_case *c = &cases[i];
		struct imap_list_match *m = imap_list_match_new(c->reference, c->pattern);
		assert_non_null(m);
		enum imap_match_result got = imap_list_match(m, c->name);
		if (got != c->expected)
			fail_msg("ref '%s' pattern '%s' name '%s': %s, expected %s", c->reference,
				 c->pattern, c->name, result_name(got), result_name(c->expected));
		/* The obvious definition agrees on every hand-written case. */
		assert_int_equal(oracle_match(c->reference, c->pattern, c->name), c->expected);
		imap_list_match_free(&m);
		assert_null(m);
	}
}

#define CHECK(cases) check_cases(cases, sizeof(cases) / sizeof(cases[0]))

static void test_literal(void **state)
{
	static const struct match_case cases[] = {
		{ "", "Sent", "Sent", YES },
		{ "", "Sent", "sent", NO }, /* only INBOX ignores case */
		{ "", "Sent", "Sen", NO },
		{ "", "Sent", "Sent2", NO },
		{ "", "Sent", "Sent/2024", NO },
		{ "", "a/b", "a", CHILDREN },
		{ "", "a/b", "a/b", YES },
		{ "", "a/b", "a/c", NO },
		{ "", "a/", "a", NO }, /* a child needs a name of its own */
		{ "", "\xe5\x8f\xb0\xe5\x8c\x97", "\xe5\x8f\xb0\xe5\x8c\x97", YES },
	};
	CHECK(cases);
}

static void test_star(void **state)
{
	static const struct match_case cases[] = {
		{ "", "*", "INBOX", YES },
		{ "", "*", "a/b/c", YES }, /* crosses levels */
		{ "", "a*", "abc", YES },
		{ "", "a*", "a", YES },
		{ "", "a*", "a/b/c", YES },
		{ "", "a*", "b", NO },
		{ "", "*b", "a/b", YES },
		{ "", "*b", "a", CHILDREN }, /* "a/b" would match */
		{ "", "*b", "ab/c", CHILDREN },
		{ "", "a*c", "abc", YES },
		{ "", "a*c", "a/x/c", YES },
		{ "", "a*c", "a/x/cd", CHILDREN },
		{ "", "a/*", "a", CHILDREN },
		{ "", "a/*", "a/b/c", YES },
		{ "", "x*", "a", NO },
	};
	CHECK(cases);
}

static void test_percent(void **state)
{
	static const struct match_case cases[] = {
		{ "", "%", "a", YES },
		{ "", "%", "a/b", NO }, /* never crosses a level */
		{ "", "a/%", "a", CHILDREN },
		{ "", "a/%", "a/b", YES },
		{ "", "a/%", "a/b/c", NO },
		{ "", "a/%", "b", NO },
		{ "", "%/%", "a", CHILDREN },
		{ "", "%/%", "a/b", YES },
		{ "", "%/%", "a/b/c", NO },
		{ "", "a%", "a", YES },
		{ "", "a%", "abc", YES },
		{ "", "a%", "a/b", NO },
		{ "", "a%c", "abbc", YES },
		{ "", "a%c", "ab/c", NO },
		{ "", "a%/x", "ab", CHILDREN },
		{ "", "a%/x", "a/b", NO },
		{ "", "*/%", "a", CHILDREN },
		{ "", "*/%", "a/b/c", YES },
		{ "", "%", "\xe5\x8f\xb0\xe5\x8c\x97", YES }, /* any UTF-8 within a level */
		{ "", "%/\xe6\x97\xa5%", "\xe5\x8f\xb0/\xe6\x97\xa5\xe6\x9c\xac", YES },
	};
	CHECK(cases);
}

/* Runs of wildcards behave as one ('*' if the run has one). */
static void test_wildcard_runs(void **state)
{
	static const struct match_case cases[] = {
		{ "", "**", "a/b/c", YES },
		{ "", "%*%", "a/b", YES },
		{ "", "*%", "a/b", YES },
		{ "", "%%", "ab", YES },
		{ "", "%%", "a/b", NO },
		{ "", "a%%*b", "a/x/b", YES },
		{ "", "a%%%/b", "ax", CHILDREN },
	};
	CHECK(cases);
}

static void test_reference(void **state)
{
	static const struct match_case cases[] = {
		/* RFC 3501 6.3.8: "archive/" + "%" is "archive/%". */
		{ "Foo/", "%", "Foo/bar", YES },
		{ "Foo/", "%", "Foo", CHILDREN },
		{ "Foo/", "%", "bar", NO },
		{ "Foo/", "%", "Foo/bar/baz", NO },
		{ "Foo/", "*", "Foo/a/b", YES },
		{ "Foo/", "bar", "Foo/bar", YES },
		{ "Foo/", "bar", "bar", NO },
		/* Joined as given, no separator added ("#news." + "comp.mail.*"). */
		{ "Foo", "%", "Foobar", YES },
		{ "Foo", "%", "Foo/bar", NO },
		{ "Foo", "/%", "Foo/bar", NO },
		/* A pattern starting with the separator is absolute: the reference
		   is ignored, and no Petrel name starts with "/". */
		{ "Foo/", "/bar", "Foo/bar", NO },
		{ "Foo/", "/bar", "bar", NO },
		{ "Foo/", "/bar", "/bar", YES },
		/* '~' is an ordinary character here. */
		{ "archive/", "~fred/Mail/*", "archive/~fred/Mail/x", YES },
		{ "archive/", "~fred/Mail/*", "~fred/Mail/x", NO },
		/* Wildcards in the reference are wildcards of the joined pattern. */
		{ "%/", "b", "a/b", YES },
		{ "*", "", "a/b", YES },
		{ "inbox/", "%", "INBOX/a", YES },
	};
	CHECK(cases);
}

static void test_inbox_case(void **state)
{
	static const struct match_case cases[] = {
		{ "", "INBOX", "INBOX", YES },
		{ "", "INBOX", "inbox", YES },
		{ "", "inbox", "INBOX", YES },
		{ "", "Inbox", "iNbOx", YES },
		{ "", "INBOX", "INBOXES", NO },
		{ "", "INBOX", "inbox2", NO },
		{ "", "InBoX/%", "INBOX/Sub", YES },
		{ "", "InBoX/%", "inbox/Sub", YES },
		{ "", "InBoX/%", "INBOX", CHILDREN },
		{ "", "Inbox/Sub", "INBOX/sub", NO }, /* only the first level */
		{ "", "inbox*", "INBOX/x", YES },
		{ "", "inbox*", "INBOXES", NO },  /* not INBOX: case counts */
		{ "", "inbox*", "inboxes", YES }, /* ... and matches as written */
		{ "", "%", "inbox", YES },
		{ "", "i%/x", "INBOX/x", YES },
		{ "", "*BOX", "inbox", YES },
		{ "", "*BOX", "mybox", CHILDREN }, /* only "mybox/...BOX" */
		{ "", "*box", "INBOX", YES },
		{ "", "*box", "XBOX", CHILDREN },
		{ "", "Trash/inbox", "Trash/INBOX", NO },
		{ "", "%/inbox", "INBOX/INBOX", NO },
		{ "", "%/inbox", "INBOX/inbox", YES },
	};
	CHECK(cases);
}

static void test_empty_pattern(void **state)
{
	/* LIST "" "" is the caller's special case; as a pattern it is "". */
	assert_true(imap_list_pattern_empty(""));
	assert_false(imap_list_pattern_empty("%"));
	static const struct match_case cases[] = {
		{ "", "", "", YES },
		{ "", "", "a", NO },
		{ "Foo/", "", "Foo", NO },
	};
	CHECK(cases);
}

static char *repeat(const char *unit, size_t times, const char *tail)
{
	size_t unit_len = strlen(unit), tail_len = strlen(tail);
	char *s = malloc(unit_len * times + tail_len + 1);
	for (size_t i = 0; i < times; i++)
		memcpy(s + i * unit_len, unit, unit_len);
	memcpy(s + unit_len * times, tail, tail_len + 1);
	return s;
}

static void test_length_limit(void **state)
{
	char *half = repeat("a", IMAP_LIST_PATTERN_MAX / 2, "");
	char *half_plus = repeat("a", IMAP_LIST_PATTERN_MAX / 2 + 1, "");
	char *full = repeat("a", IMAP_LIST_PATTERN_MAX, "");
	char *over = repeat("a", IMAP_LIST_PATTERN_MAX + 1, "");

	struct imap_list_match *m = imap_list_match_new(half, half);
	assert_non_null(m);
	assert_int_equal(imap_list_match(m, full), YES);
	imap_list_match_free(&m);
	assert_null(imap_list_match_new(half_plus, half));
	assert_null(imap_list_match_new("", over));
	assert_null(imap_list_match_new(over, ""));
	/* An absolute pattern drops the reference, and its length with it. */
	m = imap_list_match_new(over, "/x");
	assert_non_null(m);
	imap_list_match_free(&m);
	imap_list_match_free(&m); /* freeing NULL is fine */

	free(half);
	free(half_plus);
	free(full);
	free(over);
}

/* State sets span several 64-bit words: matches across every boundary. */
static void test_word_boundaries(void **state)
{
	for (size_t len = 1; len <= 200; len++) {
		char *pattern = repeat("x", len - 1, "%");
		char *children_pattern = repeat("x", len, "/%");
		char *name = repeat("x", len, "");
		struct imap_list_match *m = imap_list_match_new("", pattern);
		assert_int_equal(imap_list_match(m, name), YES);
		assert_int_equal(imap_list_match(m, name + 1), YES);
		if (len >= 2)
			assert_int_equal(imap_list_match(m, name + 2), NO);
		imap_list_match_free(&m);
		m = imap_list_match_new("", children_pattern);
		assert_int_equal(imap_list_match(m, name), CHILDREN);
		assert_int_equal(imap_list_match(m, name + 1), NO);
		imap_list_match_free(&m);
		free(pattern);
		free(children_pattern);
		free(name);
	}
}

static double seconds_since(const struct timespec *start)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - start->tv_sec) + (double)(now.tv_nsec - start->tv_nsec) / 1e9;
}

/* Patterns that make a backtracking matcher take exponential time. The bound
   is loose (sanitizer builds, a busy machine); backtracking would need years. */
static void test_no_exponential_time(void **state)
{
	char *pattern30 = repeat("*a", 30, "*b");
	char *pattern_max = repeat("*a", (IMAP_LIST_PATTERN_MAX - 2) / 2, "*b");
	char *pattern_pct = repeat("%a", 30, "%b");
	char *name = repeat("a", 1000, "");
	char *name_b = repeat("a", 1000, "b");
	struct timespec start;
	clock_gettime(CLOCK_MONOTONIC, &start);

	struct imap_list_match *m = imap_list_match_new("", pattern30);
	for (int i = 0; i < 100; i++) {
		assert_int_equal(imap_list_match(m, name), CHILDREN); /* "a.../b" */
		assert_int_equal(imap_list_match(m, name_b), YES);
	}
	imap_list_match_free(&m);
	m = imap_list_match_new("", pattern_max);
	assert_int_equal(strlen(pattern_max), IMAP_LIST_PATTERN_MAX);
	for (int i = 0; i < 100; i++) {
		assert_int_equal(imap_list_match(m, name), CHILDREN);
		assert_int_equal(imap_list_match(m, name_b), YES);
	}
	imap_list_match_free(&m);
	m = imap_list_match_new("", pattern_pct);
	for (int i = 0; i < 100; i++) {
		assert_int_equal(imap_list_match(m, name), NO);
		assert_int_equal(imap_list_match(m, name_b), YES);
	}
	imap_list_match_free(&m);

	double took = seconds_since(&start);
	if (took > 2.0)
		fail_msg("600 matches of 1000-byte names took %.2f s", took);
	free(pattern30);
	free(pattern_max);
	free(pattern_pct);
	free(name);
	free(name_b);
}

/* ------------------------------------------------- against the oracle */

static uint64_t rng_state = 0x2545f4914f6cdd1du;

static uint32_t rng_next(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (uint32_t)(rng_state >> 32);
}

/* Short strings over a small alphabet, so that matches are frequent; names
   often start with some spelling of INBOX. */
static void random_string(char *out, size_t max, const char *alphabet, bool maybe_inbox)
{
	static const char *const starts[] = { "INBOX", "inbox", "InBox", "INBOX/", "inbox/" };
	size_t len = 0;
	if (maybe_inbox && rng_next() % 3 == 0) {
		const char *s = starts[rng_next() % 5];
		len = strlen(s);
		memcpy(out, s, len);
	}
	size_t extra = rng_next() % (max - len);
	size_t alphabet_len = strlen(alphabet);
	for (size_t i = 0; i < extra; i++)
		out[len++] = alphabet[rng_next() % alphabet_len];
	out[len] = '\0';
}

static void test_random_against_oracle(void **state)
{
	char reference[8], pattern[16], name[16];
	size_t counts[3] = { 0 };
	for (int n = 0; n < 100000; n++) {
		random_string(reference, sizeof(reference) - 3, "ab/*%", false);
		if (rng_next() % 2)
			reference[0] = '\0';
		random_string(pattern, sizeof(pattern), "ab/*%Ibx", true);
		random_string(name, sizeof(name), "ab/xB", true);
		struct imap_list_match *m = imap_list_match_new(reference, pattern);
		enum imap_match_result got = imap_list_match(m, name);
		enum imap_match_result want = oracle_match(reference, pattern, name);
		if (got != want)
			fail_msg("ref '%s' pattern '%s' name '%s': %s, oracle %s", reference, pattern,
				 name, result_name(got), result_name(want));
		counts[got]++;
		imap_list_match_free(&m);
	}
	/* The generator must reach all three outcomes to mean anything. */
	assert_true(counts[NO] > 1000 && counts[YES] > 1000 && counts[CHILDREN] > 1000);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_literal),
		cmocka_unit_test(test_star),
		cmocka_unit_test(test_percent),
		cmocka_unit_test(test_wildcard_runs),
		cmocka_unit_test(test_reference),
		cmocka_unit_test(test_inbox_case),
		cmocka_unit_test(test_empty_pattern),
		cmocka_unit_test(test_length_limit),
		cmocka_unit_test(test_word_boundaries),
		cmocka_unit_test(test_no_exponential_time),
		cmocka_unit_test(test_random_against_oracle),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
