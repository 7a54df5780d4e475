/* The INI engine: typed values, defaults, and errors naming file, line, option. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/config.h"

struct demo {
	char *name;
	char *path;
	bool flag;
	unsigned int count;
	uint64_t size;
	uint64_t wait_ms;
	int color;
	struct listen_list listen;
	struct cidr_list nets;
};

static const char *const colors[] = { "red", "green", NULL };

static const struct config_option demo_opts[] = {
	{ "main", "name", CONFIG_STRING, offsetof(struct demo, name), "anon", 0, 0, NULL },
	{ "main", "path", CONFIG_PATH, offsetof(struct demo, path), "/abs", 0, 0, NULL },
	{ "main", "flag", CONFIG_BOOL, offsetof(struct demo, flag), "no", 0, 0, NULL },
	{ "main", "count", CONFIG_UINT, offsetof(struct demo, count), "3", 1, 10, NULL },
	{ "sizes", "size", CONFIG_SIZE, offsetof(struct demo, size), "1k", 0, 0, NULL },
	{ "sizes", "wait", CONFIG_DURATION, offsetof(struct demo, wait_ms), "2s", 0, 0, NULL },
	{ "sizes", "color", CONFIG_ENUM, offsetof(struct demo, color), "red", 0, 0, colors },
	{ "net", "listen", CONFIG_LISTEN, offsetof(struct demo, listen), "127.0.0.1:25", 0, 0, NULL },
	{ "net", "nets", CONFIG_NETWORKS, offsetof(struct demo, nets), "", 0, 0, NULL },
};
#define NOPTS (sizeof(demo_opts) / sizeof(demo_opts[0]))

static char path[64];

static int load(const char *text, struct demo *d, char **error_r)
{
	strcpy(path, "/tmp/petrel-test-config-XXXXXX");
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	memset(d, 0, sizeof(*d));
	*error_r = NULL;
	int ret = config_load(demo_opts, NOPTS, d, path, error_r);
	unlink(path);
	return ret;
}

static void test_defaults(void **state)
{
	struct demo d = { 0 };
	char *error = NULL;
	assert_int_equal(config_load(demo_opts, NOPTS, &d, NULL, &error), 0);
	assert_string_equal(d.name, "anon");
	assert_int_equal(d.count, 3);
	assert_int_equal(d.size, 1024);
	assert_int_equal(d.wait_ms, 2000);
	assert_int_equal(d.listen.count, 1);
	assert_int_equal(d.nets.count, 0);
	config_free(demo_opts, NOPTS, &d);
}

static void test_values(void **state)
{
	struct demo d;
	char *error;
	int ret = load("# comment\n[main]\nname = Ann Smith\npath = rel/x\nflag = YES\ncount = 10\n"
		       "[sizes]\nsize = 10M\nwait = 250ms\ncolor = GREEN\n"
		       "[net]\nlisten = [::1]:143, unix:/run/x\nnets = 10.0.0.0/8 ::1\n",
		       &d, &error);
	if (ret != 0)
		fail_msg("%s", error);
	assert_string_equal(d.name, "Ann Smith");
	assert_string_equal(d.path, "/tmp/rel/x"); /* relative to the file */
	assert_true(d.flag);
	assert_int_equal(d.count, 10);
	assert_int_equal(d.size, 10 * 1024 * 1024);
	assert_int_equal(d.wait_ms, 250);
	assert_int_equal(d.color, 1);
	assert_int_equal(d.listen.count, 2);
	assert_int_equal(d.listen.items[1].kind, LISTEN_UNIX);
	assert_int_equal(d.nets.count, 2);
	config_free(demo_opts, NOPTS, &d);
}

struct bad {
	const char *text;
	const char *error; /* after "<path>:" */
};

static void test_errors(void **state)
{
	static const struct bad cases[] = {
		{ "[main]\nnope = 1\n", "2: [main] nope: unknown option" },
		{ "[other]\nx = 1\n", "2: [other]: unknown section" },
		{ "x = 1\n", "1: x: option outside of any [section]" },
		{ "[main]\ncount = 0\n", "2: [main] count: '0' is out of range (1..10)" },
		{ "[main]\ncount = 11\n", "2: [main] count: '11' is out of range (1..10)" },
		{ "[main]\ncount = -1\n", "2: [main] count: '-1' is not a number" },
		{ "[main]\ncount = 99999999999999999999999\n",
		  "2: [main] count: '99999999999999999999999' is not a number" },
		{ "[main]\ncount = 3\n\n\ncount = 4\n", "5: [main] count: set twice" },
		{ "[main]\nflag = maybe\n", "2: [main] flag: 'maybe' is not yes or no" },
		{ "[sizes]\nsize = 5X\n", "2: [sizes] size: '5X' is not a size" },
		{ "[sizes]\nsize = 16777216T\n", "2: [sizes] size: '16777216T' is not a size" },
		{ "[sizes]\nsize = 17179869184G\n", "2: [sizes] size: '17179869184G' is not a size" },
		{ "[sizes]\nwait = soon\n", "2: [sizes] wait: 'soon' is not a duration" },
		{ "[sizes]\ncolor = blue\n", "2: [sizes] color: 'blue' is not one of: red green" },
		{ "[net]\nlisten = 1.2.3.4\n", "2: [net] listen: '1.2.3.4'" },
		{ "[net]\nnets = 300.0.0.0/8\n", "2: [net] nets: " },
		{ "[main\n", "1: syntax error" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct demo d;
		char *error;
		if (load(cases[i].text, &d, &error) == 0)
			fail_msg("case %zu accepted", i);
		char want[256];
		snprintf(want, sizeof(want), "%s:%s", path, cases[i].error);
		if (strncmp(error, want, strlen(want)) != 0)
			fail_msg("case %zu: got '%s' want '%s...'", i, error, want);
		free(error);
		config_free(demo_opts, NOPTS, &d);
	}
}

static void test_long_line(void **state)
{
	char text[1024];
	snprintf(text, sizeof(text), "[main]\nname = %0600d\n", 7);
	struct demo d;
	char *error;
	assert_int_equal(load(text, &d, &error), -1);
	assert_non_null(strstr(error, ":2: line longer than"));
	free(error);
	config_free(demo_opts, NOPTS, &d);
}

static void test_unit_parsers(void **state)
{
	uint64_t v;
	assert_int_equal(config_parse_duration("90", &v), 0);
	assert_int_equal(v, 90000);
	assert_int_equal(config_parse_duration("5m", &v), 0);
	assert_int_equal(v, 300000);
	assert_int_equal(config_parse_duration("1 h", &v), 0);
	assert_int_equal(v, 3600000);
	assert_int_equal(config_parse_duration("", &v), -1);
	assert_int_equal(config_parse_size("64k", &v), 0);
	assert_int_equal(v, 65536);
	assert_int_equal(config_parse_size("2G", &v), 0);
	assert_int_equal(v, 2ULL << 30);
	assert_int_equal(config_parse_size("k", &v), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),   cmocka_unit_test(test_values),
		cmocka_unit_test(test_errors),	   cmocka_unit_test(test_long_line),
		cmocka_unit_test(test_unit_parsers),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
