/* What the store gives POP3's maildrop: session locks (store_lock_*:
   exclusion within a process and across processes, release on close and on
   a crash, the stamp), store_view_expunge_uids, also of files whose names
   lag behind the index, and store_view_flag_and_expunge. */
#include <dirent.h>
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
#include "store/internal.h" /* white-box: background_wait */
#include "store/store.h"

#include "store_fixture.h"

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
	/* File times come from the kernel's coarse clock, which may still
	   show the second before time()'s. */
	assert_true(stamped >= before - 1 && stamped <= (int64_t)time(NULL));
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

/* store_view_expunge_uids: expunges the UIDs given whatever their flags,
   only those, and a view that had them reports the expunges. */
static uint32_t append(struct fixture *f, uint32_t flags)
{
	static const char text[] = "Subject: x\n\nbody\n";
	struct store_draft *d;
	char *error = NULL;
	assert_int_equal(store_draft_begin(f->u, &d, &error), STORE_OK);
	assert_int_equal(store_draft_write(d, text, sizeof(text) - 1, &error), STORE_OK);
	assert_int_equal(store_draft_finish(d, &error), STORE_OK);
	struct store_append item = { .draft = d, .mailbox = "INBOX", .flags = flags };
	assert_int_equal(store_append(f->u, &item, 1, &error), STORE_OK);
	assert_int_equal(item.result, STORE_OK);
	return item.uid;
}

static uint32_t seen_expunged[8];
static size_t seen_count;

static void expunged_cb(void *ctx, uint32_t seq, uint32_t uid)
{
	seen_expunged[seen_count++] = uid;
}

static void test_expunge_uids(void **state)
{
	struct fixture *f = *state;
	uint32_t a = append(f, 0), b = append(f, STORE_FLAG_DELETED), c = append(f, STORE_FLAG_SEEN);
	struct store_view *v, *other;
	struct store_view_status st;
	char *error = NULL;
	assert_int_equal(store_view_open(f->u, "INBOX", 0, &v, &st, &error), STORE_OK);
	assert_int_equal(store_view_open(f->u, "INBOX", 0, &other, &st, &error), STORE_OK);
	assert_int_equal(st.messages, 3);
	/* a and c have no \Deleted: expunged all the same; b (\Deleted, not
	   named) stays; 99 does not exist and is skipped. */
	uint32_t uids[] = { a, c, 99 };
	assert_int_equal(store_view_expunge_uids(v, uids, 3, &error), STORE_OK);
	assert_int_equal(store_view_expunge_uids(v, NULL, 0, &error), STORE_ERR_INVALID);
	free(error);
	error = NULL;
	struct store_sync_cb cb = { .expunged = expunged_cb };
	seen_count = 0;
	assert_int_equal(store_view_sync(other, true, &cb, NULL, &error), STORE_OK);
	assert_int_equal(seen_count, 2);
	assert_int_equal(seen_expunged[0], a);
	assert_int_equal(seen_expunged[1], c);
	assert_int_equal(store_view_count(other), 1);
	assert_int_equal(store_view_uid(other, 1), b);
	struct store_mailbox_info info;
	assert_int_equal(store_mailbox_status(f->u, "INBOX", &info, &error), STORE_OK);
	assert_int_equal(info.messages, 1);
	store_view_close(&v);
	store_view_close(&other);
}

static uint32_t seen_flags[8];

static void flags_cb(void *ctx, uint32_t seq, uint32_t uid, uint32_t flags, uint64_t keywords,
		     uint64_t modseq)
{
	seen_flags[uid] = flags;
}

/* store_view_flag_and_expunge: \Seen on some, others expunged, in one
   transaction (one MODSEQ); another view learns both. */
static void test_flag_and_expunge(void **state)
{
	struct fixture *f = *state;
	uint32_t a = append(f, 0), b = append(f, 0), c = append(f, 0), d = append(f, 0);
	struct store_view *v, *other;
	struct store_view_status st;
	char *error = NULL;
	assert_int_equal(store_view_open(f->u, "INBOX", 0, &v, &st, &error), STORE_OK);
	assert_int_equal(store_view_open(f->u, "INBOX", 0, &other, &st, &error), STORE_OK);
	uint64_t modseq = st.highest_modseq;
	uint32_t seen[] = { a, b }, gone[] = { c };
	assert_int_equal(store_view_flag_and_expunge(v, seen, 2, STORE_FLAG_SEEN, gone, 1, &error),
			 STORE_OK);
	struct store_mailbox_info info;
	assert_int_equal(store_mailbox_status(f->u, "INBOX", &info, &error), STORE_OK);
	assert_int_equal(info.messages, 3);
	assert_int_equal(info.unseen, 1);
	assert_int_equal(info.highest_modseq, modseq + 1);
	struct store_sync_cb cb = { .expunged = expunged_cb, .flags = flags_cb };
	seen_count = 0;
	memset(seen_flags, 0, sizeof(seen_flags));
	assert_int_equal(store_view_sync(other, true, &cb, NULL, &error), STORE_OK);
	assert_int_equal(seen_count, 1);
	assert_int_equal(seen_expunged[0], c);
	assert_int_equal(seen_flags[a], STORE_FLAG_SEEN);
	assert_int_equal(seen_flags[b], STORE_FLAG_SEEN);
	assert_int_equal(seen_flags[d], 0);
	/* Either list may be empty. */
	assert_int_equal(store_view_flag_and_expunge(v, NULL, 0, STORE_FLAG_SEEN, &d, 1, &error),
			 STORE_OK);
	assert_int_equal(store_view_flag_and_expunge(v, &a, 1, STORE_FLAG_FLAGGED, NULL, 0, &error),
			 STORE_OK);
	assert_int_equal(store_mailbox_status(f->u, "INBOX", &info, &error), STORE_OK);
	assert_int_equal(info.messages, 2);
	assert_int_equal(info.highest_modseq, modseq + 3);
	store_view_close(&v);
	store_view_close(&other);
}

/* The file of message uid in cur/ (malloc'd path), or NULL. */
static char *file_of(const char *cur, uint32_t uid)
{
	char want[32];
	snprintf(want, sizeof(want), ",U=%u:", uid);
	DIR *d = opendir(cur);
	assert_non_null(d);
	char *path = NULL;
	struct dirent *de;
	while (path == NULL && (de = readdir(d)) != NULL)
		if (strstr(de->d_name, want) != NULL)
			path = xasprintf("%s/%s", cur, de->d_name);
	closedir(d);
	return path;
}

/* A file whose name is not the one the index gives (another process
   changed its flag letters) is found and unlinked all the same; a file
   already gone costs its record only. */
static void test_expunge_stale_names(void **state)
{
	struct fixture *f = *state;
	uint32_t a = append(f, 0), b = append(f, 0), c = append(f, STORE_FLAG_SEEN);
	char *maildir = xasprintf("%s/users/%s/Maildir", f->data, USER);
	char *cur = xasprintf("%s/cur", maildir);
	char *pa = file_of(cur, a), *pb = file_of(cur, b), *pc = file_of(cur, c);
	assert_non_null(pa);
	assert_non_null(pb);
	assert_non_null(pc);
	char *renamed = xasprintf("%sF", pa); /* ":2," + F: flagged elsewhere */
	assert_int_equal(rename(pa, renamed), 0);
	assert_int_equal(unlink(pc), 0);

	struct store_view *v;
	struct store_view_status st;
	char *error = NULL;
	assert_int_equal(store_view_open(f->u, "INBOX", 0, &v, &st, &error), STORE_OK);
	uint32_t uids[] = { a, b, c };
	assert_int_equal(store_view_expunge_uids(v, uids, 3, &error), STORE_OK);
	store_view_close(&v);
	background_wait(f->store); /* the files go after the commit */
	assert_int_equal(files_in(cur), 0);
	struct store_mailbox_info info;
	assert_int_equal(store_mailbox_status(f->u, "INBOX", &info, &error), STORE_OK);
	assert_int_equal(info.messages, 0);
	free(renamed);
	free(pa);
	free(pb);
	free(pc);
	free(cur);
	free(maildir);
}

/* The state a process leaves when it stops between an expunge's commit and
   the removal of the file: no record, a graveyard entry, the file. */
static void leave_unremoved(struct fixture *f, const char *path, const char *saved, uint32_t uid)
{
	char cmd[1024];
	snprintf(cmd, sizeof(cmd), "cp -p '%s' '%s'", saved, path);
	assert_int_equal(system(cmd), 0);
	MDB_txn *txn;
	struct mailbox_rec rec;
	assert_int_equal(user_txn_begin(f->u, true, &txn, NULL), STORE_OK);
	assert_int_equal(user_get_mailbox(f->u, txn, "INBOX", &rec), STORE_OK);
	assert_int_equal(graveyard_add(f->u, txn, rec.id, uid, path), STORE_OK);
	assert_int_equal(user_txn_commit(f->u, txn, NULL), STORE_OK);
	assert_true(graveyard_pending(f->u));
}

static uint32_t inbox_messages(struct fixture *f)
{
	struct store_mailbox_info info;
	assert_int_equal(store_mailbox_status(f->u, "INBOX", &info, NULL), STORE_OK);
	return info.messages;
}

/* The files of a large expunge go after the commit, through the
   graveyard (a small one unlinks them at once); what a process could not
   remove before it stopped goes at the next open, and check removes it
   instead of taking it for a message the index lost. */
static void test_graveyard(void **state)
{
	struct fixture *f = *state;
	enum { MESSAGES = GRAVEYARD_MIN_FILES + 8, LARGE = GRAVEYARD_MIN_FILES };
	uint32_t uids[MESSAGES];
	for (int i = 0; i < MESSAGES; i++)
		uids[i] = append(f, 0);
	char *index_dir = xasprintf("%s/users/%s/index", f->data, USER);
	char *cur = xasprintf("%s/users/%s/Maildir/cur", f->data, USER);
	char *lock_path = xasprintf("%s/purge.lock", index_dir);
	char *saved = xasprintf("%s/saved", f->dir);
	uint32_t b = uids[1];
	char *path = file_of(cur, b);
	assert_non_null(path);
	struct store_view *v;
	struct store_view_status st;

	/* One message: its file is gone when the call returns. */
	char *first = file_of(cur, uids[0]);
	assert_int_equal(store_view_open(f->u, "INBOX", 0, &v, &st, NULL), STORE_OK);
	assert_int_equal(store_view_expunge_uids(v, &uids[0], 1, NULL), STORE_OK);
	store_view_close(&v);
	assert_int_equal(access(first, F_OK), -1);
	assert_false(graveyard_pending(f->u));
	free(first);

	/* While the purge of a large expunge is held up (we hold its lock),
	   the messages are gone from the index and their files are there. */
	int lock_fd = open(lock_path, O_RDWR | O_CREAT, 0640);
	assert_true(lock_fd >= 0);
	assert_int_equal(flock(lock_fd, LOCK_EX), 0);
	assert_int_equal(store_view_open(f->u, "INBOX", 0, &v, &st, NULL), STORE_OK);
	assert_int_equal(store_view_expunge_uids(v, &uids[1], LARGE, NULL), STORE_OK);
	store_view_close(&v);
	const uint32_t left = MESSAGES - 1 - LARGE;
	assert_int_equal(inbox_messages(f), left);
	assert_int_equal(access(path, F_OK), 0);
	assert_int_equal(files_in(cur), MESSAGES - 1);
	assert_true(graveyard_pending(f->u));
	char cmd[1024];
	snprintf(cmd, sizeof(cmd), "cp -p '%s' '%s'", path, saved);
	assert_int_equal(system(cmd), 0);
	close(lock_fd); /* lets it go */
	background_wait(f->store);
	assert_int_equal(access(path, F_OK), -1);
	assert_int_equal(files_in(cur), left);
	assert_false(graveyard_pending(f->u));

	/* Left behind, finished when the user is opened again. */
	leave_unremoved(f, path, saved, b);
	store_user_close(&f->u);
	assert_int_equal(store_user_open(f->store, USER, &f->u, NULL), STORE_OK);
	assert_int_equal(access(path, F_OK), -1);
	assert_false(graveyard_pending(f->u));

	/* Left behind, found by check: removed, not indexed again. */
	leave_unremoved(f, path, saved, b);
	struct store_check_report report;
	assert_int_equal(store_check(f->store, USER, &report, NULL, NULL, NULL), STORE_OK);
	assert_int_equal(report.files_indexed, 0);
	assert_int_equal(access(path, F_OK), -1);
	assert_int_equal(inbox_messages(f), left);
	assert_false(graveyard_pending(f->u));

	/* Without the entry the same file is a message the index lost. */
	snprintf(cmd, sizeof(cmd), "cp -p '%s' '%s'", saved, path);
	assert_int_equal(system(cmd), 0);
	assert_int_equal(store_check(f->store, USER, &report, NULL, NULL, NULL), STORE_OK);
	assert_int_equal(report.files_indexed, 1);
	assert_int_equal(inbox_messages(f), left + 1);

	free(index_dir);
	free(cur);
	free(lock_path);
	free(saved);
	free(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_exclusive_within_process, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_names, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stamp, setup, teardown),
		cmocka_unit_test_setup_teardown(test_across_processes_and_crash, setup, teardown),
		cmocka_unit_test_setup_teardown(test_expunge_uids, setup, teardown),
		cmocka_unit_test_setup_teardown(test_expunge_stale_names, setup, teardown),
		cmocka_unit_test_setup_teardown(test_flag_and_expunge, setup, teardown),
		cmocka_unit_test_setup_teardown(test_graveyard, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
