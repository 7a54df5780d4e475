/* IMAP SEARCH criteria: every key, every error class, sequence-number
   mapping, hostile input. Commands go through the real tokenizer, as they
   would from a client. */
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
#include "imapd/imap_parser.h"
#include "imapd/imap_search.h"

static const struct imap_parse_limits limits = { .max_depth = 300, .max_args = 300000 };

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

static unsigned int seq_to_uid_calls;

/* UIDs ascend with sequence numbers, with gaps: uid = seq * 10. */
static uint32_t times_ten(void *ctx, uint32_t seq)
{
	uint32_t messages = *(const uint32_t *)ctx;
	if (seq < 1 || seq > messages)
		fail_msg("seq_to_uid(%" PRIu32 ") outside 1..%" PRIu32, seq, messages);
	seq_to_uid_calls++;
	return seq * 10;
}

static void render_flags(struct buf *out, const struct store_search *k)
{
	static const struct {
		uint32_t flag;
		const char *name;
	} names[] = {
		{ STORE_FLAG_SEEN, "\\Seen" },	     { STORE_FLAG_ANSWERED, "\\Answered" },
		{ STORE_FLAG_FLAGGED, "\\Flagged" }, { STORE_FLAG_DELETED, "\\Deleted" },
		{ STORE_FLAG_DRAFT, "\\Draft" },
	};
	const char *sep = "";
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (k->flags & names[i].flag) {
			buf_printf(out, "%s%s", sep, names[i].name);
			sep = " ";
		}
	}
	for (size_t i = 0; i < k->keywords.count; i++) {
		buf_printf(out, "%skw:%s", sep, k->keywords.names[i]);
		sep = " ";
	}
}

static void render(struct buf *out, const struct store_search *k);

static void render_children(struct buf *out, const char *name, const struct store_search *k,
			    size_t want)
{
	if (want != 0 && k->child_count != want)
		fail_msg("%s with %zu children", name, k->child_count);
	if (k->child_count < 2 && want == 0)
		fail_msg("AND with %zu children", k->child_count);
	buf_printf(out, "%s(", name);
	for (size_t i = 0; i < k->child_count; i++) {
		if (i > 0)
			buf_append_str(out, " ");
		render(out, &k->children[i]);
	}
	buf_append_str(out, ")");
}

/* A compact, exact picture of a criteria tree. */
static void render(struct buf *out, const struct store_search *k)
{
	switch (k->kind) {
	case STORE_SEARCH_ALL:
		buf_append_str(out, "ALL");
		break;
	case STORE_SEARCH_AND:
		render_children(out, "AND", k, 0);
		break;
	case STORE_SEARCH_OR:
		render_children(out, "OR", k, 2);
		break;
	case STORE_SEARCH_NOT:
		render_children(out, "NOT", k, 1);
		break;
	case STORE_SEARCH_UIDS:
		buf_append_str(out, "UIDS[");
		for (size_t i = 0; i < k->range_count; i++)
			buf_printf(out, "%s%" PRIu32 ":%" PRIu32, i ? "," : "", k->ranges[i].first,
				   k->ranges[i].last);
		buf_append_str(out, "]");
		break;
	case STORE_SEARCH_FLAGS_SET:
	case STORE_SEARCH_FLAGS_UNSET:
		buf_append_str(out, k->kind == STORE_SEARCH_FLAGS_SET ? "SET[" : "UNSET[");
		render_flags(out, k);
		buf_append_str(out, "]");
		break;
	case STORE_SEARCH_RECENT:
		buf_append_str(out, "RECENT");
		break;
	case STORE_SEARCH_INTERNALDATE_BEFORE:
	case STORE_SEARCH_INTERNALDATE_ON:
	case STORE_SEARCH_INTERNALDATE_SINCE:
	case STORE_SEARCH_SENTDATE_BEFORE:
	case STORE_SEARCH_SENTDATE_ON:
	case STORE_SEARCH_SENTDATE_SINCE: {
		static const char *const names[] = { "BEFORE", "ON", "SINCE",
						     "SENTBEFORE", "SENTON", "SENTSINCE" };
		buf_printf(out, "%s=%" PRId64, names[k->kind - STORE_SEARCH_INTERNALDATE_BEFORE],
			   k->date);
		break;
	}
	case STORE_SEARCH_LARGER:
	case STORE_SEARCH_SMALLER:
		buf_printf(out, "%s=%" PRIu64, k->kind == STORE_SEARCH_LARGER ? "LARGER" : "SMALLER",
			   k->number);
		break;
	case STORE_SEARCH_HEADER:
		buf_printf(out, "HEADER[%s]=\"%s\"", k->field, k->text);
		break;
	case STORE_SEARCH_BODY:
		buf_printf(out, "BODY=\"%s\"", k->text);
		break;
	case STORE_SEARCH_TEXT:
		buf_printf(out, "TEXT=\"%s\"", k->text);
		break;
	default:
		fail_msg("unexpected kind %d", (int)k->kind);
	}
}

struct mailbox {
	uint32_t messages, max_uid;
};

static const struct mailbox hundred = { 100, 1000 };

/* Runs "a SEARCH <args>" (args may hold NULs and literals) through the
   tokenizer and the translator. Returns the rendered tree, "BAD: <error>"
   or "BADCHARSET", malloc'd. */
static char *search_n(const char *args, size_t len, const struct mailbox *mb)
{
	struct buf wire = BUF_INIT;
	buf_append_str(&wire, len > 0 ? "a SEARCH " : "a SEARCH");
	buf_append(&wire, args, len);
	buf_append_str(&wire, "\r\n");
	/* Exact-size copy: ASan catches reads past the command. */
	uint8_t *copy = malloc(wire.len);
	memcpy(copy, wire.data, wire.len);

	struct arena arena;
	arena_init(&arena, 1024);
	struct imap_command_line cmd;
	const char *error = NULL;
	if (imap_parse_command(&arena, span_make(copy, wire.len), &limits, &cmd, &error) < 0)
		fail_msg("tokenizer refused '%s': %s", (const char *)wire.data, error);
	struct imap_search_context ctx = {
		.messages = mb->messages,
		.max_uid = mb->max_uid,
		.seq_to_uid = times_ten,
		.ctx = (void *)&mb->messages,
	};
	static struct store_search sentinel;
	struct store_search *root = &sentinel; /* must be overwritten */
	struct buf out = BUF_INIT;
	switch (imap_search_parse(&arena, cmd.args, cmd.count, &ctx, &root, &error)) {
	case IMAP_SEARCH_OK:
		assert_non_null(root);
		render(&out, root);
		break;
	case IMAP_SEARCH_BAD:
		assert_null(root);
		assert_non_null(error);
		assert_null(strpbrk(error, "\r\n"));
		buf_printf(&out, "BAD: %s", error);
		break;
	case IMAP_SEARCH_BADCHARSET:
		assert_null(root);
		buf_append_str(&out, "BADCHARSET");
		break;
	}
	arena_free(&arena);
	free(copy);
	buf_free(&wire);
	return (char *)out.data;
}

static char *search_in(const char *args, const struct mailbox *mb)
{
	return search_n(args, strlen(args), mb);
}

struct search_case {
	const char *args;
	const char *expected;
};

static void check_cases(const struct search_case *cases, size_t count, const struct mailbox *mb)
{
	for (size_t i = 0; i < count; i++) {
		char *got = search_in(cases[i].args, mb);
		if (strcmp(got, cases[i].expected) != 0)
			fail_msg("'%s':\n  got  %s\n  want %s", cases[i].args, got, cases[i].expected);
		free(got);
	}
}

#define CHECK_CASES(cases, mb) check_cases(cases, sizeof(cases) / sizeof(cases[0]), mb)

static void test_flag_keys(void **state)
{
	static const struct search_case cases[] = {
		{ "ALL", "ALL" },
		{ "all", "ALL" },
		{ "ANSWERED", "SET[\\Answered]" },
		{ "DELETED", "SET[\\Deleted]" },
		{ "DRAFT", "SET[\\Draft]" },
		{ "FLAGGED", "SET[\\Flagged]" },
		{ "SEEN", "SET[\\Seen]" },
		{ "Seen", "SET[\\Seen]" },
		{ "UNANSWERED", "UNSET[\\Answered]" },
		{ "UNDELETED", "UNSET[\\Deleted]" },
		{ "UNDRAFT", "UNSET[\\Draft]" },
		{ "UNFLAGGED", "UNSET[\\Flagged]" },
		{ "UNSEEN", "UNSET[\\Seen]" },
		{ "RECENT", "RECENT" },
		{ "NEW", "AND(RECENT UNSET[\\Seen])" },
		{ "OLD", "NOT(RECENT)" },
		{ "KEYWORD $Junk", "SET[kw:$Junk]" },
		{ "keyword NonJunk", "SET[kw:NonJunk]" },
		{ "UNKEYWORD $Forwarded", "UNSET[kw:$Forwarded]" },
	};
	CHECK_CASES(cases, &hundred);
}

static void test_text_keys(void **state)
{
	static const struct search_case cases[] = {
		{ "BCC bob", "HEADER[Bcc]=\"bob\"" },
		{ "CC bob", "HEADER[Cc]=\"bob\"" },
		{ "FROM bob@example.org", "HEADER[From]=\"bob@example.org\"" },
		{ "TO \"Bob Smith\"", "HEADER[To]=\"Bob Smith\"" },
		{ "SUBJECT \"\"", "HEADER[Subject]=\"\"" },
		{ "subject [PATCH]", "HEADER[Subject]=\"[PATCH]\"" }, /* ']' is an ASTRING-CHAR */
		{ "BODY {5}\r\nhello", "BODY=\"hello\"" },
		{ "BODY {5+}\r\nhe\"lo", "BODY=\"he\"lo\"" },
		{ "TEXT \"caf\xc3\xa9\"", "TEXT=\"caf\xc3\xa9\"" },
		{ "TEXT \"a\\\"b\\\\c\"", "TEXT=\"a\"b\\c\"" },
		{ "HEADER X-Spam-Flag YES", "HEADER[X-Spam-Flag]=\"YES\"" },
		{ "HEADER \"List-Id\" \"\"", "HEADER[List-Id]=\"\"" },
		{ "HEADER {7}\r\nSubject {3}\r\nabc", "HEADER[Subject]=\"abc\"" },
		{ "CHARSET UTF-8 SUBJECT \"gr\xc3\xbc\xc3\x9f\"", "HEADER[Subject]=\"gr\xc3\xbc\xc3\x9f\"" },
		{ "charset us-ascii SUBJECT plain", "HEADER[Subject]=\"plain\"" },
		{ "CHARSET \"utf-8\" ALL", "ALL" },
		{ "CHARSET {5}\r\nUTF-8 ALL", "ALL" },
	};
	CHECK_CASES(cases, &hundred);
}

static void test_dates_and_sizes(void **state)
{
	static const struct search_case cases[] = {
		{ "BEFORE 1-Feb-1994", "BEFORE=760060800" },
		{ "ON 01-feb-1994", "ON=760060800" },
		{ "SINCE \"1-FEB-1994\"", "SINCE=760060800" },
		{ "SENTBEFORE 29-Feb-2000", "SENTBEFORE=951782400" },
		{ "SENTON 31-Dec-1969", "SENTON=-86400" },
		{ "SENTSINCE 1-Jan-1970", "SENTSINCE=0" },
		{ "SINCE 20-Jan-2038", "SINCE=2147558400" }, /* past 32-bit time_t */
		{ "SINCE 31-Dec-2024", "SINCE=1735603200" },
		{ "BEFORE 1-Mar-1900", "BEFORE=-2203891200" },
		{ "BEFORE 1-Jan-0001", "BEFORE=-62135596800" },
		{ "BEFORE 1-Jan-0000", "BEFORE=-62167219200" },
		{ "BEFORE 31-Dec-9999", "BEFORE=253402214400" },
		{ "LARGER 1000", "LARGER=1000" },
		{ "SMALLER 0", "SMALLER=0" },
		{ "SMALLER 4294967295", "SMALLER=4294967295" },
		{ "LARGER 007", "LARGER=7" }, /* number = 1*DIGIT */
	};
	CHECK_CASES(cases, &hundred);
	/* Every month name, and the last day of every month. */
	static const char *const months[] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
					      "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	static const int last_day[] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	int64_t day = 946684800; /* 1-Jan-2000 */
	for (int m = 0; m < 12; m++) {
		char args[64], want[64];
		snprintf(args, sizeof(args), "ON 1-%s-2000", months[m]);
		snprintf(want, sizeof(want), "ON=%" PRId64, day);
		char *got = search_in(args, &hundred);
		assert_string_equal(got, want);
		free(got);
		snprintf(args, sizeof(args), "ON %d-%s-2000", last_day[m], months[m]);
		snprintf(want, sizeof(want), "ON=%" PRId64, day + (last_day[m] - 1) * 86400);
		got = search_in(args, &hundred);
		assert_string_equal(got, want);
		free(got);
		day += last_day[m] * 86400;
	}
}

static void test_sets(void **state)
{
	static const struct search_case cases[] = {
		{ "UID 5:7,1", "UIDS[1:1,5:7]" },
		{ "UID *", "UIDS[1000:1000]" },
		{ "UID 2000:*", "UIDS[1000:2000]" },
		{ "uid 1:4294967295", "UIDS[1:4294967295]" },
		{ "1:3", "UIDS[10:30]" },
		{ "1,3,5", "UIDS[10:10,30:30,50:50]" },
		{ "*", "UIDS[1000:1000]" },
		{ "99:200", "UIDS[990:1000]" },	     /* clamped to the count */
		{ "200:300", "UIDS[]" },	     /* entirely beyond: nothing */
		{ "150,2", "UIDS[20:20]" },
		{ "*:98", "UIDS[980:1000]" },
		{ "1:2,2:4,3", "UIDS[10:40]" },
		{ "4294967295", "UIDS[]" },
	};
	CHECK_CASES(cases, &hundred);

	static const struct mailbox empty = { 0, 0 };
	static const struct search_case empty_cases[] = {
		{ "1:*", "UIDS[]" },
		{ "*", "UIDS[]" },
		{ "1", "UIDS[]" },
		{ "UID *", "UIDS[0:0]" }, /* no message has UID 0 */
		{ "UID 1:*", "UIDS[0:1]" },
	};
	seq_to_uid_calls = 0;
	CHECK_CASES(empty_cases, &empty);
	assert_int_equal(seq_to_uid_calls, 0);

	static const struct mailbox one = { 1, 7 };
	static const struct search_case one_cases[] = {
		{ "1:*", "UIDS[10:10]" },
		{ "*:5", "UIDS[10:10]" },
		{ "2:5", "UIDS[]" },
		{ "UID 5:*", "UIDS[5:7]" },
	};
	CHECK_CASES(one_cases, &one);
}

static void test_combinations(void **state)
{
	static const struct search_case cases[] = {
		{ "SEEN FROM a UNDELETED", "AND(SET[\\Seen] HEADER[From]=\"a\" UNSET[\\Deleted])" },
		{ "NOT SEEN", "NOT(SET[\\Seen])" },
		{ "NOT NOT ALL", "NOT(NOT(ALL))" },
		{ "OR SEEN FLAGGED", "OR(SET[\\Seen] SET[\\Flagged])" },
		{ "OR (SEEN FROM x) NOT 1:2",
		  "OR(AND(SET[\\Seen] HEADER[From]=\"x\") NOT(UIDS[10:20]))" },
		{ "OR OR SEEN DRAFT DELETED", "OR(OR(SET[\\Seen] SET[\\Draft]) SET[\\Deleted])" },
		{ "OR SEEN OR DRAFT DELETED", "OR(SET[\\Seen] OR(SET[\\Draft] SET[\\Deleted]))" },
		{ "(SEEN)", "SET[\\Seen]" },
		{ "((SEEN) (DRAFT))", "AND(SET[\\Seen] SET[\\Draft])" },
		{ "(((ALL)))", "ALL" },
		{ "NOT (OR NEW OLD) UID 1:*",
		  "AND(NOT(OR(AND(RECENT UNSET[\\Seen]) NOT(RECENT))) UIDS[1:1000])" },
		{ "1:5 (SINCE 1-Jan-1970 SMALLER 10) HEADER X \"y z\"",
		  "AND(UIDS[10:50] AND(SINCE=0 SMALLER=10) HEADER[X]=\"y z\")" },
		{ "CHARSET UTF-8 OR SUBJECT a BODY b",
		  "OR(HEADER[Subject]=\"a\" BODY=\"b\")" },
	};
	CHECK_CASES(cases, &hundred);
}

static void test_errors(void **state)
{
	static const struct search_case cases[] = {
		/* criteria */
		{ "", "BAD: Missing search criteria" },
		{ "CHARSET UTF-8", "BAD: Missing search criteria" },
		{ "CHARSET", "BAD: Missing argument for CHARSET" },
		{ "CHARSET (UTF-8) ALL", "BAD: Expected a string after CHARSET" },
		{ "CHARSET ISO-8859-1 ALL", "BADCHARSET" },
		{ "CHARSET UTF-16 NOT", "BADCHARSET" },
		{ "CHARSET \"\" ALL", "BADCHARSET" },
		{ "ALL CHARSET UTF-8", "BAD: Unknown search key: CHARSET" },
		/* keys */
		{ "FOO", "BAD: Unknown search key: FOO" },
		{ "ALL FOO", "BAD: Unknown search key: FOO" },
		{ "SUBJECT x y", "BAD: Unknown search key: y" },
		{ "$", "BAD: Unknown search key: $" },
		{ "\\Seen", "BAD: Unknown search key: \\Seen" },
		{ "\"ALL\"", "BAD: Expected a search key, not a string" },
		{ "{3}\r\nALL", "BAD: Expected a search key, not a string" },
		{ "()", "BAD: Empty list in search" },
		{ "(ALL ())", "BAD: Empty list in search" },
		{ "NOT", "BAD: Missing argument for NOT" },
		{ "OR", "BAD: Missing argument for OR" },
		{ "OR ALL", "BAD: Missing argument for OR" },
		{ "(OR ALL) SEEN", "BAD: Missing argument for OR" },
		{ "NOT (NOT)", "BAD: Missing argument for NOT" },
		/* text arguments */
		{ "SUBJECT", "BAD: Missing argument for SUBJECT" },
		{ "(FROM) x", "BAD: Missing argument for FROM" },
		{ "BODY (x)", "BAD: Expected a string after BODY" },
		{ "TEXT a*b", "BAD: Invalid characters in atom after TEXT" },
		{ "TEXT a%", "BAD: Invalid characters in atom after TEXT" },
		{ "TO a\\b", "BAD: Invalid characters in atom after TO" },
		{ "CC a[b c]", "BAD: Invalid characters in atom after CC" },
		{ "SUBJECT \"\xff\"", "BAD: Invalid UTF-8 in search text" },
		{ "SUBJECT \"\xc3\"", "BAD: Invalid UTF-8 in search text" },
		{ "SUBJECT \"\xed\xa0\x80\"", "BAD: Invalid UTF-8 in search text" }, /* surrogate */
		{ "CHARSET UTF-8 BODY {1}\r\n\x80", "BAD: Invalid UTF-8 in search text" },
		{ "CHARSET US-ASCII SUBJECT \"caf\xc3\xa9\"", "BAD: 8-bit text with CHARSET US-ASCII" },
		{ "HEADER", "BAD: Missing argument for HEADER" },
		{ "HEADER Subject", "BAD: Missing argument for HEADER" },
		{ "HEADER \"\" x", "BAD: Invalid header field name" },
		{ "HEADER \"a:b\" x", "BAD: Invalid header field name" },
		{ "HEADER \"a b\" x", "BAD: Invalid header field name" },
		{ "HEADER \"caf\xc3\xa9\" x", "BAD: Invalid header field name" },
		{ "HEADER (a) x", "BAD: Expected a string after HEADER" },
		{ "HEADER a (x)", "BAD: Expected a string after HEADER" },
		/* dates */
		{ "BEFORE", "BAD: Missing argument for BEFORE" },
		{ "SENTSINCE", "BAD: Missing argument for SENTSINCE" },
		{ "BEFORE 32-Jan-2000", "BAD: Invalid date" },
		{ "BEFORE 0-Jan-2000", "BAD: Invalid date" },
		{ "BEFORE 29-Feb-1900", "BAD: Invalid date" },
		{ "BEFORE 30-Feb-2000", "BAD: Invalid date" },
		{ "BEFORE 31-Apr-2000", "BAD: Invalid date" },
		{ "BEFORE 1-Foo-2000", "BAD: Invalid date" },
		{ "BEFORE 1-Febr-2000", "BAD: Invalid date" },
		{ "BEFORE 1-Feb-94", "BAD: Invalid date" },
		{ "BEFORE 1-Feb-19945", "BAD: Invalid date" },
		{ "BEFORE 001-Feb-1994", "BAD: Invalid date" },
		{ "BEFORE 1-Feb", "BAD: Invalid date" },
		{ "BEFORE 1-Feb-", "BAD: Invalid date" },
		{ "BEFORE 1/Feb/1994", "BAD: Invalid date" },
		{ "BEFORE \"1 Feb 1994\"", "BAD: Invalid date" },
		{ "BEFORE \" 1-Feb-1994\"", "BAD: Invalid date" },
		{ "BEFORE 1994-02-01", "BAD: Invalid date" },
		{ "BEFORE (1-Feb-1994)", "BAD: Invalid date" },
		{ "BEFORE {10}\r\n1-Feb-1994", "BAD: Invalid date" },
		/* numbers */
		{ "LARGER", "BAD: Missing argument for LARGER" },
		{ "LARGER x", "BAD: Invalid number" },
		{ "LARGER -1", "BAD: Invalid number" },
		{ "LARGER 1k", "BAD: Invalid number" },
		{ "SMALLER \"5\"", "BAD: Invalid number" },
		{ "SMALLER (5)", "BAD: Invalid number" },
		{ "LARGER 4294967296", "BAD: Number too large" },
		{ "LARGER 99999999999999999999999", "BAD: Number too large" },
		/* keywords */
		{ "KEYWORD", "BAD: Missing argument for KEYWORD" },
		{ "KEYWORD \\Seen", "BAD: System flags are not keywords" },
		{ "UNKEYWORD \\Deleted", "BAD: System flags are not keywords" },
		{ "KEYWORD \"foo\"", "BAD: Expected a keyword atom after KEYWORD" },
		{ "UNKEYWORD (foo)", "BAD: Expected a keyword atom after UNKEYWORD" },
		{ "KEYWORD a]b", "BAD: Invalid keyword: a]b" },
		{ "KEYWORD a*", "BAD: Invalid keyword: a*" },
		{ "KEYWORD a[b c]", "BAD: Invalid keyword: a[b c]" },
		/* sets */
		{ "UID", "BAD: Missing argument for UID" },
		{ "UID 0", "BAD: Invalid UID set" },
		{ "UID 1:", "BAD: Invalid UID set" },
		{ "UID 01", "BAD: Invalid UID set" },
		{ "UID 4294967296", "BAD: Invalid UID set" },
		{ "UID \"1\"", "BAD: Invalid UID set" },
		{ "UID (1)", "BAD: Invalid UID set" },
		{ "UID 1,,2", "BAD: Invalid UID set" },
		{ "UID ALL", "BAD: Invalid UID set" },
		{ "0", "BAD: Invalid sequence set" },
		{ "1:2:3", "BAD: Invalid sequence set" },
		{ "1,", "BAD: Invalid sequence set" },
		{ "*:", "BAD: Invalid sequence set" },
		{ "4294967296", "BAD: Invalid sequence set" },
		{ "1x", "BAD: Invalid sequence set" },
	};
	CHECK_CASES(cases, &hundred);
}

static void test_nul_and_echo(void **state)
{
	/* A literal may carry a NUL; search text may not. */
	static const char nul[] = "SUBJECT {3}\r\na\0b";
	char *got = search_n(nul, sizeof(nul) - 1, &hundred);
	assert_string_equal(got, "BAD: NUL in search text");
	free(got);
	static const char nul_field[] = "HEADER {3}\r\na\0b x";
	got = search_n(nul_field, sizeof(nul_field) - 1, &hundred);
	assert_string_equal(got, "BAD: NUL in search text");
	free(got);

	/* An unknown key is echoed, but cut short. */
	char key[101];
	memset(key, 'X', 100);
	key[100] = '\0';
	got = search_in(key, &hundred);
	char want[128];
	snprintf(want, sizeof(want), "BAD: Unknown search key: %.40s...", key);
	assert_string_equal(got, want);
	free(got);
}

/* `count` copies of `word` then `last`, as one argument string. */
static char *repeat(const char *word, size_t count, const char *last)
{
	struct buf b = BUF_INIT;
	for (size_t i = 0; i < count; i++) {
		buf_append_str(&b, word);
		buf_append_str(&b, " ");
	}
	buf_append_str(&b, last);
	return (char *)b.data;
}

static void test_depth(void **state)
{
	/* The deepest key allowed sits at IMAP_SEARCH_MAX_DEPTH. */
	char *args = repeat("NOT", IMAP_SEARCH_MAX_DEPTH - 1, "ALL");
	char *got = search_in(args, &hundred);
	assert_non_null(strstr(got, "NOT(NOT(ALL))"));
	free(got);
	free(args);
	args = repeat("NOT", IMAP_SEARCH_MAX_DEPTH, "ALL");
	got = search_in(args, &hundred);
	assert_string_equal(got, "BAD: Search too complex");
	free(got);
	free(args);

	/* 100,000 without parentheses: a clean error, no deep recursion. */
	static const char *const words[] = { "NOT", "OR", "OR ALL" };
	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
		args = repeat(words[i], 100000, "ALL ALL");
		got = search_in(args, &hundred);
		assert_string_equal(got, "BAD: Search too complex");
		free(got);
		free(args);
	}

	/* Parentheses count too (the tokenizer allows 300 here). */
	struct buf b = BUF_INIT;
	for (int i = 0; i < 250; i++)
		buf_append_str(&b, "(");
	buf_append_str(&b, "ALL");
	for (int i = 0; i < 250; i++)
		buf_append_str(&b, ")");
	got = search_n((const char *)b.data, b.len, &hundred);
	assert_string_equal(got, "BAD: Search too complex");
	free(got);
	buf_free(&b);

	/* A long flat AND is not deep. */
	args = repeat("SEEN", 100000, "ALL");
	got = search_in(args, &hundred);
	assert_int_equal(strncmp(got, "AND(SET[\\Seen] SET[\\Seen]", 25), 0);
	free(got);
	free(args);
}

static void test_huge_sets(void **state)
{
	static const struct mailbox big = { 200000, 2000000 };
	for (int descending = 0; descending <= 1; descending++) {
		char *set = odd_numbers(100000, descending);
		struct buf args = BUF_INIT;
		buf_append_str(&args, set);
		char *got = search_in((const char *)args.data, &big);
		assert_int_equal(strncmp(got, "UIDS[10:10,30:30,50:50,", 23), 0);
		assert_non_null(strstr(got, ",1999970:1999970,1999990:1999990]"));
		free(got);

		buf_clear(&args);
		buf_printf(&args, "UID %s", set);
		got = search_in((const char *)args.data, &big);
		assert_int_equal(strncmp(got, "UIDS[1:1,3:3,5:5,", 17), 0);
		free(got);
		buf_free(&args);
		free(set);
	}
}

static void test_every_truncation(void **state)
{
	/* Every prefix of a command using most keys is either valid or BAD
	   with a reason; ASan checks nothing outside is touched. */
	const char *full = "CHARSET UTF-8 OR (FROM a TO \"b c\" CC d BCC e) NOT (SUBJECT f BODY g "
			   "TEXT h HEADER X-A i) KEYWORD j UNKEYWORD k LARGER 1 SMALLER 2 "
			   "BEFORE 1-Jan-2000 ON 2-Feb-2001 SINCE 3-Mar-2002 SENTBEFORE 4-Apr-2003 "
			   "SENTON 5-May-2004 SENTSINCE 6-Jun-2005 UID 1:*,5 2:4,* NEW OLD "
			   "ANSWERED DELETED DRAFT FLAGGED RECENT SEEN UNANSWERED UNDELETED "
			   "UNDRAFT UNFLAGGED UNSEEN ALL";
	size_t len = strlen(full);
	unsigned int ok = 0;
	for (size_t i = 0; i <= len; i++) {
		/* Only cuts the tokenizer accepts: not inside a quoted string
		   or a list, not after a space. */
		unsigned int parens = 0, quotes = 0;
		for (size_t k = 0; k < i; k++) {
			parens += full[k] == '(';
			parens -= full[k] == ')';
			quotes += full[k] == '"';
		}
		if (parens != 0 || quotes % 2 != 0 || (i > 0 && full[i - 1] == ' '))
			continue;
		char *got = search_n(full, i, &hundred);
		if (strncmp(got, "BAD: ", 5) != 0)
			ok++;
		else
			assert_true(strlen(got) > 5);
		free(got);
	}
	assert_true(ok > 10);
	char *got = search_in(full, &hundred);
	assert_int_equal(strncmp(got, "AND(OR(AND(HEADER[From]", 23), 0);
	free(got);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_flag_keys),
		cmocka_unit_test(test_text_keys),
		cmocka_unit_test(test_dates_and_sizes),
		cmocka_unit_test(test_sets),
		cmocka_unit_test(test_combinations),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_nul_and_echo),
		cmocka_unit_test(test_depth),
		cmocka_unit_test(test_huge_sets),
		cmocka_unit_test(test_every_truncation),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
