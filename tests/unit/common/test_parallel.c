/* parallel_for: every item runs exactly once, whatever the count, also
   with several callers sharing the helpers at once; and the caller sees
   the helpers' writes when it returns. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include <cmocka.h>

#include "common/parallel.h"

struct counts {
	size_t count;
	unsigned int *runs;	/* per item; written by whichever thread ran it */
	atomic_uint threads_seen;
	pthread_t first;
	bool slow;
};

static void count_item(void *ctx, size_t i)
{
	struct counts *c = ctx;
	c->runs[i]++;
	if (!pthread_equal(pthread_self(), c->first))
		atomic_store(&c->threads_seen, 2);
	if (c->slow) {
		/* Long enough for a helper to wake and take some. */
		struct timespec ts = { 0, 200 * 1000 };
		nanosleep(&ts, NULL);
	}
}

static void run_counts(size_t count, bool slow, unsigned int *threads_r)
{
	struct counts c = { .count = count, .runs = calloc(count + 1, sizeof(unsigned int)),
			    .first = pthread_self(), .slow = slow };
	atomic_init(&c.threads_seen, 1);
	parallel_for(count, count_item, &c);
	for (size_t i = 0; i < count; i++)
		assert_int_equal(c.runs[i], 1);
	assert_int_equal(c.runs[count], 0);
	if (threads_r != NULL)
		*threads_r = atomic_load(&c.threads_seen);
	free(c.runs);
}

static void test_every_item_once(void **state)
{
	(void)state;
	static const size_t counts[] = { 0, 1, PARALLEL_MIN_ITEMS - 1, PARALLEL_MIN_ITEMS,
					 100, 10000 };
	for (size_t k = 0; k < sizeof(counts) / sizeof(counts[0]); k++)
		for (int rep = 0; rep < 20; rep++)
			run_counts(counts[k], false, NULL);
}

static void test_helpers_take_part(void **state)
{
	(void)state;
	if (parallel_helpers() == 0)
		skip(); /* one CPU: nothing to share */
	unsigned int threads = 0;
	run_counts(200, true, &threads);
	assert_int_equal(threads, 2);
}

static void test_small_counts_stay_in_line(void **state)
{
	(void)state;
	unsigned int threads = 0;
	run_counts(PARALLEL_MIN_ITEMS - 1, true, &threads);
	assert_int_equal(threads, 1);
}

static void *caller(void *arg)
{
	(void)arg;
	for (int rep = 0; rep < 200; rep++)
		run_counts(37 + (size_t)rep % 50, rep % 10 == 0, NULL);
	return NULL;
}

static void test_concurrent_callers(void **state)
{
	(void)state;
	pthread_t t[6];
	for (int i = 0; i < 6; i++)
		assert_int_equal(pthread_create(&t[i], NULL, caller, NULL), 0);
	for (int i = 0; i < 6; i++)
		pthread_join(t[i], NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_item_once),
		cmocka_unit_test(test_helpers_take_part),
		cmocka_unit_test(test_small_counts_stay_in_line),
		cmocka_unit_test(test_concurrent_callers),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
