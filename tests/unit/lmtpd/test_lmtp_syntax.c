/*
 * Unit tests for lmtpd's envelope syntax (smtp_address.c) and the DATA
 * stream decoder (dot_stream.c), the latter at every split point.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "lmtpd/dot_stream.h"
#include "lmtpd/smtp_address.h"

static int parse(const char *text, bool allow_null, bool utf8, struct smtp_path *p,
		 const char **rest)
{
	struct span args = span_cstr(text);
	const char *error;
	int ret = smtp_path_parse(&args, allow_null, utf8, p, &error);
	static char restbuf[256];
	if (ret == 0) {
		memcpy(restbuf, args.ptr, args.len);
		restbuf[args.len] = '\0';
		*rest = restbuf;
	}
	return ret;
}

static void test_paths(void **state)
{
	(void)state;
	struct smtp_path p;
	const char *rest;
	assert_int_equal(parse("<a.b@Example.COM> SIZE=10", false, false, &p, &rest), 0);
	assert_string_equal(p.address, "a.b@example.com");
	assert_string_equal(p.local, "a.b");
	assert_string_equal(p.domain, "example.com");
	assert_string_equal(rest, "SIZE=10");
	smtp_path_free(&p);

	assert_int_equal(parse(" <>", true, false, &p, &rest), 0);
	assert_string_equal(p.address, "");
	assert_null(p.local);
	smtp_path_free(&p);
	assert_int_equal(parse("<>", false, false, &p, &rest), -1);

	/* Quoted local part keeps its quotes in the address, not in local. */
	assert_int_equal(parse("<\"john doe\"@x.org>", false, false, &p, &rest), 0);
	assert_string_equal(p.address, "\"john doe\"@x.org");
	assert_string_equal(p.local, "john doe");
	smtp_path_free(&p);

	/* An empty quoted local part is syntactically valid (the fuzzer
	   found it reached memchr with a NULL buffer). */
	assert_int_equal(parse("<\"\"@[1.2.3.4]> S-MT", false, false, &p, &rest), 0);
	assert_string_equal(p.local, "");
	assert_string_equal(p.address, "\"\"@[1.2.3.4]");
	smtp_path_free(&p);

	/* Source routes are dropped. */
	assert_int_equal(parse("<@a.example,@b.example:u@c.example>", false, false, &p, &rest), 0);
	assert_string_equal(p.address, "u@c.example");
	smtp_path_free(&p);

	/* Address literal. */
	assert_int_equal(parse("<u@[192.0.2.1]>", false, false, &p, &rest), 0);
	assert_string_equal(p.domain, "[192.0.2.1]");
	smtp_path_free(&p);

	/* UTF-8 only with SMTPUTF8, and valid. */
	assert_int_equal(parse("<j\xc3\xb6rg@b\xc3\xbc.example>", false, false, &p, &rest), -1);
	assert_int_equal(parse("<j\xc3\xb6rg@b\xc3\xbc.example>", false, true, &p, &rest), 0);
	smtp_path_free(&p);
	assert_int_equal(parse("<j\xc3rg@x.example>", false, true, &p, &rest), -1);

	const char *bad[] = {
		"a@b", "<a@b", "<a>", "<@b>", "<a@>", "<a..b@c>", "<.a@c>", "<a.@c>",
		"<a@-b.c>", "<a@b-.c>", "<a@b..c>", "<\"a@b>", "<a b@c>", "<a@b c>",
		"<a@[1.2.3.4>", "<a@[]>", "<a\x01@b>", "<\"a\x01\"@b>", "<a@b>x",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (parse(bad[i], true, false, &p, &rest) == 0)
			fail_msg("accepted %s", bad[i]);
	}
	/* Lengths: 64 local, 255 domain. */
	char big[400];
	memset(big, 0, sizeof(big));
	big[0] = '<';
	memset(big + 1, 'a', 65);
	strcat(big, "@x.example>");
	assert_int_equal(parse(big, false, false, &p, &rest), -1);
	big[65] = '\0';
	strcat(big, "@x.example>");
	assert_int_equal(parse(big, false, false, &p, &rest), 0);
	smtp_path_free(&p);
}

static void test_params(void **state)
{
	(void)state;
	struct span args = span_cstr("SIZE=100  BODY=8BITMIME SMTPUTF8");
	struct span k, v;
	assert_int_equal(smtp_param_next(&args, &k, &v), 1);
	assert_true(span_eq(k, "SIZE") && span_eq(v, "100"));
	assert_int_equal(smtp_param_next(&args, &k, &v), 1);
	assert_true(span_eq(k, "BODY") && span_eq(v, "8BITMIME"));
	assert_int_equal(smtp_param_next(&args, &k, &v), 1);
	assert_true(span_eq(k, "SMTPUTF8") && v.len == 0);
	assert_int_equal(smtp_param_next(&args, &k, &v), 0);

	const char *bad[] = { "=x", "SIZE=", "SIZE==1", "-X", "A=b=c", "K\x01" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		args = span_cstr(bad[i]);
		assert_int_equal(smtp_param_next(&args, &k, &v), -1);
	}

	char *x = smtp_xtext_decode(span_cstr("a+2Bb+3Dc"));
	assert_string_equal(x, "a+b=c");
	free(x);
	assert_null(smtp_xtext_decode(span_cstr("a+2")));
	assert_null(smtp_xtext_decode(span_cstr("a+zz")));
	assert_null(smtp_xtext_decode(span_cstr("a+00")));
	assert_null(smtp_xtext_decode(span_cstr("a b")));
}

/* Decodes input split at `split`; returns the output and the bytes used. */
static char *decode(const char *in, size_t len, size_t split, bool stuffed, size_t *used_r)
{
	struct dot_stream d;
	dot_stream_init(&d, stuffed);
	struct buf out = BUF_INIT;
	size_t used = dot_stream_feed(&d, (const uint8_t *)in, split, &out);
	if (!dot_stream_done(&d))
		used += dot_stream_feed(&d, (const uint8_t *)in + split, len - split, &out);
	if (!stuffed)
		dot_stream_finish(&d, &out);
	*used_r = dot_stream_done(&d) ? used : (size_t)-1;
	char *s = span_strdup(buf_span(&out));
	buf_free(&out);
	return s;
}

static void check_all_splits(const char *in, const char *expect, size_t expect_used, bool stuffed)
{
	size_t len = strlen(in);
	for (size_t split = 0; split <= len; split++) {
		size_t used;
		char *out = decode(in, len, split, stuffed, &used);
		if (strcmp(out, expect) != 0 || used != expect_used)
			fail_msg("split %zu: got \"%s\" used %zd", split, out, (ssize_t)used);
		free(out);
	}
}

static void test_dot_stream(void **state)
{
	(void)state;
	const char *in = "Subject: x\r\n\r\n..leading dot\r\n.\r\nQUIT\r\n";
	check_all_splits(in, "Subject: x\r\n\r\n.leading dot\r\n", strlen(in) - 6, true);
	/* Bare LF line ends, and the terminator with bare LF. */
	check_all_splits("a\nb\n.\nX", "a\r\nb\r\n", 6, true);
	/* Empty message. */
	check_all_splits(".\r\n", "", 3, true);
	/* A bare CR stays data; a dot not at line start stays. */
	check_all_splits("a\rb.c\r\n.\r\n", "a\rb.c\r\n", 10, true);
	/* ".x" at line start loses the dot (RFC 5321 4.5.2). */
	check_all_splits(".x\r\n.\r\n", "x\r\n", 7, true);
	/* Not terminated: everything used, nothing done. */
	check_all_splits("abc\r\n..\r\n", "abc\r\n.\r\n", (size_t)-1, true);
	/* Runs longer than the eight-byte scan: CR and LF at every offset of
	   a word, bare CRs in a row, bytes with the high bit set. */
	check_all_splits("0123456789abcdef\r\n01234567\r89abcdef\r\r\r0123\n"
			 "\xc3\xa9\xff\x8d\x8a" "0123456789\r\n.\r\n",
			 "0123456789abcdef\r\n01234567\r89abcdef\r\r\r0123\r\n"
			 "\xc3\xa9\xff\x8d\x8a" "0123456789\r\n", 63, true);
	for (size_t at = 0; at < 24; at++) {
		char text[64], expect[64];
		memset(text, 'x', 30);
		text[at] = '\r';
		memcpy(text + 30, "\r\n.\r\n", 6);
		text[36] = '\0';
		memcpy(expect, text, 32);
		expect[32] = '\0';
		check_all_splits(text, expect, 35, true);
	}
	/* BDAT: only line ends change; dots stay. */
	check_all_splits("a\n.\r\n..\r", "a\r\n.\r\n..\r", (size_t)-1, false);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_paths),
		cmocka_unit_test(test_params),
		cmocka_unit_test(test_dot_stream),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
