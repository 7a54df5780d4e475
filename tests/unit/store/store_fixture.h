/*
 * The fixture the store's unit tests share: a fresh temporary directory
 * with a data folder, a run folder (the store listens for change
 * notifications there) and one user, opened. Each test binary includes it
 * once; setup() and teardown() go to cmocka_unit_test_setup_teardown().
 */
#ifndef PETREL_TESTS_STORE_FIXTURE_H
#define PETREL_TESTS_STORE_FIXTURE_H

#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/xalloc.h"
#include "store/store.h"

#define USER "ann@example.test"

struct fixture {
	char dir[64];
	char *data, *run;
	struct store *store;
	struct store_user *u;
};

static inline void rm_rf(const char *path)
{
	char *cmd = xasprintf("rm -rf '%s'", path);
	assert_int_equal(system(cmd), 0);
	free(cmd);
}

/* Entries of a directory, leaving out the dot files. */
static inline size_t files_in(const char *dir)
{
	DIR *d = opendir(dir);
	assert_non_null(d);
	size_t n = 0;
	struct dirent *de;
	while ((de = readdir(d)) != NULL)
		n += de->d_name[0] != '.';
	closedir(d);
	return n;
}

static inline int setup(void **state)
{
	struct fixture *f = xcalloc(1, sizeof(*f));
	snprintf(f->dir, sizeof(f->dir), "/tmp/petrel-store-test-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	f->data = xasprintf("%s/data", f->dir);
	f->run = xasprintf("%s/run", f->dir);
	struct store_options o = { .data_dir = f->data, .run_dir = f->run, .listen = true,
				   .program = "test" };
	char *error = NULL;
	if (store_open(&o, &f->store, &error) < 0)
		fail_msg("%s", error);
	if (store_user_add(f->store, USER, &error) < 0)
		fail_msg("%s", error);
	if (store_user_open(f->store, USER, &f->u, &error) < 0)
		fail_msg("%s", error);
	*state = f;
	return 0;
}

static inline int teardown(void **state)
{
	struct fixture *f = *state;
	store_user_close(&f->u);
	store_close(&f->store);
	rm_rf(f->dir);
	free(f->data);
	free(f->run);
	free(f);
	return 0;
}

#endif
