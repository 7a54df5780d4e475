/* Byte buffers, spans, base64 and the UTF-8 helpers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "common/base64.h"
#include "common/buf.h"
#include "common/utf8.h"

static void test_append_and_max(void **state)
{
	struct buf b;
	buf_init(&b, 10);
	assert_int_equal(buf_append_str(&b, "hello"), 0);
	assert_int_equal(buf_printf(&b, "%d", 12345), 0);
	assert_string_equal(buf_cstr(&b), "hello12345");
	/* The hard maximum holds and a refused append changes nothing. */
	assert_int_equal(buf_append_byte(&b, 'x'), -1);
	assert_int_equal(b.len, 10);
	buf_consume(&b, 5);
	assert_string_equal(buf_cstr(&b), "12345");
	buf_free(&b);
	assert_null(b.data);
}

static void test_printf_long(void **state)
{
	struct buf b = BUF_INIT;
	char big[1000];
	memset(big, 'z', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(buf_printf(&b, "<%s>", big), 0);
	assert_int_equal(b.len, 1001);
	assert_int_equal(b.data[0], '<');
	assert_int_equal(b.data[1000], '>');
	assert_int_equal(b.data[1001], '\0');
	buf_free(&b);
}

static void test_append_u64(void **state)
{
	(void)state;
	struct buf b = BUF_INIT;
	const uint64_t values[] = { 0, 7, 10, 4294967295u, UINT64_MAX };
	for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
		char want[32];
		snprintf(want, sizeof(want), "%llu", (unsigned long long)values[i]);
		buf_clear(&b);
		assert_int_equal(buf_append_u64(&b, values[i]), 0);
		assert_string_equal(buf_cstr(&b), want);
	}
	buf_free(&b);
}

static void test_span_compare(void **state)
{
	struct span s = span_cstr("CapaBility");
	assert_true(span_eq_ci(s, "CAPABILITY"));
	assert_false(span_eq(s, "CAPABILITY"));
	assert_true(span_has_prefix_ci(s, "capa"));
	assert_false(span_has_prefix_ci(span_cstr("ca"), "capa"));
	assert_false(span_eq_ci(s, "CAPABILITIES"));
}

static void check_roundtrip(const char *plain, const char *encoded)
{
	struct buf b = BUF_INIT;
	assert_int_equal(base64_encode(&b, span_cstr(plain)), 0);
	assert_string_equal(buf_cstr(&b), encoded);
	buf_clear(&b);
	assert_int_equal(base64_decode(&b, span_cstr(encoded)), 0);
	assert_int_equal(b.len, strlen(plain));
	assert_memory_equal(b.data, plain, b.len);
	buf_free(&b);
}

static void test_base64(void **state)
{
	/* RFC 4648 section 10 vectors. */
	check_roundtrip("", "");
	check_roundtrip("f", "Zg==");
	check_roundtrip("fo", "Zm8=");
	check_roundtrip("foo", "Zm9v");
	check_roundtrip("foob", "Zm9vYg==");
	check_roundtrip("fooba", "Zm9vYmE=");
	check_roundtrip("foobar", "Zm9vYmFy");
	check_roundtrip("\x01\x02\xff", "AQL/");

	static const char *const bad[] = { "Zg", "Zg=", "Z===", "Zg=a", "Zm9v Zg==", "Zm9v\r\n",
					   "Zg==Zg==", "Zm9*", "====",
					   /* non-zero bits before the padding (found by fuzzing) */
					   "Zm3=", "Z8m=", "Zh==" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct buf b = BUF_INIT;
		if (base64_decode(&b, span_cstr(bad[i])) == 0)
			fail_msg("accepted bad base64 '%s'", bad[i]);
		buf_free(&b);
	}
}

static void test_base64_alphabet(void **state)
{
	for (unsigned int v = 0; v < 64; v++)
		assert_int_equal(base64_char_value((uint8_t)base64_char(v)), (int)v);
	assert_int_equal(base64_char(64 + 1), 'B'); /* only the low 6 bits count */
}

/* Code points at every encoded-length boundary go out and come back. */
static void test_utf8_code_points(void **state)
{
	static const uint32_t cps[] = { 0x0, 0x7f, 0x80, 0x7ff, 0x800, 0xd7ff, 0xe000, 0xfffd,
					0xffff, 0x10000, 0x1f600, 0x10ffff };
	for (size_t i = 0; i < sizeof(cps) / sizeof(cps[0]); i++) {
		struct buf b = BUF_INIT;
		assert_int_equal(utf8_append_cp(&b, cps[i]), 0);
		size_t n = utf8_seq_len(b.data, b.len);
		assert_int_equal(n, b.len);
		assert_int_equal(utf8_seq_value(b.data, n), cps[i]);
		buf_free(&b);
	}
	/* A surrogate becomes U+FFFD; a full buffer refuses and keeps its bytes. */
	struct buf b;
	buf_init(&b, 4);
	assert_int_equal(utf8_append_cp(&b, 0xd800), 0);
	assert_string_equal(buf_cstr(&b), "\xef\xbf\xbd");
	assert_int_equal(utf8_append_cp(&b, 0xe9), -1);
	assert_int_equal(b.len, 3);
	buf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_append_and_max),
		cmocka_unit_test(test_printf_long),
		cmocka_unit_test(test_append_u64),
		cmocka_unit_test(test_span_compare),
		cmocka_unit_test(test_base64),
		cmocka_unit_test(test_base64_alphabet),
		cmocka_unit_test(test_utf8_code_points),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
