/* Session locks (store_lock_*): exclusion within a process and across
   processes, release on close and on a crash, the stamp. */
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/xalloc.h"
#include "store/store.h"

#define USER "ann@example.test"

struct fixture {
	char dir[64];
	char *data;
	struct store *store;
	struct store_user *u;
};

static int setup(void **state)
{
	struct fixture *f = xcalloc(1, sizeof(*f));
	strcpy(f->dir, "/tmp/petrel-lock-test-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	f->data = xasprintf("%s/data", f->dir);
	struct store_options o = { .data_dir = f->data, .program = "test" };
	char *error = NULL;
	if (store_open(&o, &f->store, &error) < 0 || store_user_add(f->store, USER, &error) < 0 ||
	    store_user_open(f->store, USER, &f->u, &error) < 0)
		fail_msg("%s", error);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	store_user_close(&f->u);
	store_close(&f->store);
	char *cmd = xasprintf("rm -rf '%s'", f->dir);
	assert_int_equal(system(cmd), 0);
	free(cmd);
	free(f->data);
	free(f);
	return 0;
}

static void test_exclusive_within_process(void **state)
{
	struct fixture *f = *state;
	struct store_lock *a = NULL, *b = NULL;
	char *error = NULL;
	int64_t stamped = -1;
	assert_int_equal(store_lock_take(f->u, "pop3", &a, &stamped, &error), STORE_OK);
	assert_int_equal(stamped, 0); /* never stamped */
	/* A second session of the same process is refused. */
	assert_int_equal(store_lock_take(f->u, "pop3", &b, NULL, &error), STORE_ERR_IN_USE);
	assert_null(b);
	assert_non_null(error);
	free(error);
	error = NULL;
	/* Another name is another lock. */
	assert_int_equal(store_lock_take(f->u, "other", &b, NULL, &error), STORE_OK);
	store_lock_release(&b);
	store_lock_release(&a);
	assert_null(a);
	store_lock_release(&a); /* NULL is fine */
	assert_int_equal(store_lock_take(f->u, "pop3", &b, NULL, &error), STORE_OK);
	store_lock_release(&b);
}

static void test_bad_names(void **state)
{
	struct fixture *f = *state;
	struct store_lock *l = NULL;
	static const char *const bad[] = { "", "../x", "a/b", "POP3", "a.b",
					   "0123456789012345678901234567890123" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char *error = NULL;
		assert_int_equal(store_lock_take(f->u, bad[i], &l, NULL, &error), STORE_ERR_INVALID);
		free(error);
	}
}

static void test_stamp(void **state)
{
	struct fixture *f = *state;
	struct store_lock *l = NULL;
	char *error = NULL;
	int64_t stamped = -1;
	assert_int_equal(store_lock_take(f->u, "pop3", &l, &stamped, &error), STORE_OK);
	assert_int_equal(stamped, 0);
	int64_t before = (int64_t)time(NULL);
	assert_int_equal(store_lock_stamp(l, &error), STORE_OK);
	store_lock_release(&l);
	assert_int_equal(store_lock_take(f->u, "pop3", &l, &stamped, &error), STORE_OK);
	assert_true(stamped >= before && stamped <= (int64_t)time(NULL));
	store_lock_release(&l);
}

/* Another process holds the lock (a raw flock on the same file, as another
   daemon's session would), then dies without releasing it. */
static void test_across_processes_and_crash(void **state)
{
	struct fixture *f = *state;
	struct store_lock *l = NULL;
	char *error = NULL;
	/* Creates the file. */
	assert_int_equal(store_lock_take(f->u, "pop3", &l, NULL, &error), STORE_OK);
	store_lock_release(&l);
	char *path = xasprintf("%s/users/%s/pop3.lock", f->data, USER);
	int ready[2];
	assert_int_equal(pipe(ready), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int fd = open(path, O_RDWR);
		if (fd < 0 || flock(fd, LOCK_EX) < 0)
			_exit(1);
		if (write(ready[1], "x", 1) != 1)
			_exit(1);
		pause();
		_exit(0);
	}
	char c;
	assert_int_equal(read(ready[0], &c, 1), 1);
	assert_int_equal(store_lock_take(f->u, "pop3", &l, NULL, &error), STORE_ERR_IN_USE);
	free(error);
	error = NULL;
	kill(pid, SIGKILL);
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_int_equal(store_lock_take(f->u, "pop3", &l, NULL, &error), STORE_OK);
	store_lock_release(&l);
	close(ready[0]);
	close(ready[1]);
	free(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_exclusive_within_process, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_names, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stamp, setup, teardown),
		cmocka_unit_test_setup_teardown(test_across_processes_and_crash, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
