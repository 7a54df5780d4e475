/* petrel.conf's schema: the built-in defaults load, and conf/petrel.conf
   documents every option with its real default in the right section. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/settings.h"

static char *read_file(const char *path)
{
	FILE *f = fopen(path, "r");
	if (f == NULL)
		fail_msg("cannot open %s", path);
	static char text[65536];
	size_t n = fread(text, 1, sizeof(text) - 1, f);
	fclose(f);
	text[n] = '\0';
	return text;
}

static void test_defaults_load(void **state)
{
	struct settings set;
	char *error = NULL;
	if (settings_load(&set, NULL, &error) < 0)
		fail_msg("%s", error);
	assert_int_equal(set.limits.max_connections_per_user, 10);
	assert_int_equal(set.imap.idle_timeout_ms, 30 * 60 * 1000);
	assert_false(set.auth.allow_plaintext_auth);
	assert_non_null(strstr(set.auth.sasldb_path, "/sasldb2"));
	settings_free(&set);
}

static void test_documented_file_loads(void **state)
{
	struct settings set;
	char *error = NULL;
	if (settings_load(&set, PETREL_SOURCE_DIR "/conf/petrel.conf", &error) < 0)
		fail_msg("%s", error);
	settings_free(&set);
}

/* Each option must appear as "#key = default" (or "#key =" when empty)
   between its [section] header and the next one. */
static void test_every_option_documented(void **state)
{
	const char *text = read_file(PETREL_SOURCE_DIR "/conf/petrel.conf");
	for (size_t i = 0; i < settings_options_count; i++) {
		const struct config_option *o = &settings_options[i];
		char header[64], line[256];
		snprintf(header, sizeof(header), "\n[%s]\n", o->section);
		const char *sec = strstr(text, header);
		if (sec == NULL)
			fail_msg("conf/petrel.conf has no [%s] section", o->section);
		const char *end = strstr(sec + 1, "\n[");
		if (o->def[0] != '\0')
			snprintf(line, sizeof(line), "\n#%s = %s\n", o->key, o->def);
		else
			snprintf(line, sizeof(line), "\n#%s =\n", o->key);
		const char *at = strstr(sec, line);
		if (at == NULL || (end != NULL && at > end))
			fail_msg("conf/petrel.conf: [%s] lacks the line '%s'", o->section, line + 1);
	}
}

/* [pop3] expire: empty, "never" or days; anything else is a config error. */
static void test_pop3_expire(void **state)
{
	static const struct {
		const char *value;
		int days; /* -3: refused */
	} cases[] = {
		{ "", SETTINGS_EXPIRE_UNSET }, { "never", SETTINGS_EXPIRE_NEVER },
		{ "NEVER", SETTINGS_EXPIRE_NEVER }, { "0", 0 }, { "30", 30 }, { "36500", 36500 },
		{ "36501", -3 }, { "-1", -3 }, { "7d", -3 }, { "99999999999", -3 }, { "x", -3 },
	};
	char path[] = "/tmp/petrel-settings-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	close(fd);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		FILE *f = fopen(path, "w");
		assert_non_null(f);
		fprintf(f, "[pop3]\nexpire = %s\nlogin_delay = 90s\n", cases[i].value);
		fclose(f);
		struct settings set;
		char *error = NULL;
		int ret = settings_load(&set, path, &error);
		if (cases[i].days == -3) {
			assert_int_equal(ret, -1);
			assert_non_null(strstr(error, "[pop3] expire"));
			free(error);
		} else {
			if (ret < 0)
				fail_msg("%s: %s", cases[i].value, error);
			assert_int_equal(set.maildrop.expire_days, cases[i].days);
			assert_int_equal(set.maildrop.login_delay_ms, 90000);
			assert_true(set.maildrop.mark_seen);
		}
		settings_free(&set);
	}
	unlink(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults_load),
		cmocka_unit_test(test_documented_file_loads),
		cmocka_unit_test(test_every_option_documented),
		cmocka_unit_test(test_pop3_expire),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
