/* IMAP date-text and date-time (imapd/imap_date.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "imapd/imap_date.h"

static void test_datetime_parse(void **state)
{
	(void)state;
	int64_t t;
	assert_true(imap_datetime_parse(span_cstr("17-Jul-1996 02:44:25 -0700"), &t));
	assert_int_equal(t, 837596665); /* 1996-07-17 09:44:25 UTC */
	assert_true(imap_datetime_parse(span_cstr(" 1-Jan-1970 00:00:01 +0000"), &t));
	assert_int_equal(t, 1);
	assert_true(imap_datetime_parse(span_cstr("29-feb-2024 23:59:59 +0130"), &t));
	assert_int_equal(t, 1709245799); /* 22:29:59 UTC */
	static const char *const bad[] = {
		"30-Feb-2024 00:00:00 +0000", "17-Jul-1996 24:00:00 +0000", "17-Jul-1996 02:60:00 +0000",
		"31-Dec-1969 23:59:59 +0000", "17-Jux-1996 02:44:25 -0700", "17-Jul-1996 02:44:25 0700",
		"17-Jul-1996 02:44:25 -0760", "7-Jul-1996 02:44:25 -0700", "17-Jul-1996  2:44:25 -0700",
		"", "17-Jul-1996 02:44:25 -07000",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_false(imap_datetime_parse(span_cstr(bad[i]), &t));
}

static void test_datetime_write(void **state)
{
	(void)state;
	struct buf out = BUF_INIT;
	imap_datetime_write(&out, 837596665);
	assert_string_equal((char *)out.data, "\"17-Jul-1996 09:44:25 +0000\"");
	buf_free(&out);
}

static void test_date_parse(void **state)
{
	(void)state;
	int64_t t;
	assert_true(imap_date_parse(span_cstr("1-Feb-1994"), &t));
	assert_int_equal(t, 760060800);
	assert_true(imap_date_parse(span_cstr("01-FEB-1994"), &t));
	assert_int_equal(t, 760060800);
	assert_false(imap_date_parse(span_cstr("1-Feb-94"), &t));
	assert_false(imap_date_parse(span_cstr("29-Feb-1900"), &t));
	assert_false(imap_date_parse(span_cstr("1-Feb-1994 "), &t));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_datetime_parse),
		cmocka_unit_test(test_datetime_write),
		cmocka_unit_test(test_date_parse),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
