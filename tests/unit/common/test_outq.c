/* The output queue: coalescing, partial writes, nothing kept when idle. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/outq.h"

static size_t drain(struct outq *q, uint8_t *out, size_t step)
{
	size_t total = 0;
	while (outq_pending(q) > 0) {
		uv_buf_t bufs[4];
		unsigned int n = outq_peek(q, bufs, 4);
		assert_true(n > 0);
		/* Pretend the socket took at most `step` bytes. */
		size_t took = 0;
		for (unsigned int i = 0; i < n && took < step; i++) {
			size_t k = bufs[i].len < step - took ? bufs[i].len : step - took;
			memcpy(out + total + took, bufs[i].base, k);
			took += k;
		}
		outq_consume(q, took);
		total += took;
	}
	return total;
}

static void test_roundtrip(void **state)
{
	struct outq q;
	outq_init(&q);
	size_t big = 3 * OUTQ_CHUNK_SIZE + 123;
	uint8_t *in = malloc(big + 100);
	uint8_t *out = malloc(big + 100);
	for (size_t i = 0; i < big + 100; i++)
		in[i] = (uint8_t)(i * 7);
	/* Small writes, then a big one: they come out in order. */
	for (int i = 0; i < 100; i++)
		outq_append(&q, in + i, 1);
	outq_append(&q, in + 100, big);
	assert_int_equal(outq_pending(&q), big + 100);
	assert_int_equal(drain(&q, out, 777), big + 100);
	assert_memory_equal(in, out, big + 100);
	/* Idle: nothing held. */
	assert_null(q.head);
	assert_null(q.tail);
	free(in);
	free(out);
	outq_free(&q);
}

static void test_small_first_chunk(void **state)
{
	struct outq q;
	outq_init(&q);
	outq_append(&q, "a OK\r\n", 6);
	assert_int_equal(q.head->cap, 512);
	outq_free(&q);
	assert_null(q.head);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_small_first_chunk),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
