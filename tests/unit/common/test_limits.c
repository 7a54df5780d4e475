/* Connection counting and the login-failure penalty. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "common/limits.h"

static void test_counting(void **state)
{
	struct count_table t;
	count_table_init(&t);
	assert_int_equal(conn_limits_add(&t, "ann", 3, 2), 0);
	assert_int_equal(conn_limits_add(&t, "ann", 3, 2), 0);
	assert_int_equal(conn_limits_add(&t, "ann", 3, 2), -1);
	assert_int_equal(conn_limits_add(&t, "bob", 3, 2), 0);
	conn_limits_remove(&t, "ann", 3);
	assert_int_equal(conn_limits_add(&t, "ann", 3, 2), 0);
	conn_limits_remove(&t, "ann", 3);
	conn_limits_remove(&t, "ann", 3);
	conn_limits_remove(&t, "bob", 3);
	assert_int_equal(t.entries, 0); /* nothing left behind */
	/* Growth keeps every key findable. */
	char key[16];
	for (int i = 0; i < 5000; i++) {
		int n = snprintf(key, sizeof(key), "k%d", i);
		assert_int_equal(conn_limits_add(&t, key, (size_t)n, 1), 0);
	}
	for (int i = 0; i < 5000; i++) {
		int n = snprintf(key, sizeof(key), "k%d", i);
		assert_int_equal(conn_limits_add(&t, key, (size_t)n, 1), -1);
		conn_limits_remove(&t, key, (size_t)n);
	}
	assert_int_equal(t.entries, 0);
	count_table_deinit(&t);
}

static void test_penalty(void **state)
{
	struct auth_penalty p;
	auth_penalty_init(&p, 100, 1000, 60000);
	const char ip[] = "1.2.3.4";
	assert_int_equal(auth_penalty_failure(&p, ip, 7, 0), 100);
	assert_int_equal(auth_penalty_failure(&p, ip, 7, 10), 200);
	assert_int_equal(auth_penalty_failure(&p, ip, 7, 20), 400);
	assert_int_equal(auth_penalty_failure(&p, ip, 7, 30), 800);
	assert_int_equal(auth_penalty_failure(&p, ip, 7, 40), 1000); /* capped */
	for (int i = 0; i < 100; i++)
		assert_int_equal(auth_penalty_failure(&p, ip, 7, 50), 1000);
	/* Another address is unaffected. */
	assert_int_equal(auth_penalty_failure(&p, "5.6.7.8", 7, 50), 100);
	/* After the window the count starts again. */
	assert_int_equal(auth_penalty_failure(&p, ip, 7, 50 + 60001), 100);
	/* A success clears it. */
	auth_penalty_failure(&p, ip, 7, 70000);
	auth_penalty_success(&p, ip, 7);
	assert_int_equal(auth_penalty_failure(&p, ip, 7, 70001), 100);
	/* Sweeping drops old records only. */
	auth_penalty_sweep(&p, 70001 + 60001);
	assert_int_equal(p.by_ip.entries, 0);
	auth_penalty_deinit(&p);

	/* A full table gives unknown addresses the maximum, and grows no more. */
	auth_penalty_init(&p, 100, 1000, 60000);
	p.max_entries = 3;
	assert_int_equal(auth_penalty_failure(&p, "a", 1, 0), 100);
	assert_int_equal(auth_penalty_failure(&p, "b", 1, 0), 100);
	assert_int_equal(auth_penalty_failure(&p, "c", 1, 0), 100);
	assert_int_equal(auth_penalty_failure(&p, "d", 1, 0), 1000);
	assert_int_equal(p.by_ip.entries, 3);
	assert_int_equal(auth_penalty_failure(&p, "a", 1, 1), 200); /* known ones still count */
	auth_penalty_deinit(&p);

	/* Zero base: no delay at all. */
	auth_penalty_init(&p, 0, 0, 1000);
	assert_int_equal(auth_penalty_failure(&p, ip, 7, 0), 0);
	assert_int_equal(auth_penalty_failure(&p, ip, 7, 1), 0);
	auth_penalty_deinit(&p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_counting),
		cmocka_unit_test(test_penalty),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
