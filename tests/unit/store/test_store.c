/* The store's operations, each against a fresh data directory. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/xalloc.h"
#include "store/internal.h" /* white-box: the schema test writes the meta record */
#include "store/store.h"
#include "store/view.h" /* white-box: compact views */

#include "store_fixture.h"

/* Appends a message from text (LF line endings) and returns its UID. */
static uint32_t append(struct fixture *f, const char *mailbox, const char *text, uint32_t flags,
		       const char *const *keywords, size_t nkw, int64_t date)
{
	struct store_draft *d;
	char *error = NULL;
	assert_int_equal(store_draft_begin(f->u, &d, &error), STORE_OK);
	assert_int_equal(store_draft_write(d, text, strlen(text), &error), STORE_OK);
	assert_int_equal(store_draft_finish(d, &error), STORE_OK);
	struct store_append item = { .draft = d, .mailbox = mailbox, .flags = flags,
				     .keywords = { keywords, nkw }, .internaldate = date };
	assert_int_equal(store_append(f->u, &item, 1, &error), STORE_OK);
	if (item.result != STORE_OK)
		fail_msg("append: %s", store_strerror(item.result));
	return item.uid;
}

static const char *msg(int n)
{
	static char text[256];
	snprintf(text, sizeof(text),
		 "From: Bob <bob@example.test>\nSubject: test message %d\n\nbody of %d\nzebra%s\n", n,
		 n, n % 2 ? " giraffe" : "");
	return text;
}

/* ------------------------------------------------------------- mailboxes */

struct list_ctx {
	char names[32][64];
	unsigned int uses[32];
	bool subscribed[32], exists[32], noselect[32], children[32];
	int n;
};

static void list_cb(const struct store_mailbox_info *info, void *ctx)
{
	struct list_ctx *l = ctx;
	snprintf(l->names[l->n], sizeof(l->names[0]), "%s", info->name);
	l->uses[l->n] = info->special_use;
	l->subscribed[l->n] = info->subscribed;
	l->exists[l->n] = info->exists;
	l->noselect[l->n] = info->noselect;
	l->children[l->n] = info->has_children;
	l->n++;
}

static int find(struct list_ctx *l, const char *name)
{
	for (int i = 0; i < l->n; i++)
		if (strcmp(l->names[i], name) == 0)
			return i;
	return -1;
}

static void test_default_folders(void **state)
{
	struct fixture *f = *state;
	struct list_ctx l = { 0 };
	assert_int_equal(store_mailbox_list(f->u, list_cb, &l, NULL), STORE_OK);
	const char *want[] = { "Archive", "Drafts", "INBOX", "Junk", "Sent", "Trash" };
	assert_int_equal(l.n, 6);
	for (int i = 0; i < 6; i++) {
		assert_string_equal(l.names[i], want[i]);
		assert_true(l.subscribed[i] && l.exists[i]);
	}
	assert_int_equal(l.uses[find(&l, "Sent")], STORE_USE_SENT);
	assert_int_equal(l.uses[find(&l, "Trash")], STORE_USE_TRASH);
	char *path = xasprintf("%s/users/%s/Maildir/.Sent/cur", f->data, USER);
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	free(path);
	path = xasprintf("%s/users/%s/Maildir/subscriptions", f->data, USER);
	assert_int_equal(stat(path, &st), 0);
	free(path);
}

static void test_names(void **state)
{
	const char *why;
	const char *good[] = { "INBOX", "a", "a/b", "Caf\xc3\xa9", "a.b", "with space", "[Gmail]/x" };
	const char *bad[] = { "", "/a", "a/", "a//b", "a%", "a*", "bad\x01", "\xff\xfe", "a\x7f" };
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		assert_int_equal(store_mailbox_name_check(good[i], &why), STORE_OK);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(store_mailbox_name_check(bad[i], &why), STORE_ERR_INVALID);
	char longname[300];
	memset(longname, 'x', 299);
	longname[299] = '\0';
	assert_int_equal(store_mailbox_name_check(longname, &why), STORE_ERR_INVALID);
}

static void test_create_rename_delete(void **state)
{
	struct fixture *f = *state;
	char *error = NULL;
	assert_int_equal(store_mailbox_create(f->u, "Work/Projects/2024.q1", 0, &error), STORE_OK);
	assert_int_equal(store_mailbox_create(f->u, "Work", 0, &error), STORE_ERR_EXISTS);
	free(error);
	error = NULL;
	assert_int_equal(store_mailbox_create(f->u, "inbox", 0, &error), STORE_ERR_EXISTS);
	free(error);
	error = NULL;
	/* On disk: Maildir++ names, the dot inside a level escaped. */
	char *path = xasprintf("%s/users/%s/Maildir/.Work.Projects.2024%%2Eq1/cur", f->data, USER);
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	free(path);
	append(f, "Work/Projects/2024.q1", msg(1), 0, NULL, 0, 0);

	assert_int_equal(store_mailbox_rename(f->u, "Work", "Job", &error), STORE_OK);
	struct list_ctx l = { 0 };
	store_mailbox_list(f->u, list_cb, &l, NULL);
	assert_true(find(&l, "Job/Projects/2024.q1") >= 0 && find(&l, "Work") < 0);
	struct store_mailbox_info info;
	assert_int_equal(store_mailbox_status(f->u, "Job/Projects/2024.q1", &info, &error), STORE_OK);
	assert_int_equal(info.messages, 1);

	/* A mailbox with children becomes \Noselect; then it cannot be
	   deleted again until the children are gone. */
	assert_int_equal(store_mailbox_delete(f->u, "Job/Projects", &error), STORE_OK);
	memset(&l, 0, sizeof(l));
	store_mailbox_list(f->u, list_cb, &l, NULL);
	assert_true(l.noselect[find(&l, "Job/Projects")]);
	assert_int_equal(store_mailbox_delete(f->u, "Job/Projects", &error), STORE_ERR_HAS_CHILDREN);
	free(error);
	error = NULL;
	assert_int_equal(store_mailbox_delete(f->u, "Job/Projects/2024.q1", &error), STORE_OK);
	assert_int_equal(store_mailbox_delete(f->u, "Job/Projects", &error), STORE_OK);
	assert_int_equal(store_mailbox_delete(f->u, "INBOX", &error), STORE_ERR_NOT_ALLOWED);
	free(error);
	error = NULL;
	assert_int_equal(store_mailbox_delete(f->u, "Nope", &error), STORE_ERR_NOT_FOUND);
	free(error);
	error = NULL;

	/* Quota followed the deleted message. */
	struct store_quota q;
	store_quota_get(f->u, &q);
	assert_int_equal(q.used_messages, 0);

	/* RENAME INBOX moves its messages and leaves it empty. */
	append(f, "INBOX", msg(2), 0, NULL, 0, 0);
	assert_int_equal(store_mailbox_rename(f->u, "INBOX", "Old", &error), STORE_OK);
	assert_int_equal(store_mailbox_status(f->u, "INBOX", &info, &error), STORE_OK);
	assert_int_equal(info.messages, 0);
	assert_int_equal(store_mailbox_status(f->u, "Old", &info, &error), STORE_OK);
	assert_int_equal(info.messages, 1);
}

static void test_recreate_changes_uidvalidity(void **state)
{
	struct fixture *f = *state;
	char *error = NULL;
	struct store_mailbox_info a, b;
	assert_int_equal(store_mailbox_create(f->u, "X", 0, &error), STORE_OK);
	store_mailbox_status(f->u, "X", &a, &error);
	assert_int_equal(store_mailbox_delete(f->u, "X", &error), STORE_OK);
	assert_int_equal(store_mailbox_create(f->u, "X", 0, &error), STORE_OK);
	store_mailbox_status(f->u, "X", &b, &error);
	assert_true(b.uidvalidity > a.uidvalidity);
}

static void test_subscriptions(void **state)
{
	struct fixture *f = *state;
	char *error = NULL;
	/* RFC 3501 6.3.6: a name may be subscribed without existing. */
	assert_int_equal(store_mailbox_subscribe(f->u, "Ghost", true, &error), STORE_OK);
	assert_int_equal(store_mailbox_subscribe(f->u, "Sent", false, &error), STORE_OK);
	struct list_ctx l = { 0 };
	store_mailbox_list(f->u, list_cb, &l, NULL);
	int g = find(&l, "Ghost");
	assert_true(g >= 0 && l.subscribed[g] && !l.exists[g]);
	assert_false(l.subscribed[find(&l, "Sent")]);
	assert_int_equal(store_mailbox_subscribe(f->u, "Sent", false, &error), STORE_ERR_NOT_FOUND);
	free(error);
}

/* -------------------------------------------------------------- messages */

static char *read_message(struct store_view *v, uint32_t uid)
{
	int fd = store_view_open_message(v, uid, NULL);
	assert_true(fd >= 0);
	char *buf = xcalloc(1, 65536);
	ssize_t n = read(fd, buf, 65535);
	assert_true(n >= 0);
	close(fd);
	return buf;
}

static void test_append_stores_crlf(void **state)
{
	struct fixture *f = *state;
	const char *kw[] = { "$Forwarded", "Work" };
	uint32_t uid = append(f, "INBOX", "Subject: hi\n\nline one\r\nline two\nno end", STORE_FLAG_SEEN,
			      kw, 2, 1700000000);
	assert_int_equal(uid, 1);
	struct store_view *v;
	struct store_view_status st;
	char *error = NULL;
	assert_int_equal(store_view_open(f->u, "inbox", 0, &v, &st, &error), STORE_OK);
	assert_int_equal(st.messages, 1);
	assert_int_equal(st.unseen, 0);
	assert_int_equal(st.uidnext, 2);
	char *text = read_message(v, uid);
	assert_string_equal(text, "Subject: hi\r\n\r\nline one\r\nline two\r\nno end");
	struct store_reader *r;
	assert_int_equal(store_reader_begin(v, &r, &error), STORE_OK);
	struct store_msg m;
	assert_int_equal(store_reader_get(r, uid, STORE_FETCH_FLAGS | STORE_FETCH_STRUCTURE, &m),
			 STORE_OK);
	assert_int_equal(m.flags, STORE_FLAG_SEEN);
	assert_int_equal(m.size, strlen(text));
	assert_int_equal(m.internaldate, 1700000000);
	assert_int_equal(__builtin_popcountll(m.keywords), 2);
	assert_true(m.part_count >= 1);
	assert_int_equal(m.parts[0].header_size, strlen("Subject: hi\r\n\r\n"));
	/* The whole header comes from the file... */
	struct buf header = BUF_INIT;
	assert_int_equal(store_reader_header(r, uid, NULL, 0, &header), STORE_OK);
	assert_string_equal(buf_cstr(&header), "Subject: hi\r\n\r\n");
	buf_clear(&header);
	/* ...the lines of fields the index keeps, from the index. */
	const char *const subject[] = { "SUBJECT", "From" };
	assert_int_equal(store_reader_header(r, uid, subject, 2, &header), STORE_OK);
	assert_string_equal(buf_cstr(&header), "Subject: hi\r\n");
	buf_clear(&header);
	const char *const uncached[] = { "X-Whatever" };
	assert_int_equal(store_reader_header(r, uid, uncached, 1, &header), STORE_OK);
	assert_string_equal(buf_cstr(&header), "Subject: hi\r\n\r\n");
	buf_clear(&header);
	/* A UID that is not there says so (callers need no other lookup to
	   know a message is gone). */
	assert_int_equal(store_reader_header(r, uid + 100, subject, 2, &header),
			 STORE_ERR_NOT_FOUND);
	buf_free(&header);
	store_reader_end(&r);
	/* Keyword names come back by id. */
	bool forwarded = false;
	for (unsigned int id = 0; id < 64; id++)
		if ((m.keywords >> id) & 1)
			forwarded |= strcmp(store_keyword_name(v, id), "$Forwarded") == 0;
	assert_true(forwarded);
	free(text);
	store_view_close(&v);

	/* The file name carries size, UID and flags (S = seen; keywords as
	   letters). */
	char *cur = xasprintf("%s/users/%s/Maildir/cur", f->data, USER);
	DIR *d = opendir(cur);
	struct dirent *de;
	bool found = false;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		assert_non_null(strstr(de->d_name, ",S=41,W=41,U=1:2,S"));
		found = true;
		struct stat sst;
		char *p = xasprintf("%s/%s", cur, de->d_name);
		stat(p, &sst);
		assert_int_equal(sst.st_mtime, 1700000000); /* INTERNALDATE */
		free(p);
	}
	closedir(d);
	free(cur);
	assert_true(found);
}

/* A message with none of the fields the index keeps has no header
   record, and is still there; an expunged one is not. */
static void test_header_of_bare_and_gone_messages(void **state)
{
	struct fixture *f = *state;
	uint32_t bare = append(f, "INBOX", "X-Only: 1\n\nbody\n", 0, NULL, 0, 0);
	uint32_t gone = append(f, "INBOX", msg(2), 0, NULL, 0, 0);
	struct store_view *v;
	struct store_view_status st;
	char *error = NULL;
	assert_int_equal(store_view_open(f->u, "INBOX", 0, &v, &st, &error), STORE_OK);
	assert_int_equal(store_view_expunge_uids(v, &gone, 1, &error), STORE_OK);
	struct store_reader *r;
	assert_int_equal(store_reader_begin(v, &r, &error), STORE_OK);
	const char *const subject[] = { "Subject" };
	struct buf header = BUF_INIT;
	assert_int_equal(store_reader_header(r, bare, subject, 1, &header), STORE_OK);
	assert_int_equal(header.len, 0);
	assert_int_equal(store_reader_header(r, gone, subject, 1, &header), STORE_ERR_NOT_FOUND);
	buf_free(&header);
	store_reader_end(&r);
	store_view_close(&v);
}

static void test_uids_never_reused(void **state)
{
	struct fixture *f = *state;
	for (int i = 1; i <= 5; i++)
		assert_int_equal(append(f, "INBOX", msg(i), 0, NULL, 0, 0), (uint32_t)i);
	struct store_view *v;
	struct store_view_status st;
	assert_int_equal(store_view_open(f->u, "INBOX", 0, &v, &st, NULL), STORE_OK);
	uint32_t last[] = { 5 };
	assert_int_equal(store_view_set_flags(v, last, 1, STORE_FLAGS_ADD, STORE_FLAG_DELETED, NULL,
					      NULL),
			 STORE_OK);
	assert_int_equal(store_view_expunge(v, NULL, 0, NULL), STORE_OK);
	store_view_close(&v);
	assert_int_equal(append(f, "INBOX", msg(6), 0, NULL, 0, 0), 6);
}

/* Entries in a Maildir subfolder of the demo user (tmp, cur). */
static int count_entries(struct fixture *f, const char *sub)
{
	char *path = xasprintf("%s/users/%s/Maildir/%s", f->data, USER, sub);
	int files = (int)files_in(path);
	free(path);
	return files;
}

static void test_append_to_missing_mailbox_and_quota(void **state)
{
	struct fixture *f = *state;
	struct store_draft *d;
	char *error = NULL;
	store_draft_begin(f->u, &d, &error);
	store_draft_write(d, "x\n", 2, &error);
	store_draft_finish(d, &error);
	struct store_append item = { .draft = d, .mailbox = "Nowhere" };
	assert_int_equal(store_append(f->u, &item, 1, &error), STORE_OK);
	assert_int_equal(item.result, STORE_ERR_NOT_FOUND);
	/* The draft is gone from tmp/ either way. */
	assert_int_equal(count_entries(f, "tmp"), 0);

	assert_int_equal(store_quota_set(f->store, USER, 0, 2, &error), STORE_OK);
	append(f, "INBOX", msg(1), 0, NULL, 0, 0);
	append(f, "INBOX", msg(2), 0, NULL, 0, 0);
	store_draft_begin(f->u, &d, &error);
	store_draft_write(d, "x\n", 2, &error);
	store_draft_finish(d, &error);
	item = (struct store_append){ .draft = d, .mailbox = "INBOX" };
	store_append(f->u, &item, 1, &error);
	assert_int_equal(item.result, STORE_ERR_QUOTA);
	struct store_quota q;
	store_quota_get(f->u, &q);
	assert_int_equal(q.used_messages, 2);
	assert_int_equal(q.limit_messages, 2);
}

/* Both kinds of draft (unnamed O_TMPFILE, and named in tmp/ where the
   file system has no O_TMPFILE) end up the same: committed in cur/ with
   their bytes and INTERNALDATE as mtime, or gone without a trace. */
static void test_drafts_unnamed_and_named(void **state)
{
	struct fixture *f = *state;
	char *error = NULL;
	for (int named = 0; named < 2; named++) {
		f->store->named_drafts = named;
		struct store_draft *d;
		assert_int_equal(store_draft_begin(f->u, &d, &error), STORE_OK);
		assert_int_equal(store_draft_write(d, "Subject: d\n\nbody\n", 17, &error), STORE_OK);
		assert_int_equal(store_draft_finish(d, &error), STORE_OK);
		/* A named draft is a file in tmp/; an unnamed one is nowhere
		   until the commit links it (a test machine on a file system
		   without O_TMPFILE makes both named). */
		bool unnamed = d->tmp_path == NULL;
		assert_true(named ? !unnamed : (unnamed || f->store->named_drafts));
		assert_int_equal(count_entries(f, "tmp"), unnamed ? 0 : 1);
		int before = count_entries(f, "cur");
		struct store_append item = { .draft = d, .mailbox = "INBOX",
					     .internaldate = 1600000000 + named };
		assert_int_equal(store_append(f->u, &item, 1, &error), STORE_OK);
		assert_int_equal(item.result, STORE_OK);
		assert_null(item.draft);
		assert_int_equal(count_entries(f, "tmp"), 0);
		assert_int_equal(count_entries(f, "cur"), before + 1);

		struct store_view *v;
		struct store_view_status st;
		assert_int_equal(store_view_open(f->u, "INBOX", 0, &v, &st, NULL), STORE_OK);
		char *text = read_message(v, item.uid);
		assert_string_equal(text, "Subject: d\r\n\r\nbody\r\n");
		free(text);
		int fd = store_view_open_message(v, item.uid, NULL);
		struct stat sb;
		assert_int_equal(fstat(fd, &sb), 0);
		assert_int_equal(sb.st_mtime, 1600000000 + named);
		assert_int_equal(sb.st_nlink, 1);
		close(fd);
		store_view_close(&v);

		/* Abandoned, and refused by the commit: nothing is left. */
		assert_int_equal(store_draft_begin(f->u, &d, &error), STORE_OK);
		assert_int_equal(store_draft_write(d, "x\n", 2, &error), STORE_OK);
		store_draft_abort(&d);
		assert_int_equal(store_draft_begin(f->u, &d, &error), STORE_OK);
		assert_int_equal(store_draft_write(d, "x\n", 2, &error), STORE_OK);
		assert_int_equal(store_draft_finish(d, &error), STORE_OK);
		item = (struct store_append){ .draft = d, .mailbox = "Nowhere" };
		assert_int_equal(store_append(f->u, &item, 1, &error), STORE_OK);
		assert_int_equal(item.result, STORE_ERR_NOT_FOUND);
		assert_int_equal(count_entries(f, "tmp"), 0);
		assert_int_equal(count_entries(f, "cur"), before + 1);
	}
	f->store->named_drafts = false;
}

/* ------------------------------------------------------------------ views */

struct events {
	char log[1024];
};

static void ev_expunged(void *ctx, uint32_t seq, uint32_t uid)
{
	struct events *e = ctx;
	size_t n = strlen(e->log);
	snprintf(e->log + n, sizeof(e->log) - n, "X%u ", seq);
}

static void ev_exists(void *ctx, uint32_t count, uint32_t recent)
{
	struct events *e = ctx;
	size_t n = strlen(e->log);
	snprintf(e->log + n, sizeof(e->log) - n, "E%u ", count);
}

static void ev_flags(void *ctx, uint32_t seq, uint32_t uid, uint32_t flags, uint64_t kw,
		     uint64_t modseq)
{
	struct events *e = ctx;
	size_t n = strlen(e->log);
	snprintf(e->log + n, sizeof(e->log) - n, "F%u:%u ", seq, flags);
}

static const struct store_sync_cb events_cb = { ev_expunged, ev_exists, ev_flags };

static void test_view_sync(void **state)
{
	struct fixture *f = *state;
	for (int i = 1; i <= 4; i++)
		append(f, "INBOX", msg(i), 0, NULL, 0, 0);
	struct store_view *a, *b;
	struct store_view_status st;
	assert_int_equal(store_view_open(f->u, "INBOX", 0, &a, &st, NULL), STORE_OK);
	assert_int_equal(store_view_open(f->u, "INBOX", 0, &b, &st, NULL), STORE_OK);
	/* b flags and expunges; a sees nothing until it syncs. */
	uint32_t uids[] = { 2, 3 };
	store_view_set_flags(b, uids, 2, STORE_FLAGS_ADD, STORE_FLAG_DELETED, NULL, NULL);
	uint32_t one[] = { 1 };
	store_view_set_flags(b, one, 1, STORE_FLAGS_ADD, STORE_FLAG_SEEN, NULL, NULL);
	store_view_expunge(b, NULL, 0, NULL);
	append(f, "INBOX", msg(5), 0, NULL, 0, 0);
	assert_int_equal(store_view_count(a), 4);

	/* Expunges held back (during FETCH/STORE/SEARCH): only new mail and
	   flags, with the old numbering. */
	struct events e = { "" };
	assert_int_equal(store_view_sync(a, false, &events_cb, &e, NULL), STORE_OK);
	assert_string_equal(e.log, "E5 F1:1 ");
	assert_int_equal(store_view_count(a), 5);
	/* Now the expunges, each with its sequence number at that moment. */
	memset(&e, 0, sizeof(e));
	assert_int_equal(store_view_sync(a, true, &events_cb, &e, NULL), STORE_OK);
	assert_string_equal(e.log, "X2 X2 ");
	assert_int_equal(store_view_count(a), 3);
	assert_int_equal(store_view_uid(a, 1), 1);
	assert_int_equal(store_view_uid(a, 2), 4);
	assert_int_equal(store_view_uid(a, 3), 5);
	assert_int_equal(store_view_seq(a, 5), 3);
	assert_int_equal(store_view_seq(a, 2), 0);
	/* Nothing more to say. */
	memset(&e, 0, sizeof(e));
	store_view_sync(a, true, &events_cb, &e, NULL);
	assert_string_equal(e.log, "");
	store_view_close(&a);
	store_view_close(&b);
}

/* A compact view answers as the array did, and comes back to the array
   when the map changes. */
static void test_view_compact(void **state)
{
	struct fixture *f = *state;
	for (int i = 1; i <= 300; i++)
		append(f, "INBOX", msg(i), 0, NULL, 0, 0);
	struct store_view *a, *b;
	struct store_view_status st;
	assert_int_equal(store_view_open(f->u, "INBOX", 0, &a, &st, NULL), STORE_OK);
	assert_int_equal(store_view_open(f->u, "INBOX", 0, &b, &st, NULL), STORE_OK);
	/* Holes at 10, 11 and 200: four runs. */
	uint32_t gone[] = { 10, 11, 200 };
	store_view_set_flags(b, gone, 3, STORE_FLAGS_ADD, STORE_FLAG_DELETED, NULL, NULL);
	assert_int_equal(store_view_expunge(b, gone, 3, NULL), STORE_OK);
	struct events e = { "" };
	assert_int_equal(store_view_sync(a, true, &events_cb, &e, NULL), STORE_OK);
	assert_string_equal(e.log, "X10 X10 X198 ");
	uint32_t uid_of[301], seq_of[302];
	for (uint32_t seq = 0; seq <= 298; seq++)
		uid_of[seq] = store_view_uid(a, seq);
	for (uint32_t uid = 0; uid <= 301; uid++)
		seq_of[uid] = store_view_seq(a, uid);
	store_view_compact(a);
	assert_null(a->uids);
	assert_int_equal(a->run_count, 3);
	assert_int_equal(store_view_count(a), 297);
	for (uint32_t seq = 0; seq <= 298; seq++)
		assert_int_equal(store_view_uid(a, seq), uid_of[seq]);
	for (uint32_t uid = 0; uid <= 301; uid++)
		assert_int_equal(store_view_seq(a, uid), seq_of[uid]);
	/* Nothing changed: the sync keeps it compact. */
	e.log[0] = '\0';
	assert_int_equal(store_view_sync(a, true, &events_cb, &e, NULL), STORE_OK);
	assert_string_equal(e.log, "");
	assert_null(a->uids);
	/* An expunge and an arrival: the array is back, in step. */
	uint32_t first = 1;
	store_view_set_flags(b, &first, 1, STORE_FLAGS_ADD, STORE_FLAG_DELETED, NULL, NULL);
	assert_int_equal(store_view_expunge(b, &first, 1, NULL), STORE_OK);
	uint32_t last = append(f, "INBOX", msg(301), 0, NULL, 0, 0);
	assert_int_equal(store_view_sync(a, true, &events_cb, &e, NULL), STORE_OK);
	assert_string_equal(e.log, "X1 E297 ");
	assert_non_null(a->uids);
	assert_int_equal(store_view_uid(a, 1), 2);
	assert_int_equal(store_view_uid(a, 297), last);
	assert_int_equal(store_view_seq(a, 300), 296);
	/* Scattered UIDs stay an array: runs would not be smaller. */
	uint32_t odd[150];
	for (uint32_t i = 0; i < 150; i++)
		odd[i] = 2 + 2 * i;
	store_view_set_flags(b, odd, 150, STORE_FLAGS_ADD, STORE_FLAG_DELETED, NULL, NULL);
	store_view_expunge(b, odd, 150, NULL);
	store_view_sync(a, true, &events_cb, &e, NULL);
	store_view_compact(a);
	assert_non_null(a->uids);
	store_view_close(&a);
	store_view_close(&b);
}

static void test_view_gone_and_readonly(void **state)
{
	struct fixture *f = *state;
	char *error = NULL;
	store_mailbox_create(f->u, "Temp", 0, &error);
	struct store_view *v, *ro;
	struct store_view_status st;
	assert_int_equal(store_view_open(f->u, "Temp", 0, &v, &st, NULL), STORE_OK);
	assert_int_equal(store_view_open(f->u, "Temp", STORE_VIEW_READONLY, &ro, &st, NULL), STORE_OK);
	uint32_t uid = 1;
	assert_int_equal(store_view_set_flags(ro, &uid, 1, STORE_FLAGS_ADD, STORE_FLAG_SEEN, NULL,
					      &error),
			 STORE_ERR_NOT_ALLOWED);
	free(error);
	error = NULL;
	store_mailbox_delete(f->u, "Temp", &error);
	store_mailbox_create(f->u, "Temp", 0, &error);
	assert_int_equal(store_view_sync(v, true, &events_cb, &(struct events){ "" }, &error),
			 STORE_ERR_GONE);
	free(error);
	error = NULL;
	store_view_close(&v);
	store_view_close(&ro);
	assert_int_equal(store_view_open(f->u, "Nope", 0, &v, &st, &error), STORE_ERR_NOT_FOUND);
	free(error);
}

static void test_recent(void **state)
{
	struct fixture *f = *state;
	append(f, "INBOX", msg(1), 0, NULL, 0, 0);
	append(f, "INBOX", msg(2), 0, NULL, 0, 0);
	struct store_view *a, *b, *c;
	struct store_view_status st;
	/* EXAMINE sees none and takes none. */
	store_view_open(f->u, "INBOX", STORE_VIEW_READONLY | STORE_VIEW_CLAIM_RECENT, &c, &st, NULL);
	assert_int_equal(st.recent, 0);
	store_view_open(f->u, "INBOX", STORE_VIEW_CLAIM_RECENT, &a, &st, NULL);
	assert_int_equal(st.recent, 2);
	assert_true(store_view_recent(a, 1) && store_view_recent(a, 2));
	store_view_open(f->u, "INBOX", STORE_VIEW_CLAIM_RECENT, &b, &st, NULL);
	assert_int_equal(st.recent, 0); /* a took them */
	/* New mail is \Recent for the claiming session that sees it first. */
	append(f, "INBOX", msg(3), 0, NULL, 0, 0);
	struct events e = { "" };
	store_view_sync(a, true, &events_cb, &e, NULL);
	assert_true(store_view_recent(a, 3));
	store_view_sync(b, true, &events_cb, &e, NULL);
	assert_false(store_view_recent(b, 3));
	store_view_close(&a);
	store_view_close(&b);
	store_view_close(&c);
}

static void test_flags_and_file_names(void **state)
{
	struct fixture *f = *state;
	uint32_t uid = append(f, "INBOX", msg(1), 0, NULL, 0, 0);
	struct store_view *v;
	struct store_view_status st;
	store_view_open(f->u, "INBOX", 0, &v, &st, NULL);
	assert_int_equal(st.unseen, 1);
	assert_int_equal(st.first_unseen_seq, 1);
	const char *kw[] = { "$Junk" };
	struct store_keywords k = { kw, 1 };
	assert_int_equal(store_view_set_flags(v, &uid, 1, STORE_FLAGS_ADD,
					      STORE_FLAG_SEEN | STORE_FLAG_FLAGGED, &k, NULL),
			 STORE_OK);
	struct events e = { "" };
	store_view_sync(v, true, &events_cb, &e, NULL);
	assert_string_equal(e.log, "F1:5 ");
	/* The file name follows: F S and a keyword letter. */
	char *cur = xasprintf("%s/users/%s/Maildir/cur", f->data, USER);
	DIR *d = opendir(cur);
	struct dirent *de;
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.')
			assert_non_null(strstr(de->d_name, ":2,FSa"));
	closedir(d);
	struct store_mailbox_info info;
	store_mailbox_status(f->u, "INBOX", &info, NULL);
	assert_int_equal(info.unseen, 0);
	uint64_t modseq = info.highest_modseq;
	/* Replace drops the keyword and F; remove drops S. */
	assert_int_equal(store_view_set_flags(v, &uid, 1, STORE_FLAGS_REPLACE, STORE_FLAG_SEEN, NULL,
					      NULL),
			 STORE_OK);
	assert_int_equal(store_view_set_flags(v, &uid, 1, STORE_FLAGS_REMOVE, STORE_FLAG_SEEN, NULL,
					      NULL),
			 STORE_OK);
	store_mailbox_status(f->u, "INBOX", &info, NULL);
	assert_int_equal(info.unseen, 1);
	assert_true(info.highest_modseq >= modseq + 2);
	d = opendir(cur);
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.')
			assert_true(strlen(strstr(de->d_name, ":2,")) == 3);
	closedir(d);
	free(cur);
	/* A no-op change changes nothing, not even MODSEQ. */
	uint64_t before = info.highest_modseq;
	store_view_set_flags(v, &uid, 1, STORE_FLAGS_REMOVE, STORE_FLAG_SEEN, NULL, NULL);
	store_mailbox_status(f->u, "INBOX", &info, NULL);
	assert_int_equal(info.highest_modseq, before);
	store_view_close(&v);
}

static void test_copy_move(void **state)
{
	struct fixture *f = *state;
	append(f, "INBOX", msg(1), STORE_FLAG_SEEN, NULL, 0, 1600000000);
	append(f, "INBOX", msg(2), 0, NULL, 0, 0);
	struct store_view *v;
	struct store_view_status st;
	store_view_open(f->u, "INBOX", 0, &v, &st, NULL);
	uint32_t uids[] = { 1, 2 }, uv, *dest;
	char *error = NULL;
	assert_int_equal(store_view_copy(v, uids, 2, "Archive", false, &uv, &dest, &error), STORE_OK);
	assert_int_equal(dest[0], 1);
	assert_int_equal(dest[1], 2);
	free(dest);
	struct store_mailbox_info info;
	store_mailbox_status(f->u, "Archive", &info, NULL);
	assert_int_equal(info.messages, 2);
	assert_int_equal(info.unseen, 1);
	assert_int_equal(info.uidvalidity, uv);
	struct store_quota q;
	store_quota_get(f->u, &q);
	assert_int_equal(q.used_messages, 4);

	uint32_t one[] = { 1 };
	assert_int_equal(store_view_copy(v, one, 1, "Trash", true, &uv, &dest, &error), STORE_OK);
	free(dest);
	store_mailbox_status(f->u, "INBOX", &info, NULL);
	assert_int_equal(info.messages, 1);
	store_quota_get(f->u, &q);
	assert_int_equal(q.used_messages, 4); /* a move keeps usage */
	assert_int_equal(store_view_copy(v, one, 1, "Missing", false, &uv, &dest, &error),
			 STORE_ERR_NOT_FOUND);
	free(error);
	error = NULL;
	store_view_close(&v);

	/* The copy keeps flags and INTERNALDATE and reads back the same. */
	store_view_open(f->u, "Trash", 0, &v, &st, NULL);
	struct store_reader *r;
	store_reader_begin(v, &r, NULL);
	struct store_msg m;
	assert_int_equal(store_reader_get(r, 1, STORE_FETCH_FLAGS, &m), STORE_OK);
	assert_int_equal(m.flags, STORE_FLAG_SEEN);
	assert_int_equal(m.internaldate, 1600000000);
	store_reader_end(&r);
	char *text = read_message(v, 1);
	assert_non_null(strstr(text, "test message 1"));
	free(text);
	store_view_close(&v);
}

/* ------------------------------------------------------------- UID lists */

static void reopen(struct fixture *f)
{
	background_wait(f->store); /* its reference would keep the user open */
	store_user_close(&f->u);
	char *error = NULL;
	if (store_user_open(f->store, USER, &f->u, &error) < 0)
		fail_msg("%s", error);
}


/* What SELECT must report for a mailbox: its UIDs in order, which are
   seen. */
struct model {
	uint32_t uid[1024];
	bool seen[1024];
	size_t n;
};

static void model_add(struct model *m, uint32_t uid, bool seen)
{
	assert_true(m->n < 1024);
	assert_true(m->n == 0 || uid > m->uid[m->n - 1]);
	m->uid[m->n] = uid;
	m->seen[m->n++] = seen;
}

static void model_remove(struct model *m, size_t i)
{
	memmove(m->uid + i, m->uid + i + 1, (m->n - i - 1) * sizeof(m->uid[0]));
	memmove(m->seen + i, m->seen + i + 1, (m->n - i - 1) * sizeof(m->seen[0]));
	m->n--;
}

static void model_expect(struct fixture *f, const char *mailbox, const struct model *m,
			 const char *when)
{
	struct store_view *v;
	struct store_view_status st;
	char *error = NULL;
	if (store_view_open(f->u, mailbox, STORE_VIEW_READONLY, &v, &st, &error) < 0)
		fail_msg("%s: %s", when, error);
	uint32_t unseen = 0, first = 0;
	for (size_t i = 0; i < m->n; i++) {
		if (!m->seen[i] && unseen++ == 0)
			first = (uint32_t)i + 1;
		if (store_view_uid(v, (uint32_t)i + 1) != m->uid[i])
			fail_msg("%s: %s seq %zu is UID %u, not %u", when, mailbox, i + 1,
				 store_view_uid(v, (uint32_t)i + 1), m->uid[i]);
	}
	if (st.messages != m->n || st.unseen != unseen || st.first_unseen_seq != first)
		fail_msg("%s: %s has %u messages, %u unseen, first %u; expected %zu, %u, %u", when,
			 mailbox, st.messages, st.unseen, st.first_unseen_seq, m->n, unseen, first);
	store_view_close(&v);
	/* STATUS (the mailbox record's counters) agrees. */
	struct store_mailbox_info info;
	assert_int_equal(store_mailbox_status(f->u, mailbox, &info, NULL), STORE_OK);
	assert_int_equal(info.messages, m->n);
	assert_int_equal(info.unseen, unseen);
}

/* Picks a random subset of the model's UIDs. */
static size_t pick(const struct model *m, unsigned int *seed, uint32_t *out, bool *chosen)
{
	size_t n = 0;
	for (size_t i = 0; i < m->n; i++) {
		chosen[i] = rand_r(seed) % 5 == 0;
		if (chosen[i])
			out[n++] = m->uid[i];
	}
	return n;
}

/* The lists SELECT reads (every UID and the unseen ones) follow appends,
   flag changes, expunges, copies and moves, a mailbox deleted and made
   again, and are built for an index that lacks them. */
static void test_uid_lists_follow_every_change(void **state)
{
	struct fixture *f = *state;
	struct model *inbox = xcalloc(1, sizeof(*inbox)), *archive = xcalloc(1, sizeof(*archive));
	model_expect(f, "INBOX", inbox, "empty");
	unsigned int seed = 7;
	/* Over 256 UIDs in a row: a view opens them as runs; the expunges
	   below scatter them until the plain array is the smaller form. */
	for (int i = 1; i <= 300; i++)
		model_add(inbox, append(f, "INBOX", msg(i), i % 3 == 0 ? STORE_FLAG_SEEN : 0, NULL,
					0, 0),
			  i % 3 == 0);
	char *error = NULL;
	assert_int_equal(store_mailbox_create(f->u, "Stash", 0, &error), STORE_OK);
	struct store_view *v;
	struct store_view_status st;
	assert_int_equal(store_view_open(f->u, "INBOX", 0, &v, &st, &error), STORE_OK);
	uint32_t uids[1024];
	bool chosen[1024];
	char when[64];
	/* A few holes: five runs, still the compact form. */
	uint32_t holes[] = { 50, 100, 150, 200 };
	assert_int_equal(store_view_expunge_uids(v, holes, 4, &error), STORE_OK);
	for (size_t i = inbox->n; i-- > 0;)
		if (inbox->uid[i] % 50 == 0 && inbox->uid[i] <= 200)
			model_remove(inbox, i);
	model_expect(f, "INBOX", inbox, "four holes");
	for (int round = 0; round < 60; round++) {
		int op = (int)(rand_r(&seed) % 7);
		size_t n = pick(inbox, &seed, uids, chosen);
		snprintf(when, sizeof(when), "round %d (op %d, %zu messages)", round, op, n);
		if (op == 0) {
			for (int k = rand_r(&seed) % 3; k >= 0; k--) {
				bool seen = rand_r(&seed) % 2;
				model_add(inbox, append(f, "INBOX", msg(round), seen ? STORE_FLAG_SEEN : 0,
							NULL, 0, 0),
					  seen);
			}
		} else if (op <= 3) {
			enum store_flag_op fop = op == 1 ? STORE_FLAGS_ADD :
					       op == 2 ? STORE_FLAGS_REMOVE : STORE_FLAGS_REPLACE;
			uint32_t flags = op == 3 ? STORE_FLAG_FLAGGED : STORE_FLAG_SEEN;
			assert_int_equal(store_view_set_flags(v, uids, n, fop, flags, NULL, &error),
					 STORE_OK);
			for (size_t i = 0; i < inbox->n; i++)
				if (chosen[i])
					inbox->seen[i] = op == 1;
		} else if (op == 4) {
			assert_int_equal(store_view_expunge_uids(v, uids, n, &error), STORE_OK);
			for (size_t i = inbox->n; i-- > 0;)
				if (chosen[i])
					model_remove(inbox, i);
		} else if (n > 0) {
			uint32_t uv, *dest;
			assert_int_equal(store_view_copy(v, uids, n, "Stash", op == 6, &uv, &dest,
							 &error),
					 STORE_OK);
			size_t k = 0;
			for (size_t i = 0; i < inbox->n; i++)
				if (chosen[i])
					model_add(archive, dest[k++], inbox->seen[i]);
			free(dest);
			for (size_t i = inbox->n; op == 6 && i-- > 0;)
				if (chosen[i])
					model_remove(inbox, i);
		}
		/* The session's own view catches up, as IMAP's would. */
		struct store_sync_cb quiet = { NULL, NULL, NULL };
		assert_int_equal(store_view_sync(v, true, &quiet, NULL, &error), STORE_OK);
		model_expect(f, "INBOX", inbox, when);
		model_expect(f, "Stash", archive, when);
	}
	store_view_close(&v);

	/* An index written before the lists existed: they are built on open. */
	MDB_txn *txn;
	assert_int_equal(user_txn_begin(f->u, true, &txn, NULL), STORE_OK);
	assert_int_equal(mdb_drop(txn, f->u->uids, 0), 0);
	assert_int_equal(user_meta_put_u64(f->u, txn, "uid_lists", 0), STORE_OK);
	assert_int_equal(user_txn_commit(f->u, txn, NULL), STORE_OK);
	reopen(f);
	model_expect(f, "INBOX", inbox, "lists rebuilt");
	model_expect(f, "Stash", archive, "lists rebuilt");

	/* Damaged lists (an entry lost, one too many): check rebuilds them,
	   and says so; a second check finds nothing to do. */
	assert_int_equal(user_txn_begin(f->u, true, &txn, NULL), STORE_OK);
	assert_int_equal(uidlist_update(f->u, txn, 1, inbox->uid[3], &(uint32_t){ 0 }, NULL),
			 STORE_OK);
	assert_int_equal(uidlist_update(f->u, txn, 1, 99999, NULL, &(uint32_t){ 0 }), STORE_OK);
	assert_int_equal(user_txn_commit(f->u, txn, NULL), STORE_OK);
	struct store_check_report rep;
	assert_int_equal(store_check(f->store, USER, &rep, NULL, NULL, NULL), STORE_OK);
	assert_true(rep.uid_lists_rebuilt);
	model_expect(f, "INBOX", inbox, "lists checked");
	assert_int_equal(store_check(f->store, USER, &rep, NULL, NULL, NULL), STORE_OK);
	assert_false(rep.uid_lists_rebuilt);

	/* A mailbox deleted and made again starts empty. */
	assert_int_equal(store_mailbox_delete(f->u, "Stash", &error), STORE_OK);
	assert_int_equal(store_mailbox_create(f->u, "Stash", 0, &error), STORE_OK);
	archive->n = 0;
	model_expect(f, "Stash", archive, "Archive made again");
	model_add(archive, append(f, "Stash", msg(1), 0, NULL, 0, 0), false);
	model_expect(f, "Stash", archive, "Archive made again");
	free(inbox);
	free(archive);
}

/* ----------------------------------------------------------------- search */

static size_t search(struct fixture *f, const struct store_search *k, uint32_t *out)
{
	struct store_view *v;
	struct store_view_status st;
	store_view_open(f->u, "INBOX", 0, &v, &st, NULL);
	uint32_t *uids;
	size_t n;
	char *error = NULL;
	assert_int_equal(store_view_search(v, k, &uids, &n, &error), STORE_OK);
	memcpy(out, uids, n * sizeof(*uids));
	free(uids);
	store_view_close(&v);
	return n;
}

/* The same answers whether the words are still pending or merged into the
   inverted index and the dictionary. */
static void search_checks(struct fixture *f)
{
	uint32_t r[16];
	struct store_search k = { .kind = STORE_SEARCH_BODY, .text = "GIRAFFE" };
	assert_int_equal(search(f, &k, r), 3);
	assert_int_equal(r[0], 1);
	k.text = "iraf"; /* substrings of words */
	assert_int_equal(search(f, &k, r), 3);
	k.text = "zebra gir"; /* across words: verified against the text */
	assert_int_equal(search(f, &k, r), 3);
	k.text = "message"; /* only in the header: not BODY */
	assert_int_equal(search(f, &k, r), 0);
	k.kind = STORE_SEARCH_TEXT;
	assert_int_equal(search(f, &k, r), 6);
	k.text = "gr\xc3\xbc\xc3\x9f"; /* case-insensitive beyond ASCII */
	assert_int_equal(search(f, &k, r), 1);
	assert_int_equal(r[0], 7);
	k.text = "that"; /* a word posted once: LMDB 0.9.24 GET_MULTIPLE quirk */
	assert_int_equal(search(f, &k, r), 1);
	k.text = "component-that-goes"; /* punctuation: verified */
	assert_int_equal(search(f, &k, r), 1);
	k.text = "on-and-on/x";
	assert_int_equal(search(f, &k, r), 1);
	k.text = "";
	assert_int_equal(search(f, &k, r), 7);

	struct store_search h = { .kind = STORE_SEARCH_HEADER, .field = "subject", .text = "MESSAGE 3" };
	assert_int_equal(search(f, &h, r), 1);
	assert_int_equal(r[0], 3);
	h.text = "caf\xc3\xa9";
	assert_int_equal(search(f, &h, r), 1);

	struct store_search seen = { .kind = STORE_SEARCH_FLAGS_SET, .flags = STORE_FLAG_SEEN };
	assert_int_equal(search(f, &seen, r), 1);
	assert_int_equal(r[0], 2);
	seen.kind = STORE_SEARCH_FLAGS_UNSET;
	assert_int_equal(search(f, &seen, r), 6);
	const char *unknown[] = { "NeverUsed" };
	struct store_search kw = { .kind = STORE_SEARCH_FLAGS_SET, .keywords = { unknown, 1 } };
	assert_int_equal(search(f, &kw, r), 0);
	kw.kind = STORE_SEARCH_FLAGS_UNSET;
	assert_int_equal(search(f, &kw, r), 7);

	struct store_uid_range ranges[] = { { 2, 3 }, { 6, 4294967295u } };
	struct store_search uids = { .kind = STORE_SEARCH_UIDS, .ranges = ranges, .range_count = 2 };
	assert_int_equal(search(f, &uids, r), 4);
	/* No ranges matches nothing: imapd's form of a set beyond the count. */
	struct store_search none = { .kind = STORE_SEARCH_UIDS, .range_count = 0 };
	assert_int_equal(search(f, &none, r), 0);
	struct store_search not_none = { .kind = STORE_SEARCH_NOT, .children = &none,
					 .child_count = 1 };
	assert_int_equal(search(f, &not_none, r), 7);

	int64_t day3 = (1700000000 + 3 * 86400) / 86400 * 86400;
	struct store_search on = { .kind = STORE_SEARCH_INTERNALDATE_ON, .date = day3 };
	assert_int_equal(search(f, &on, r), 1);
	assert_int_equal(r[0], 3);
	on.kind = STORE_SEARCH_INTERNALDATE_BEFORE;
	assert_int_equal(search(f, &on, r), 2);

	/* NOT (OR seen giraffe) */
	struct store_search parts[2] = { { .kind = STORE_SEARCH_FLAGS_SET, .flags = STORE_FLAG_SEEN },
					 { .kind = STORE_SEARCH_BODY, .text = "giraffe" } };
	struct store_search or = { .kind = STORE_SEARCH_OR, .children = parts, .child_count = 2 };
	struct store_search not = { .kind = STORE_SEARCH_NOT, .children = &or, .child_count = 1 };
	assert_int_equal(search(f, &not, r), 3); /* 4, 6, 7 */
	assert_int_equal(r[0], 4);

	struct store_search larger = { .kind = STORE_SEARCH_LARGER, .number = 100 };
	assert_int_equal(search(f, &larger, r), 1);
}

static void test_search(void **state)
{
	struct fixture *f = *state;
	for (int i = 1; i <= 6; i++)
		append(f, "INBOX", msg(i), i == 2 ? STORE_FLAG_SEEN : 0, NULL, 0,
		       1700000000 + i * 86400);
	append(f, "INBOX", "Subject: Caf\xc3\x89 na\xc3\xafve\n\nGR\xc3\x9c\xc3\x9f GOTT, https://example.test/very-long-path-component-that-goes-on-and-on/x\n",
	       0, NULL, 0, 0);
	search_checks(f);
	uint32_t left = 99;
	assert_int_equal(wordindex_merge(f->u, "INBOX", 1000, &left, NULL), STORE_OK);
	assert_int_equal(left, 0);
	struct store_mailbox_info info;
	store_mailbox_status(f->u, "INBOX", &info, NULL);
	search_checks(f);

	/* Expunged after the merge: its postings stay, searches skip them. */
	struct store_view *v;
	struct store_view_status st;
	store_view_open(f->u, "INBOX", 0, &v, &st, NULL);
	uint32_t one = 1;
	store_view_set_flags(v, &one, 1, STORE_FLAGS_ADD, STORE_FLAG_DELETED, NULL, NULL);
	store_view_expunge(v, NULL, 0, NULL);
	/* A merged message copied: its words are read again from the file. */
	uint32_t three = 3, uv, *dest;
	assert_int_equal(store_view_copy(v, &three, 1, "Archive", false, &uv, &dest, NULL), STORE_OK);
	free(dest);
	store_view_close(&v);
	uint32_t r[16];
	struct store_search k = { .kind = STORE_SEARCH_BODY, .text = "giraffe" };
	assert_int_equal(search(f, &k, r), 2);
	assert_int_equal(r[0], 3);
	store_view_open(f->u, "Archive", 0, &v, &st, NULL);
	uint32_t *uids;
	size_t n;
	assert_int_equal(store_view_search(v, &k, &uids, &n, NULL), STORE_OK);
	assert_int_equal(n, 1);
	free(uids);
	store_view_close(&v);
}

/* The UIDs posted under a body word of INBOX must be first, first + step,
   ... (count of them), each once and in order. */
static void check_postings(struct fixture *f, const char *word, uint32_t first, uint32_t step,
			   size_t count)
{
	MDB_txn *txn;
	assert_int_equal(user_txn_begin(f->u, false, &txn, NULL), STORE_OK);
	struct mailbox_rec rec;
	assert_int_equal(user_get_mailbox(f->u, txn, "INBOX", &rec), STORE_OK);
	uint8_t key[5 + MAX_WORD_LEN];
	uint32_t be = __builtin_bswap32(rec.id);
	memcpy(key, &be, 4);
	key[4] = 'b';
	memcpy(key + 5, word, strlen(word));
	MDB_cursor *cur;
	assert_int_equal(mdb_cursor_open(txn, f->u->words, &cur), 0);
	MDB_val k = { 5 + strlen(word), key }, v;
	size_t n = 0;
	for (int rc = mdb_cursor_get(cur, &k, &v, MDB_SET_KEY); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT_DUP), n++) {
		uint32_t uid;
		memcpy(&uid, v.mv_data, sizeof(uid));
		assert_int_equal(uid, first + step * n);
	}
	assert_int_equal(n, count);
	mdb_cursor_close(cur);
	user_txn_abort(f->u, txn);
}

/* Postings after merges in several chunks, each written in several slices:
   each merge appends its UIDs to the keys' duplicates (a sub-page at
   first, then a sub-database), and a list merged a second time (a re-run)
   adds nothing. */
static void test_merge_postings(void **state)
{
	struct fixture *f = *state;
	wordindex_slice_uids = 300; /* "common" alone fills a slice */
	enum { N = 1500, BATCH = 100 };
	MDB_txn *txn;
	struct mailbox_rec rec;
	struct msg_key three;
	MDB_val k, v;
	struct buf list = BUF_INIT;
	for (int base = 1; base <= N; base += BATCH) {
		struct store_append items[BATCH];
		char *error = NULL;
		for (int i = 0; i < BATCH; i++) {
			char text[128];
			int uid = base + i;
			snprintf(text, sizeof(text), "Subject: m\n\ncommon %s w%c%c\n",
				 uid % 2 ? "odd" : "even", 'a' + uid % 26, 'a' + uid / 26 % 26);
			struct store_draft *d;
			assert_int_equal(store_draft_begin(f->u, &d, &error), STORE_OK);
			assert_int_equal(store_draft_write(d, text, strlen(text), &error), STORE_OK);
			assert_int_equal(store_draft_finish(d, &error), STORE_OK);
			items[i] = (struct store_append){ .draft = d, .mailbox = "INBOX" };
		}
		assert_int_equal(store_append(f->u, items, BATCH, &error), STORE_OK);
		assert_int_equal(items[BATCH - 1].uid, base + BATCH - 1);
		if (base > 1)
			continue;
		/* Keep UID 3's pending list, to merge it again at the end (the
		   appends merge once MERGE_BATCH lists are pending). */
		assert_int_equal(user_txn_begin(f->u, false, &txn, NULL), STORE_OK);
		assert_int_equal(user_get_mailbox(f->u, txn, "INBOX", &rec), STORE_OK);
		three = msg_key(rec.id, 3);
		k = (MDB_val){ sizeof(three), &three };
		assert_int_equal(mdb_get(txn, f->u->pending, &k, &v), 0);
		buf_append(&list, v.mv_data, v.mv_size);
		user_txn_abort(f->u, txn);
	}


	uint32_t left = N;
	for (int i = 0; i < 4 && left > 0; i++)
		assert_int_equal(wordindex_merge(f->u, "INBOX", 700, &left, NULL), STORE_OK);
	assert_int_equal(left, 0);
	check_postings(f, "common", 1, 1, N);
	check_postings(f, "odd", 1, 2, N / 2);
	check_postings(f, "even", 2, 2, N / 2);
	check_postings(f, "wdb", 26 + 3, 26 * 26, 3); /* 29, 705, 1381 */

	assert_int_equal(user_txn_begin(f->u, true, &txn, NULL), STORE_OK);
	assert_int_equal(user_get_mailbox(f->u, txn, "INBOX", &rec), STORE_OK);
	v = (MDB_val){ list.len, list.data };
	assert_int_equal(mdb_put(txn, f->u->pending, &k, &v, 0), 0);
	rec.pending++;
	assert_int_equal(user_put_mailbox(f->u, txn, "INBOX", &rec), STORE_OK);
	assert_int_equal(user_txn_commit(f->u, txn, NULL), STORE_OK);
	buf_free(&list);
	assert_int_equal(wordindex_merge(f->u, "INBOX", 700, &left, NULL), STORE_OK);
	assert_int_equal(left, 0);
	check_postings(f, "common", 1, 1, N);
	check_postings(f, "odd", 1, 2, N / 2);

	uint32_t r[4];
	struct store_search s = { .kind = STORE_SEARCH_BODY, .text = "wdb" };
	assert_int_equal(search(f, &s, r), 3);
	assert_int_equal(r[2], 1381);
	struct store_mailbox_info info;
	assert_int_equal(store_mailbox_status(f->u, "INBOX", &info, NULL), STORE_OK);
	assert_int_equal(info.messages, N);
	wordindex_slice_uids = MERGE_SLICE_UIDS;
}

/* SUBJECT takes candidates from the header words: an encoded subject is
   found by its decoded text, a word elsewhere in the header is not a hit. */
static void subject_checks(struct fixture *f)
{
	uint32_t r[4];
	struct store_search h = { .kind = STORE_SEARCH_HEADER, .field = "Subject",
				  .text = "cr\xc3\xa8me" };
	assert_int_equal(search(f, &h, r), 1);
	assert_int_equal(r[0], 1);
	h.text = "CAF\xc3\x89 CR"; /* across words, case-folded */
	assert_int_equal(search(f, &h, r), 1);
	h.text = "zed"; /* only in From */
	assert_int_equal(search(f, &h, r), 0);
	h.text = "brulee"; /* only in message 2's To and body */
	assert_int_equal(search(f, &h, r), 0);
	h.text = "lain";
	assert_int_equal(search(f, &h, r), 1);
	assert_int_equal(r[0], 2);
	h.text = ""; /* both have a Subject field */
	assert_int_equal(search(f, &h, r), 2);
}

static void test_search_subject(void **state)
{
	struct fixture *f = *state;
	append(f, "INBOX",
	       "Subject: =?utf-8?q?Caf=C3=A9_cr=C3=A8me?=\nFrom: Zed <zed@example.test>\n\nbody\n",
	       0, NULL, 0, 0);
	append(f, "INBOX", "Subject: plain\nTo: brulee@example.test\n\nbrulee\n", 0, NULL, 0, 0);
	subject_checks(f);
	uint32_t left = 99;
	assert_int_equal(wordindex_merge(f->u, "INBOX", 1000, &left, NULL), STORE_OK);
	subject_checks(f);
}

/* A message whose keyword got a file-name letter after a view had read the
   folder's letters is still opened by name. */
static void test_open_after_new_keyword_letter(void **state)
{
	struct fixture *f = *state;
	const char *b[] = { "$B" }, *a[] = { "$A" };
	append(f, "Archive", msg(1), 0, b, 1, 0); /* the user knows $B */
	uint32_t uid = append(f, "INBOX", msg(2), 0, a, 1, 0);
	struct store_view *v, *v2;
	struct store_view_status st;
	assert_int_equal(store_view_open(f->u, "INBOX", 0, &v, &st, NULL), STORE_OK);
	int fd = store_view_open_message(v, uid, NULL);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(store_view_open(f->u, "INBOX", 0, &v2, &st, NULL), STORE_OK);
	struct store_keywords k = { b, 1 };
	assert_int_equal(store_view_set_flags(v2, &uid, 1, STORE_FLAGS_ADD, 0, &k, NULL), STORE_OK);
	store_view_close(&v2);
	fd = store_view_open_message(v, uid, NULL);
	assert_true(fd >= 0);
	char head[6] = "";
	assert_int_equal(read(fd, head, 5), 5);
	assert_string_equal(head, "From:");
	close(fd);
	store_view_close(&v);
}

/* -------------------------------------------------------- notifications */

static void note_cb(const char *user, const char *mailbox, void *ctx)
{
	char *log = ctx;
	strcat(log, mailbox);
	strcat(log, ";");
}

static void test_notifications(void **state)
{
	struct fixture *f = *state;
	/* A second process would bind its own socket; a second store in this
	   process stands in for it. */
	struct store_options o = { .data_dir = f->data, .run_dir = f->run, .listen = true,
				   .program = "other" };
	struct store *other;
	assert_int_equal(store_open(&o, &other, NULL), STORE_OK);
	int fd = store_notify_fd(other);
	assert_true(fd >= 0);
	append(f, "Sent", msg(1), 0, NULL, 0, 0);
	char log[256] = "";
	store_notify_read(other, note_cb, log);
	assert_string_equal(log, "Sent;");
	log[0] = '\0';
	store_notify_read(other, note_cb, log);
	assert_string_equal(log, "");
	store_close(&other);
	/* A listener that went away is forgotten by the next sender. */
	append(f, "Sent", msg(2), 0, NULL, 0, 0);
	char *dir = xasprintf("%s/notify", f->run);
	assert_int_equal(files_in(dir), 1);
	free(dir);
}

/* ---------------------------------------------------------- group commit */

struct thread_arg {
	struct fixture *f;
	int n;
	uint32_t uids[50];
};

static void *deliver_thread(void *p)
{
	struct thread_arg *a = p;
	for (int i = 0; i < a->n; i++) {
		struct store_draft *d;
		store_draft_begin(a->f->u, &d, NULL);
		store_draft_write(d, msg(i), strlen(msg(i)), NULL);
		store_draft_finish(d, NULL);
		struct store_append item = { .draft = d, .mailbox = "INBOX" };
		if (store_deliver(a->f->u, &item, NULL) == STORE_OK)
			a->uids[i] = item.uid;
	}
	return NULL;
}

static void test_group_commit(void **state)
{
	struct fixture *f = *state;
	pthread_t t[8];
	struct thread_arg args[8];
	for (int i = 0; i < 8; i++) {
		args[i] = (struct thread_arg){ .f = f, .n = 50 };
		pthread_create(&t[i], NULL, deliver_thread, &args[i]);
	}
	for (int i = 0; i < 8; i++)
		pthread_join(t[i], NULL);
	/* 400 messages, 400 distinct UIDs 1..400. */
	bool seen[401] = { false };
	for (int i = 0; i < 8; i++)
		for (int j = 0; j < 50; j++) {
			uint32_t uid = args[i].uids[j];
			assert_true(uid >= 1 && uid <= 400 && !seen[uid]);
			seen[uid] = true;
		}
	struct store_mailbox_info info;
	store_mailbox_status(f->u, "INBOX", &info, NULL);
	assert_int_equal(info.messages, 400);
	assert_int_equal(info.uidnext, 401);
}

static uint32_t inbox_pending(struct fixture *f)
{
	struct mailbox_rec rec;
	MDB_txn *txn;
	assert_int_equal(user_txn_begin(f->u, false, &txn, NULL), STORE_OK);
	assert_int_equal(user_get_mailbox(f->u, txn, "INBOX", &rec), STORE_OK);
	user_txn_abort(f->u, txn);
	return rec.pending;
}

/* Deliveries leave the word-index merge they make due to the background
   thread: while the thread is held up (by a purge waiting for the purge
   lock, which the test holds), the delivery that crosses MERGE_BATCH
   pending lists returns with nothing merged; once the thread runs, the
   lists are merged. */
static void test_deliver_merges_in_background(void **state)
{
	struct fixture *f = *state;
	char *lock_path = xasprintf("%s/purge.lock", f->u->index_dir);
	int lock_fd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0640);
	free(lock_path);
	assert_true(lock_fd >= 0);
	assert_int_equal(flock(lock_fd, LOCK_EX), 0);
	background_queue(f->u, BACKGROUND_PURGE, NULL);

	struct thread_arg args = { .f = f, .n = 1 };
	for (int i = 0; i < MERGE_BATCH + 1; i++)
		deliver_thread(&args);
	uint32_t pending = inbox_pending(f);
	close(lock_fd); /* the purge goes on, then the merge */
	assert_int_equal(pending, MERGE_BATCH + 1); /* nobody merged in line */
	background_wait(f->store);
	assert_true(inbox_pending(f) < MERGE_BATCH);
	struct store_mailbox_info info;
	assert_int_equal(store_mailbox_status(f->u, "INBOX", &info, NULL), STORE_OK);
	assert_int_equal(info.messages, MERGE_BATCH + 1);
}

/* --------------------------------------------------------------- recovery */

static void test_rebuild_keeps_everything(void **state)
{
	struct fixture *f = *state;
	const char *kw[] = { "$Forwarded" };
	append(f, "INBOX", msg(1), STORE_FLAG_SEEN | STORE_FLAG_ANSWERED, kw, 1, 1500000000);
	append(f, "INBOX", msg(2), 0, NULL, 0, 0);
	append(f, "INBOX", msg(3), STORE_FLAG_FLAGGED, NULL, 0, 0);
	char *error = NULL;
	store_mailbox_create(f->u, "Lists/petrel.dev", 0, &error);
	append(f, "Lists/petrel.dev", msg(4), 0, NULL, 0, 0);
	store_mailbox_subscribe(f->u, "Lists/petrel.dev", true, &error);
	struct store_view *v;
	struct store_view_status st;
	store_view_open(f->u, "INBOX", 0, &v, &st, NULL);
	uint32_t two = 2;
	store_view_set_flags(v, &two, 1, STORE_FLAGS_ADD, STORE_FLAG_DELETED, NULL, NULL);
	store_view_expunge(v, NULL, 0, NULL); /* UID 2 is gone for good */
	store_view_close(&v);
	struct store_mailbox_info before, after;
	store_mailbox_status(f->u, "INBOX", &before, NULL);

	/* Lose the index entirely. */
	store_user_close(&f->u);
	char *index = xasprintf("%s/users/%s/index", f->data, USER);
	rm_rf(index);
	free(index);
	reopen(f);

	store_mailbox_status(f->u, "INBOX", &after, NULL);
	assert_int_equal(after.uidvalidity, before.uidvalidity);
	assert_int_equal(after.uidnext, before.uidnext);
	assert_int_equal(after.messages, 2);
	store_view_open(f->u, "INBOX", 0, &v, &st, NULL);
	assert_int_equal(store_view_uid(v, 1), 1);
	assert_int_equal(store_view_uid(v, 2), 3);
	struct store_reader *r;
	store_reader_begin(v, &r, NULL);
	struct store_msg m;
	store_reader_get(r, 1, STORE_FETCH_FLAGS, &m);
	assert_int_equal(m.flags, STORE_FLAG_SEEN | STORE_FLAG_ANSWERED);
	assert_int_equal(m.internaldate, 1500000000);
	assert_int_equal(__builtin_popcountll(m.keywords), 1);
	assert_string_equal(store_keyword_name(v, (unsigned int)__builtin_ctzll(m.keywords)),
			    "$Forwarded");
	store_reader_get(r, 3, STORE_FETCH_FLAGS, &m);
	assert_int_equal(m.flags, STORE_FLAG_FLAGGED);
	store_reader_end(&r);
	store_view_close(&v);
	/* Folders, subscriptions, quota usage. */
	assert_int_equal(store_mailbox_status(f->u, "Lists/petrel.dev", &after, NULL), STORE_OK);
	assert_int_equal(after.messages, 1);
	assert_true(after.subscribed);
	struct store_quota q;
	store_quota_get(f->u, &q);
	assert_int_equal(q.used_messages, 3);
	/* Search works on the rebuilt index. */
	uint32_t res[8];
	struct store_search k = { .kind = STORE_SEARCH_BODY, .text = "giraffe" };
	assert_int_equal(search(f, &k, res), 2);
	/* And new mail continues above the old UIDs. */
	assert_int_equal(append(f, "INBOX", msg(9), 0, NULL, 0, 0), before.uidnext);
}

static void test_damaged_index_is_replaced(void **state)
{
	struct fixture *f = *state;
	append(f, "INBOX", msg(1), 0, NULL, 0, 0);
	store_user_close(&f->u);
	char *data = xasprintf("%s/users/%s/index/data.mdb", f->data, USER);
	FILE *fp = fopen(data, "w");
	fputs("garbage, not an LMDB file", fp);
	fclose(fp);
	free(data);
	reopen(f);
	struct store_mailbox_info info;
	assert_int_equal(store_mailbox_status(f->u, "INBOX", &info, NULL), STORE_OK);
	assert_int_equal(info.messages, 1);
}

static void test_other_schema_is_rebuilt(void **state)
{
	struct fixture *f = *state;
	append(f, "INBOX", msg(1), STORE_FLAG_SEEN, NULL, 0, 0);
	MDB_txn *txn;
	assert_int_equal(user_txn_begin(f->u, true, &txn, NULL), STORE_OK);
	assert_int_equal(user_meta_put_u64(f->u, txn, "schema", STORE_SCHEMA_VERSION + 41), STORE_OK);
	assert_int_equal(user_txn_commit(f->u, txn, NULL), STORE_OK);
	reopen(f);
	struct store_check_report rep;
	assert_int_equal(store_check(f->store, USER, &rep, NULL, NULL, NULL), STORE_OK);
	assert_true(rep.index_rebuilt);
	struct store_mailbox_info info;
	store_mailbox_status(f->u, "INBOX", &info, NULL);
	assert_int_equal(info.messages, 1);
	assert_int_equal(info.unseen, 0);
}

static void check_log(const char *line, void *ctx)
{
	(*(int *)ctx)++;
}

static void test_check_both_ways(void **state)
{
	struct fixture *f = *state;
	append(f, "INBOX", msg(1), 0, NULL, 0, 0);
	append(f, "INBOX", msg(2), 0, NULL, 0, 0);
	char *cur = xasprintf("%s/users/%s/Maildir/cur", f->data, USER);
	/* Lose one file... */
	DIR *d = opendir(cur);
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		if (strstr(de->d_name, ",U=1:") != NULL) {
			char *p = xasprintf("%s/%s", cur, de->d_name);
			unlink(p);
			free(p);
		}
	}
	closedir(d);
	/* ...gain one another tool wrote (bare LFs, no size or UID)... */
	char *foreign = xasprintf("%s/1234.foreign.host:2,S", cur);
	FILE *fp = fopen(foreign, "w");
	fputs("Subject: from elsewhere\n\nhello\n", fp);
	fclose(fp);
	/* ...and one a crash left behind: our name, a UID never committed. */
	char *orphan = xasprintf("%s/1235.M1P1Q1.host,S=8,W=8,U=3:2,", cur);
	fp = fopen(orphan, "w");
	fputs("A: b\r\n\r\n", fp);
	fclose(fp);
	int lines = 0;
	struct store_check_report rep;
	char *error = NULL;
	assert_int_equal(store_check(f->store, USER, &rep, check_log, &lines, &error), STORE_OK);
	assert_int_equal(rep.records_expunged, 1);
	assert_int_equal(rep.files_indexed, 2);
	assert_true(lines >= 3);
	struct store_mailbox_info info;
	store_mailbox_status(f->u, "INBOX", &info, NULL);
	assert_int_equal(info.messages, 3);
	/* The imported file was rewritten with CRLF under our name; the
	   orphan kept its UID. */
	struct store_view *v;
	struct store_view_status st;
	store_view_open(f->u, "INBOX", 0, &v, &st, NULL);
	assert_int_equal(store_view_uid(v, 1), 2);
	assert_int_equal(store_view_uid(v, 2), 3);
	char *text = read_message(v, store_view_uid(v, 3));
	assert_string_equal(text, "Subject: from elsewhere\r\n\r\nhello\r\n");
	free(text);
	struct store_reader *r;
	store_reader_begin(v, &r, NULL);
	struct store_msg m;
	store_reader_get(r, store_view_uid(v, 3), STORE_FETCH_FLAGS, &m);
	assert_int_equal(m.flags, STORE_FLAG_SEEN);
	store_reader_end(&r);
	store_view_close(&v);
	/* A second check finds nothing to do. */
	assert_int_equal(store_check(f->store, USER, &rep, NULL, NULL, &error), STORE_OK);
	assert_int_equal(rep.records_expunged + rep.files_indexed + rep.uids_reassigned +
				 rep.files_renamed + rep.mailboxes_found,
			 0);
	free(cur);
	free(foreign);
	free(orphan);
}

static void test_new_dir_pickup(void **state)
{
	struct fixture *f = *state;
	char *path = xasprintf("%s/users/%s/Maildir/.Junk/new/99.dropped.host", f->data, USER);
	FILE *fp = fopen(path, "w");
	fputs("Subject: dropped\n\nspam\n", fp);
	fclose(fp);
	struct store_view *v;
	struct store_view_status st;
	assert_int_equal(store_view_open(f->u, "Junk", 0, &v, &st, NULL), STORE_OK);
	assert_int_equal(st.messages, 1);
	assert_int_equal(access(path, F_OK), -1);
	/* And while open: the next sync picks up another. */
	fp = fopen(path, "w");
	fputs("Subject: dropped again\n\nspam\n", fp);
	fclose(fp);
	struct events e = { "" };
	store_view_sync(v, true, &events_cb, &e, NULL);
	assert_string_equal(e.log, "E2 ");
	store_view_close(&v);
	free(path);
}

/* ------------------------------------------------------------ words */

static void collect(struct span w, void *ctx)
{
	struct buf *out = ctx;
	buf_append(out, w.ptr, w.len);
	buf_append_byte(out, '|');
}

static void test_words_unique(void **state)
{
	(void)state;
	struct buf folded = BUF_INIT, out = BUF_INIT;
	words_fold(span_cstr("Hello, WORLD! hello again; World\xc3\x89T\xc3\xa9 42 x"), &folded);
	assert_string_equal((char *)folded.data, "hello, world! hello again; world\xc3\xa9t\xc3\xa9 42 x");
	/* Distinct words, in order of first occurrence. */
	words_each_unique(buf_span(&folded), false, collect, &out);
	assert_string_equal((char *)out.data, "hello|world|again|world\xc3\xa9t\xc3\xa9|42|x|");

	/* Thousands of distinct words: the set grows and keeps every one. */
	buf_clear(&folded);
	buf_clear(&out);
	for (int i = 0; i < 5000; i++)
		buf_printf(&folded, "w%d w%d ", i, i / 2);
	words_each_unique(buf_span(&folded), false, collect, &out);
	size_t bars = 0;
	for (size_t i = 0; i < out.len; i++)
		bars += out.data[i] == '|';
	assert_int_equal(bars, 5000);
	assert_memory_equal(out.data, "w0|w1|w2|w3|", 12);

	/* A run longer than MAX_WORD_LEN: overlapping pieces, each at most
	   MAX_WORD_LEN bytes, covering the run. */
	buf_clear(&folded);
	buf_clear(&out);
	for (int i = 0; i < 100; i++)
		buf_append_byte(&folded, (uint8_t)('a' + i % 26));
	words_each_unique(buf_span(&folded), false, collect, &out);
	const char *second = strchr((char *)out.data, '|') + 1;
	assert_int_equal(second - (char *)out.data - 1, MAX_WORD_LEN);
	assert_memory_equal(second, folded.data + MAX_WORD_LEN / 2, MAX_WORD_LEN);
	const char *third = second + MAX_WORD_LEN + 1;
	assert_memory_equal(third, folded.data + MAX_WORD_LEN, 100 - MAX_WORD_LEN);
	assert_string_equal(third + 100 - MAX_WORD_LEN, "|");
	buf_free(&folded);
	buf_free(&out);
}

/* The words of already folded text the plain way, one byte at a time:
   runs of word bytes, long ones as overlapping pieces, each word once, in
   order of first occurrence ('|' after each). */
static void reference_words(struct span folded, struct buf *out)
{
	struct buf seen = BUF_INIT; /* "|word|word|...|" for lookups */
	buf_append_byte(&seen, '|');
	for (size_t i = 0; i < folded.len;) {
		if (!words_is_word_byte(folded.ptr[i])) {
			i++;
			continue;
		}
		size_t start = i;
		while (i < folded.len && words_is_word_byte(folded.ptr[i]))
			i++;
		size_t len = i - start;
		for (size_t off = 0;; off += MAX_WORD_LEN / 2) {
			size_t n = len - off > MAX_WORD_LEN ? MAX_WORD_LEN : len - off;
			char key[MAX_WORD_LEN + 3];
			key[0] = '|';
			memcpy(key + 1, folded.ptr + start + off, n);
			key[n + 1] = '|';
			key[n + 2] = '\0';
			if (strstr((char *)seen.data, key) == NULL) {
				buf_append(&seen, key + 1, n + 1);
				buf_append(out, key + 1, n + 1);
			}
			if (off + n >= len)
				break;
		}
	}
	buf_free(&seen);
}

/* The word finder reads whole 8-byte chunks and 64-byte blocks: random
   texts of every length, words of every length across every boundary,
   non-ASCII and invalid bytes and long runs give the same words as the
   plain way, and (in buffers of exactly the text's size) ASan sees no
   read past the end. */
static void test_words_match_reference(void **state)
{
	(void)state;
	static const char *const pieces[] = {
		" ", ".", "\r\n", "-", "a", "Q", "z", "0", "9", "word", "WORD", "Mixed",
		"\xc3\xa9", "\xc3\x89", "\xe2\x84\xaa" /* KELVIN SIGN, folds to "k" */, "\xff",
		"\x80", "\xe2\x80\x94" /* an em dash: a word byte, not a letter */,
	};
	unsigned seed = 12345;
	for (int round = 0; round < 3000; round++) {
		struct buf text = BUF_INIT;
		size_t want = (size_t)(rand_r(&seed) % 700);
		while (text.len < want) {
			unsigned r = (unsigned)rand_r(&seed) % 100;
			if (r < 8) { /* a run of one letter, of any length up to 140 */
				size_t n = (size_t)(rand_r(&seed) % 141);
				for (size_t i = 0; i < n; i++)
					buf_append_byte(&text, (uint8_t)('A' + (i * 7 + n) % 26 + (r & 1) * 32));
			} else if (r < 30) { /* a word of 1-20 letters and digits */
				size_t n = 1 + (size_t)(rand_r(&seed) % 20);
				for (size_t i = 0; i < n; i++)
					buf_append_byte(&text, (uint8_t)"aBcDeFgHiJ0123xyzXYZ"[rand_r(&seed) % 20]);
			} else {
				buf_append_str(&text, pieces[(size_t)rand_r(&seed) %
							     (sizeof(pieces) / sizeof(pieces[0]))]);
			}
		}
		/* Exactly text.len bytes on the heap. */
		uint8_t *exact = xmalloc(text.len ? text.len : 1);
		if (text.len > 0)
			memcpy(exact, text.data, text.len);
		struct span raw = span_make(exact, text.len);

		for (int fold = 0; fold <= 1; fold++) {
			struct buf folded = BUF_INIT, want_words = BUF_INIT, got = BUF_INIT;
			if (fold) {
				words_fold(raw, &folded);
			} else {
				for (size_t i = 0; i < raw.len; i++) {
					uint8_t c = raw.ptr[i];
					buf_append_byte(&folded, (uint8_t)(c - 'A') < 26 ? (uint8_t)(c + 32) : c);
				}
			}
			reference_words(buf_span(&folded), &want_words);
			words_each_unique(raw, fold, collect, &got);
			if (want_words.len != got.len ||
			    (got.len > 0 && memcmp(want_words.data, got.data, got.len) != 0))
				fail_msg("round %d fold %d: text \"%s\"\nwant \"%s\"\ngot  \"%s\"", round, fold,
					 (char *)text.data, want_words.len ? (char *)want_words.data : "",
					 got.len ? (char *)got.data : "");
			buf_free(&folded);
			buf_free(&want_words);
			buf_free(&got);
		}
		free(exact);
		buf_free(&text);
	}
}

/* Word lists made while folding (delivery) equal those of the folded text
   (check, copy): header and body folded apart, as both do. */
static void assert_lists_as_folded(struct span text, size_t header_len)
{
	struct buf folded = BUF_INIT, want = BUF_INIT, got = BUF_INIT;
	words_fold(span_make(text.ptr, header_len), &folded);
	size_t folded_header_len = folded.len;
	words_fold(span_make(text.ptr + header_len, text.len - header_len), &folded);
	msgtext_word_lists(buf_span(&folded), folded_header_len, true, &want);
	msgtext_word_lists(text, header_len, false, &got);
	assert_int_equal(got.len, want.len);
	assert_memory_equal(got.data, want.data, want.len);
	buf_free(&folded);
	buf_free(&want);
	buf_free(&got);
}

static void test_words_fold_while_scanning(void **state)
{
	(void)state;
	const char *header = "Subject: Hello WORLD Caf\xc3\x89\nReceived: from Mx.Example\n"
			     "From: A <a@B.test>\nX-Microsoft-Junk: Zzz\n";
	const char *bodies[] = {
		"Hello, WORLD! hello again; World\xc3\x89T\xc3\xa9 42 x",
		/* İ and the Kelvin sign fold to ASCII letters, ẞ to ß (shorter),
		   Ⱥ to ⱥ (longer), inside and between words. */
		"\xc4\xb0stanbul \xe2\x84\xaa" "elvin A\xe1\xba\x9e\xc8\xba.B \xc8\xba\xc8\xba",
		/* Invalid UTF-8: U+FFFD, a word character. */
		"\xff\xfe abc\xe2\x28\xa1" "def \xc3",
		"...,,;; --",
		"",
	};
	for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
		char *text = xasprintf("%s%s", header, bodies[i]);
		assert_lists_as_folded(span_cstr(text), strlen(header));
		assert_lists_as_folded(span_cstr(text), 0);
		free(text);
	}
	/* Long runs (pieces) and a pseudo-random mix of the above. */
	static const char *const parts[] = {
		"a", "Z", "q", "7", " ", "\n", ".", "-", "\xc3\x89", "\xc3\xa9", "\xc4\xb0",
		"\xe2\x84\xaa", "\xe1\xba\x9e", "\xc8\xba", "\xff", "\xe2\x28", "\xf0\x9f\x98\x80",
	};
	struct buf text = BUF_INIT;
	for (int i = 0; i < 300; i++)
		buf_append_str(&text, i % 3 ? "Ab" : "\xc8\xba");
	uint32_t x = 12345;
	for (int i = 0; i < 20000; i++) {
		x = x * 1103515245u + 12345u;
		unsigned r = (x >> 16) % 40;
		buf_append_str(&text, parts[r < 17 ? r : r % 5]);
	}
	assert_lists_as_folded(buf_span(&text), 0);
	assert_lists_as_folded(buf_span(&text), 5000);
	buf_free(&text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_default_folders, setup, teardown),
		cmocka_unit_test_setup_teardown(test_drafts_unnamed_and_named, setup, teardown),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_words_unique),
		cmocka_unit_test(test_words_match_reference),
		cmocka_unit_test(test_words_fold_while_scanning),
		cmocka_unit_test_setup_teardown(test_merge_postings, setup, teardown),
		cmocka_unit_test_setup_teardown(test_create_rename_delete, setup, teardown),
		cmocka_unit_test_setup_teardown(test_recreate_changes_uidvalidity, setup, teardown),
		cmocka_unit_test_setup_teardown(test_subscriptions, setup, teardown),
		cmocka_unit_test_setup_teardown(test_append_stores_crlf, setup, teardown),
		cmocka_unit_test_setup_teardown(test_uids_never_reused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_append_to_missing_mailbox_and_quota, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_view_sync, setup, teardown),
		cmocka_unit_test_setup_teardown(test_view_compact, setup, teardown),
		cmocka_unit_test_setup_teardown(test_view_gone_and_readonly, setup, teardown),
		cmocka_unit_test_setup_teardown(test_recent, setup, teardown),
		cmocka_unit_test_setup_teardown(test_flags_and_file_names, setup, teardown),
		cmocka_unit_test_setup_teardown(test_copy_move, setup, teardown),
		cmocka_unit_test_setup_teardown(test_search, setup, teardown),
		cmocka_unit_test_setup_teardown(test_search_subject, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_after_new_keyword_letter, setup, teardown),
		cmocka_unit_test_setup_teardown(test_notifications, setup, teardown),
		cmocka_unit_test_setup_teardown(test_group_commit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_deliver_merges_in_background, setup, teardown),
		cmocka_unit_test_setup_teardown(test_uid_lists_follow_every_change, setup, teardown),
		cmocka_unit_test_setup_teardown(test_header_of_bare_and_gone_messages, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rebuild_keeps_everything, setup, teardown),
		cmocka_unit_test_setup_teardown(test_damaged_index_is_replaced, setup, teardown),
		cmocka_unit_test_setup_teardown(test_other_schema_is_rebuilt, setup, teardown),
		cmocka_unit_test_setup_teardown(test_check_both_ways, setup, teardown),
		cmocka_unit_test_setup_teardown(test_new_dir_pickup, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
