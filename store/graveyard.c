/*
 * The files of expunged messages, removed after the commit that expunged
 * them.
 *
 * Unlinking is the slow part of an expunge: ext4 spends most of it
 * evicting the inode (dropping the file's cached pages, freeing its
 * blocks), about 25 us a file, so a POP3 QUIT that deletes 2,000 messages
 * spent 50-60 ms on it, and it did so inside the write transaction, where
 * every delivery to the user waited. Now an expunge of at least
 * GRAVEYARD_MIN_FILES files records each in the `graveyard` database (key:
 * mailbox id and UID, value: the file's path under the Maildir) instead
 * of unlinking it, and the files go after the commit: on a background
 * thread of the process, so the client has its
 * answer first (background.c). (A smaller expunge unlinks in its
 * transaction, flags.c.)
 *
 * An entry leaves the graveyard only once its file is unlinked and the
 * directory fsynced. So whatever stops the purge (the process exits or is
 * killed, the machine crashes), the entries are still there and the next
 * purge finishes the work: every open of the user purges, and `check`
 * does before it looks at files, and removes instead of indexing any file
 * it finds in the graveyard. An expunged message never comes back - unless
 * the index itself is lost and rebuilt from the Maildir in the moment
 * between a commit and its purge.
 *
 * One purge at a time per user, across processes: a lock file in the
 * index directory.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "common/xalloc.h"
#include "store/internal.h"

#define PURGE_BATCH 4096 /* entries per round: one read, unlinks, one commit */

struct grave_key {
	uint32_t mailbox_be;
	uint32_t uid_be;
};

static struct grave_key grave_key(uint32_t mailbox, uint32_t uid)
{
	return (struct grave_key){ __builtin_bswap32(mailbox), __builtin_bswap32(uid) };
}

int graveyard_add(struct store_user *u, MDB_txn *txn, uint32_t mailbox, uint32_t uid,
		  const char *path)
{
	/* Kept relative to the Maildir, so a data directory that moves
	   still finds its files. */
	size_t len = strlen(u->maildir);
	if (strncmp(path, u->maildir, len) == 0 && path[len] == '/')
		path += len + 1;
	struct grave_key key = grave_key(mailbox, uid);
	MDB_val k = mdb_val(&key, sizeof(key)), v = mdb_val(path, strlen(path));
	return user_rc(mdb_put(txn, u->graveyard, &k, &v, 0), "graveyard", NULL);
}

bool graveyard_holds(struct store_user *u, MDB_txn *txn, uint32_t mailbox, uint32_t uid)
{
	struct grave_key key = grave_key(mailbox, uid);
	MDB_val k = mdb_val(&key, sizeof(key)), v;
	return mdb_get(txn, u->graveyard, &k, &v) == 0;
}

bool graveyard_pending(struct store_user *u)
{
	MDB_txn *txn;
	if (user_txn_begin(u, false, &txn, NULL) < 0)
		return false;
	MDB_stat st;
	bool any = mdb_stat(txn, u->graveyard, &st) == 0 && st.ms_entries > 0;
	user_txn_abort(u, txn);
	return any;
}

struct grave {
	struct grave_key key;
	char *path; /* absolute */
};

/* Up to PURGE_BATCH entries, from a read transaction. */
static int read_graves(struct store_user *u, struct grave **graves_r, size_t *count_r,
		       char **error_r)
{
	*graves_r = NULL;
	*count_r = 0;
	MDB_txn *txn;
	int ret = user_txn_begin(u, false, &txn, error_r);
	if (ret < 0)
		return ret;
	MDB_cursor *cur;
	int rc = mdb_cursor_open(txn, u->graveyard, &cur);
	if (rc != 0) {
		user_txn_abort(u, txn);
		return user_rc(rc, "graveyard", error_r);
	}
	struct grave *graves = NULL;
	size_t count = 0;
	MDB_val k, v;
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0 && count < PURGE_BATCH;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		if (k.mv_size != sizeof(struct grave_key))
			continue;
		graves = xreallocarray(graves, count + 1, sizeof(*graves));
		memcpy(&graves[count].key, k.mv_data, sizeof(struct grave_key));
		graves[count].path = xasprintf("%s/%.*s", u->maildir, (int)v.mv_size,
					       (const char *)v.mv_data);
		count++;
	}
	mdb_cursor_close(cur);
	user_txn_abort(u, txn);
	*graves_r = graves;
	*count_r = count;
	return STORE_OK;
}

/* Unlinks the files, then makes that durable: fsync of each directory.
   A path is "<folder>/cur/<name>"; anything else is not ours to remove. */
static int bury(struct grave *graves, size_t count, char **error_r)
{
	char **dirs = NULL;
	size_t dir_count = 0;
	for (size_t i = 0; i < count; i++) {
		const char *path = graves[i].path, *slash = strrchr(path, '/');
		size_t dir_len = (size_t)(slash - path);
		if (dir_len < 4 || (memcmp(slash - 4, "/cur", 4) != 0 &&
				    memcmp(slash - 4, "/new", 4) != 0))
			continue;
		/* ENOENT: gone already (an earlier purge, or a crash after its
		   unlink); msgfile_unlink looked for it under another name. */
		char *folder = xstrndup(path, dir_len - 4);
		msgfile_unlink(folder, path);
		free(folder);
		bool known = false;
		for (size_t j = 0; j < dir_count && !known; j++)
			known = strlen(dirs[j]) == dir_len && memcmp(dirs[j], path, dir_len) == 0;
		if (!known) {
			dirs = xreallocarray(dirs, dir_count + 1, sizeof(*dirs));
			dirs[dir_count++] = xstrndup(path, dir_len);
		}
	}
	int ret = STORE_OK;
	for (size_t j = 0; j < dir_count; j++) {
		if (ret == STORE_OK && fsync_dir(dirs[j]) < 0 && errno != ENOENT)
			ret = store_sys_error("cannot fsync", dirs[j], error_r);
		free(dirs[j]);
	}
	free(dirs);
	return ret;
}

struct graves {
	const struct grave *list;
	size_t count;
};

static int forget(struct store_user *u, MDB_txn *txn, void *ctx, char **error_r)
{
	const struct graves *g = ctx;
	for (size_t i = 0; i < g->count; i++) {
		MDB_val k = mdb_val(&g->list[i].key, sizeof(g->list[i].key));
		int rc = mdb_del(txn, u->graveyard, &k, NULL);
		if (rc != 0 && rc != MDB_NOTFOUND)
			return user_rc(rc, "graveyard", error_r);
	}
	return STORE_OK;
}

int graveyard_purge(struct store_user *u, char **error_r)
{
	char *lock_path = xasprintf("%s/purge.lock", u->index_dir);
	int lock_fd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0640);
	free(lock_path);
	if (lock_fd >= 0)
		while (flock(lock_fd, LOCK_EX) < 0 && errno == EINTR)
			;
	int ret;
	for (;;) {
		struct grave *graves;
		size_t count;
		ret = read_graves(u, &graves, &count, error_r);
		if (ret == STORE_OK && count > 0)
			ret = bury(graves, count, error_r);
		if (ret == STORE_OK && count > 0)
			ret = user_write(u, forget, &(struct graves){ graves, count }, error_r);
		for (size_t i = 0; i < count; i++)
			free(graves[i].path);
		free(graves);
		if (ret != STORE_OK || count < PURGE_BATCH)
			break;
	}
	if (lock_fd >= 0)
		close(lock_fd); /* releases the lock */
	return ret;
}
