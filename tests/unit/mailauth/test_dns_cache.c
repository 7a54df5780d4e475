/*
 * Unit tests for mailauth/dns_cache: questions are queued once, answers
 * come back normalised, the question cap holds, and fake_dns answers the
 * way the resolver will (NXDOMAIN vs NODATA, TXT strings joined).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "fake_dns.h"
#include "mailauth/dns.h"

static const struct fake_rr zone[] = {
	{"example.com", DNS_T_TXT, "v=spf1 \x1f-all"},
	{"example.com", DNS_T_MX, "10 MX.example.com"},
	{"mx.example.com", DNS_T_A, "192.0.2.25"},
	{"broken.example", DNS_T_TXT, "!TEMPFAIL"},
	{NULL, 0, NULL},
};

static void test_queue_once_then_answer(void **state)
{
	(void)state;
	struct dns_cache *c = dns_cache_new();
	assert_null(dns_cache_get(c, "Example.COM.", DNS_T_TXT));
	assert_null(dns_cache_get(c, "example.com", DNS_T_TXT));
	assert_true(dns_cache_has_open_questions(c));
	struct dns_question q[4];
	assert_int_equal(dns_cache_take_questions(c, q, 4), 1);
	assert_string_equal(q[0].name, "example.com");
	assert_int_equal(q[0].type, DNS_T_TXT);
	assert_int_equal(dns_cache_take_questions(c, q, 4), 0);
	assert_true(dns_cache_has_open_questions(c));
	fake_dns_answer(c, zone); /* nothing queued: answers nothing */
	struct dns_record rec = {.data = "v=spf1 -all", .len = 11};
	dns_cache_put(c, "example.com", DNS_T_TXT, DNS_OK, &rec, 1);
	assert_false(dns_cache_has_open_questions(c));
	const struct dns_answer *a = dns_cache_get(c, "EXAMPLE.com", DNS_T_TXT);
	assert_non_null(a);
	assert_int_equal(a->status, DNS_OK);
	assert_int_equal(a->count, 1);
	assert_string_equal(a->records[0].data, "v=spf1 -all");
	assert_int_equal(dns_cache_question_count(c), 1);
	dns_cache_free(c);
}

static void test_fake_zone_statuses(void **state)
{
	(void)state;
	struct dns_cache *c = dns_cache_new();
	assert_null(dns_cache_get(c, "example.com", DNS_T_TXT));
	assert_null(dns_cache_get(c, "example.com", DNS_T_AAAA));
	assert_null(dns_cache_get(c, "nowhere.example", DNS_T_A));
	assert_null(dns_cache_get(c, "broken.example", DNS_T_TXT));
	assert_null(dns_cache_get(c, "example.com", DNS_T_MX));
	assert_int_equal(fake_dns_answer(c, zone), 5);
	const struct dns_answer *a = dns_cache_get(c, "example.com", DNS_T_TXT);
	assert_int_equal(a->status, DNS_OK);
	assert_string_equal(a->records[0].data, "v=spf1 -all");
	assert_int_equal(dns_cache_get(c, "example.com", DNS_T_AAAA)->status, DNS_NODATA);
	assert_int_equal(dns_cache_get(c, "nowhere.example", DNS_T_A)->status, DNS_NXDOMAIN);
	assert_int_equal(dns_cache_get(c, "broken.example", DNS_T_TXT)->status, DNS_TEMPFAIL);
	a = dns_cache_get(c, "example.com", DNS_T_MX);
	assert_int_equal(a->records[0].preference, 10);
	assert_string_equal(a->records[0].data, "MX.example.com");
	dns_cache_free(c);
}

static void test_limits(void **state)
{
	(void)state;
	struct dns_cache *c = dns_cache_new();
	char name[64];
	for (int i = 0; i < DNS_CACHE_MAX_QUERIES; i++) {
		snprintf(name, sizeof(name), "n%d.example", i);
		assert_null(dns_cache_get(c, name, DNS_T_A));
	}
	const struct dns_answer *a = dns_cache_get(c, "one-more.example", DNS_T_A);
	assert_non_null(a);
	assert_int_equal(a->status, DNS_TEMPFAIL);
	/* Over-long and empty names are NXDOMAIN without asking. */
	char longname[300];
	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	assert_int_equal(dns_cache_get(c, longname, DNS_T_A)->status, DNS_NXDOMAIN);
	assert_int_equal(dns_cache_get(c, ".", DNS_T_A)->status, DNS_NXDOMAIN);
	/* OK without records is NODATA. */
	dns_cache_put(c, "empty.example", DNS_T_TXT, DNS_OK, NULL, 0);
	assert_int_equal(dns_cache_get(c, "empty.example", DNS_T_TXT)->status, DNS_NODATA);
	dns_cache_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_queue_once_then_answer),
		cmocka_unit_test(test_fake_zone_statuses),
		cmocka_unit_test(test_limits),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
