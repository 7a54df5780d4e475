/*
 * A user's mail: opening its index environment (reference counted per
 * process), transactions, and the small records every operation needs:
 * meta values, mailbox records, keywords, subscriptions.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/xalloc.h"
#include "store/internal.h"

#define MAX_READERS 512

/* ---------------------------------------------------------- transactions */

int user_rc(int rc, const char *what, char **error_r)
{
	if (rc == 0)
		return STORE_OK;
	if (rc == MDB_MAP_FULL)
		return STORE_RETRY;
	if (rc == MDB_NOTFOUND)
		return STORE_ERR_NOT_FOUND;
	return store_mdb_error(rc, what, error_r);
}

int user_txn_begin(struct store_user *u, bool write, MDB_txn **txn_r, char **error_r)
{
	for (;;) {
		pthread_rwlock_rdlock(&u->env_lock);
		int rc = mdb_txn_begin(u->env, NULL, write ? 0 : MDB_RDONLY, txn_r);
		if (rc == 0)
			return STORE_OK; /* the lock is held until commit/abort */
		pthread_rwlock_unlock(&u->env_lock);
		if (rc != MDB_MAP_RESIZED)
			return store_mdb_error(rc, u->index_dir, error_r);
		/* Another process grew the map: adopt its size. */
		pthread_rwlock_wrlock(&u->env_lock);
		rc = mdb_env_set_mapsize(u->env, 0);
		pthread_rwlock_unlock(&u->env_lock);
		if (rc != 0)
			return store_mdb_error(rc, u->index_dir, error_r);
	}
}

int user_txn_commit(struct store_user *u, MDB_txn *txn, char **error_r)
{
	int rc = mdb_txn_commit(txn);
	pthread_rwlock_unlock(&u->env_lock);
	if (rc == MDB_MAP_FULL)
		return STORE_RETRY;
	return rc == 0 ? STORE_OK : store_mdb_error(rc, "index commit", error_r);
}

void user_txn_abort(struct store_user *u, MDB_txn *txn)
{
	mdb_txn_abort(txn);
	pthread_rwlock_unlock(&u->env_lock);
}

int user_grow_map(struct store_user *u, char **error_r)
{
	pthread_rwlock_wrlock(&u->env_lock);
	MDB_envinfo info;
	int rc = mdb_env_info(u->env, &info);
	if (rc == 0)
		rc = mdb_env_set_mapsize(u->env, info.me_mapsize * 2);
	pthread_rwlock_unlock(&u->env_lock);
	return rc == 0 ? STORE_OK : store_mdb_error(rc, "growing the index map", error_r);
}

int user_write(struct store_user *u, user_write_fn *fn, void *ctx, char **error_r)
{
	for (;;) {
		MDB_txn *txn;
		int ret = user_txn_begin(u, true, &txn, error_r);
		if (ret < 0)
			return ret;
		ret = fn(u, txn, ctx, error_r);
		if (ret == STORE_OK)
			ret = user_txn_commit(u, txn, error_r);
		else
			user_txn_abort(u, txn);
		if (ret != STORE_RETRY)
			return ret;
		if ((ret = user_grow_map(u, error_r)) < 0)
			return ret;
	}
}

/* ------------------------------------------------------------------ meta */

int user_meta_get_u64(struct store_user *u, MDB_txn *txn, const char *key, uint64_t *value_r)
{
	MDB_val k = mdb_val(key, strlen(key)), v;
	int rc = mdb_get(txn, u->meta, &k, &v);
	if (rc == MDB_NOTFOUND) {
		*value_r = 0;
		return STORE_ERR_NOT_FOUND;
	}
	if (rc != 0 || v.mv_size != sizeof(uint64_t))
		return STORE_ERR_IO;
	memcpy(value_r, v.mv_data, sizeof(uint64_t));
	return STORE_OK;
}

int user_meta_put_u64(struct store_user *u, MDB_txn *txn, const char *key, uint64_t value)
{
	MDB_val k = mdb_val(key, strlen(key)), v = mdb_val(&value, sizeof(value));
	return user_rc(mdb_put(txn, u->meta, &k, &v, 0), "meta", NULL);
}

int user_next_uidvalidity(struct store_user *u, MDB_txn *txn, uint32_t *uidvalidity_r)
{
	uint64_t last = 0;
	user_meta_get_u64(u, txn, "last_uidvalidity", &last);
	uint64_t now = (uint64_t)time(NULL);
	uint64_t next = now > last ? now : last + 1;
	if (next > UINT32_MAX)
		next = last + 1 <= UINT32_MAX ? last + 1 : 1;
	*uidvalidity_r = (uint32_t)next;
	return user_meta_put_u64(u, txn, "last_uidvalidity", next);
}

/* -------------------------------------------------------------- mailboxes */

int user_get_mailbox(struct store_user *u, MDB_txn *txn, const char *canonical,
		     struct mailbox_rec *rec_r)
{
	MDB_val k = mdb_val(canonical, strlen(canonical)), v;
	int rc = mdb_get(txn, u->mailboxes, &k, &v);
	if (rc == MDB_NOTFOUND)
		return STORE_ERR_NOT_FOUND;
	if (rc != 0 || v.mv_size != sizeof(*rec_r))
		return STORE_ERR_IO;
	memcpy(rec_r, v.mv_data, sizeof(*rec_r));
	return STORE_OK;
}

int user_put_mailbox(struct store_user *u, MDB_txn *txn, const char *canonical,
		     const struct mailbox_rec *rec)
{
	MDB_val k = mdb_val(canonical, strlen(canonical)), v = mdb_val(rec, sizeof(*rec));
	int ret = user_rc(mdb_put(txn, u->mailboxes, &k, &v, 0), "mailbox", NULL);
	if (ret < 0)
		return ret;
	uint32_t id_be = __builtin_bswap32(rec->id);
	MDB_val ik = mdb_val(&id_be, sizeof(id_be)), iv = mdb_val(canonical, strlen(canonical));
	return user_rc(mdb_put(txn, u->mailbox_ids, &ik, &iv, 0), "mailbox id", NULL);
}

static int mkdir_folder(const char *path)
{
	char *sub[3] = { xasprintf("%s/cur", path), xasprintf("%s/new", path),
			 xasprintf("%s/tmp", path) };
	int ret = STORE_OK;
	if (mkdir(path, 0750) < 0 && errno != EEXIST)
		ret = STORE_ERR_IO;
	for (int i = 0; i < 3; i++) {
		if (ret == STORE_OK && mkdir(sub[i], 0750) < 0 && errno != EEXIST)
			ret = STORE_ERR_IO;
		free(sub[i]);
	}
	return ret;
}

int user_create_mailbox(struct store_user *u, MDB_txn *txn, const char *canonical,
			unsigned int special_use, uint32_t uidvalidity, struct mailbox_rec *rec_r,
			char **error_r)
{
	struct mailbox_rec rec = { 0 };
	if (user_get_mailbox(u, txn, canonical, &rec) == STORE_OK)
		return store_fail(STORE_ERR_EXISTS, error_r, "mailbox %s already exists", canonical);
	uint64_t next_id = 0;
	user_meta_get_u64(u, txn, "next_mailbox_id", &next_id);
	if (next_id == 0)
		next_id = 1;
	int ret = user_meta_put_u64(u, txn, "next_mailbox_id", next_id + 1);
	if (ret < 0)
		return ret;
	if (uidvalidity == 0 && (ret = user_next_uidvalidity(u, txn, &uidvalidity)) < 0)
		return ret;
	memset(&rec, 0, sizeof(rec));
	rec.id = (uint32_t)next_id;
	rec.uidvalidity = uidvalidity;
	rec.uidnext = 1;
	rec.first_recent_uid = 1;
	rec.highest_modseq = 1;
	rec.special_use = special_use;
	rec.created = (int64_t)time(NULL);
	if ((ret = user_put_mailbox(u, txn, canonical, &rec)) < 0)
		return ret;

	/* The folder and its petrel-mailbox file are durable before the
	   record commits; a crash in between leaves a folder check adopts. */
	char *path = mailbox_path(u, canonical);
	if (path == NULL)
		return store_fail(STORE_ERR_INVALID, error_r, "invalid mailbox name %s", canonical);
	struct mailbox_file mf = { .uidvalidity = uidvalidity, .uidnext_floor = 1,
				   .special_use = special_use };
	struct mailbox_file old;
	if (mailbox_file_read(path, &old) == STORE_OK && old.uidvalidity == uidvalidity) {
		/* The same mailbox coming back (a rebuild): keep its UID floor
		   and its keyword letters. */
		mf.uidnext_floor = old.uidnext_floor;
		memcpy(mf.keywords, old.keywords, sizeof(mf.keywords));
		memset(old.keywords, 0, sizeof(old.keywords));
	}
	mailbox_file_free(&old);
	int write_ret = mkdir_folder(path) < 0 || mailbox_file_write(path, &mf, true) < 0 ||
			fsync_dir(u->maildir) < 0;
	mailbox_file_free(&mf);
	if (write_ret) {
		ret = store_sys_error("cannot create mailbox folder", path, error_r);
		free(path);
		return ret;
	}
	free(path);
	if (rec_r != NULL)
		*rec_r = rec;
	return STORE_OK;
}

/* --------------------------------------------------------------- keywords */

int user_keyword_id(struct store_user *u, MDB_txn *txn, const char *name, bool create,
		    unsigned int *id_r)
{
	MDB_val k = mdb_val(name, strlen(name)), v;
	int rc = mdb_get(txn, u->keywords, &k, &v);
	if (rc == 0 && v.mv_size == sizeof(uint32_t)) {
		uint32_t id;
		memcpy(&id, v.mv_data, sizeof(id));
		*id_r = id;
		return STORE_OK;
	}
	if (rc != MDB_NOTFOUND)
		return user_rc(rc, "keywords", NULL);
	if (!create)
		return STORE_ERR_NOT_FOUND;
	MDB_stat st;
	if ((rc = mdb_stat(txn, u->keywords, &st)) != 0)
		return user_rc(rc, "keywords", NULL);
	if (st.ms_entries >= STORE_MAX_KEYWORDS)
		return STORE_ERR_LIMIT;
	uint32_t id = (uint32_t)st.ms_entries;
	v = mdb_val(&id, sizeof(id));
	int ret = user_rc(mdb_put(txn, u->keywords, &k, &v, MDB_NOOVERWRITE), "keywords", NULL);
	if (ret == STORE_OK)
		*id_r = id;
	return ret;
}

int user_keywords_mask(struct store_user *u, MDB_txn *txn, const struct store_keywords *kw,
		       bool create, uint64_t *mask_r)
{
	uint64_t mask = 0;
	for (size_t i = 0; kw != NULL && i < kw->count; i++) {
		unsigned int id;
		int ret = user_keyword_id(u, txn, kw->names[i], create, &id);
		if (ret == STORE_ERR_NOT_FOUND && !create)
			continue;
		if (ret < 0)
			return ret;
		mask |= 1ULL << id;
	}
	*mask_r = mask;
	return STORE_OK;
}

int user_keyword_names(struct store_user *u, MDB_txn *txn, char **names)
{
	memset(names, 0, STORE_MAX_KEYWORDS * sizeof(char *));
	MDB_cursor *cur;
	int rc = mdb_cursor_open(txn, u->keywords, &cur);
	if (rc != 0)
		return user_rc(rc, "keywords", NULL);
	MDB_val k, v;
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		uint32_t id;
		if (v.mv_size != sizeof(id))
			continue;
		memcpy(&id, v.mv_data, sizeof(id));
		if (id < STORE_MAX_KEYWORDS && names[id] == NULL)
			names[id] = xstrndup(k.mv_data, k.mv_size);
	}
	mdb_cursor_close(cur);
	return STORE_OK;
}

void keyword_names_free(char **names)
{
	for (int i = 0; i < STORE_MAX_KEYWORDS; i++) {
		free(names[i]);
		names[i] = NULL;
	}
}

/* ---------------------------------------------------------- subscriptions */

int user_write_subscriptions(struct store_user *u, MDB_txn *txn)
{
	struct buf text = BUF_INIT;
	MDB_cursor *cur;
	int rc = mdb_cursor_open(txn, u->subscriptions, &cur);
	if (rc != 0)
		return user_rc(rc, "subscriptions", NULL);
	MDB_val k, v;
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		buf_append(&text, k.mv_data, k.mv_size);
		buf_append_byte(&text, '\n');
	}
	mdb_cursor_close(cur);
	int ret = write_file_atomic(u->maildir, "subscriptions", buf_span(&text), false);
	buf_free(&text);
	return ret;
}

/* ----------------------------------------------------------- open, close */

static const struct {
	const char *name;
	size_t offset;
	unsigned int flags;
} databases[] = {
	{ "meta", offsetof(struct store_user, meta), 0 },
	{ "graveyard", offsetof(struct store_user, graveyard), 0 },
	{ "mailboxes", offsetof(struct store_user, mailboxes), 0 },
	{ "mailbox_ids", offsetof(struct store_user, mailbox_ids), 0 },
	{ "subscriptions", offsetof(struct store_user, subscriptions), 0 },
	{ "keywords", offsetof(struct store_user, keywords), 0 },
	{ "msgs", offsetof(struct store_user, msgs), 0 },
	{ "cache", offsetof(struct store_user, cache), 0 },
	{ "headers", offsetof(struct store_user, headers), 0 },
	{ "words", offsetof(struct store_user, words), MDB_DUPSORT | MDB_DUPFIXED | MDB_INTEGERDUP },
	{ "dict", offsetof(struct store_user, dict), 0 },
	{ "pending", offsetof(struct store_user, pending), 0 },
	/* One MODSEQ per transaction, shared by every message it changed. */
	{ "modseq", offsetof(struct store_user, modseq), MDB_DUPSORT | MDB_DUPFIXED },
	/* Per mailbox, all UIDs and the unseen ones (uidlist.c). */
	{ "uids", offsetof(struct store_user, uids), MDB_DUPSORT | MDB_DUPFIXED | MDB_INTEGERDUP },
};
#define DATABASE_COUNT (sizeof(databases) / sizeof(databases[0]))

static MDB_dbi *dbi_of(struct store_user *u, size_t i)
{
	return (MDB_dbi *)((char *)u + databases[i].offset);
}

static int open_env(struct store_user *u, char **error_r)
{
	int rc = mdb_env_create(&u->env);
	if (rc == 0)
		rc = mdb_env_set_maxdbs(u->env, DATABASE_COUNT + 2);
	if (rc == 0)
		rc = mdb_env_set_maxreaders(u->env, MAX_READERS);
	if (rc == 0)
		rc = mdb_env_set_mapsize(u->env, USER_MAP_SIZE_INITIAL);
	if (rc == 0)
		rc = mdb_env_open(u->env, u->index_dir, MDB_NOTLS | MDB_NORDAHEAD, 0640);
	if (rc != 0) {
		if (u->env != NULL)
			mdb_env_close(u->env);
		u->env = NULL;
		return store_mdb_error(rc, u->index_dir, error_r);
	}
	return STORE_OK;
}

/* Opens (creating) every database; returns the stored schema version
   (0 for a new index) in *schema_r. */
static int open_databases(struct store_user *u, uint64_t *schema_r, char **error_r)
{
	MDB_txn *txn;
	int ret = user_txn_begin(u, true, &txn, error_r);
	if (ret < 0)
		return ret;
	for (size_t i = 0; i < DATABASE_COUNT; i++) {
		int rc = mdb_dbi_open(txn, databases[i].name, MDB_CREATE | databases[i].flags,
				      dbi_of(u, i));
		if (rc != 0) {
			user_txn_abort(u, txn);
			return store_mdb_error(rc, databases[i].name, error_r);
		}
	}
	*schema_r = 0;
	user_meta_get_u64(u, txn, "schema", schema_r);
	return user_txn_commit(u, txn, error_r);
}

/* Empties every database (an index of another schema version). */
static int drop_databases(struct store_user *u, char **error_r)
{
	MDB_txn *txn;
	int ret = user_txn_begin(u, true, &txn, error_r);
	if (ret < 0)
		return ret;
	for (size_t i = 0; i < DATABASE_COUNT; i++) {
		int rc = mdb_drop(txn, *dbi_of(u, i), 0);
		if (rc != 0) {
			user_txn_abort(u, txn);
			return store_mdb_error(rc, "dropping an old index", error_r);
		}
	}
	return user_txn_commit(u, txn, error_r);
}

static void user_free(struct store_user *u)
{
	check_unmark_writer(u);
	if (u->env != NULL)
		mdb_env_close(u->env);
	pthread_rwlock_destroy(&u->env_lock);
	pthread_mutex_destroy(&u->commit_lock);
	pthread_cond_destroy(&u->commit_cond);
	pthread_mutex_destroy(&u->merge_lock);
	free(u->name);
	free(u->root);
	free(u->maildir);
	free(u->index_dir);
	free(u);
}

static int make_dirs(struct store_user *u, char **error_r)
{
	const char *dirs[] = { u->root, u->maildir, u->index_dir };
	for (size_t i = 0; i < 3; i++)
		if (mkdir(dirs[i], 0750) < 0 && errno != EEXIST)
			return store_sys_error("cannot create", dirs[i], error_r);
	char *sub[3] = { xasprintf("%s/cur", u->maildir), xasprintf("%s/new", u->maildir),
			 xasprintf("%s/tmp", u->maildir) };
	int ret = STORE_OK;
	for (int i = 0; i < 3; i++) {
		if (ret == STORE_OK && mkdir(sub[i], 0750) < 0 && errno != EEXIST)
			ret = store_sys_error("cannot create", sub[i], error_r);
		free(sub[i]);
	}
	return ret;
}

/* An index LMDB cannot open is moved aside (kept for inspection) and a new
   one is built from the Maildir. */
static int set_aside_broken_index(struct store_user *u, char **error_r)
{
	char *aside = xasprintf("%s/index.broken-%ld", u->root, (long)time(NULL));
	int ret = STORE_OK;
	if (rename(u->index_dir, aside) < 0 || mkdir(u->index_dir, 0750) < 0)
		ret = store_sys_error("cannot replace the damaged index", u->index_dir, error_r);
	free(aside);
	return ret;
}

static int open_user(struct store *s, const char *name, struct store_user **u_r, char **error_r)
{
	struct store_user *u = xcalloc(1, sizeof(*u));
	u->store = s;
	u->refs = 1;
	u->name = xstrdup(name);
	u->root = xasprintf("%s/users/%s", s->data_dir, name);
	u->maildir = xasprintf("%s/Maildir", u->root);
	u->index_dir = xasprintf("%s/index", u->root);
	pthread_rwlock_init(&u->env_lock, NULL);
	pthread_mutex_init(&u->commit_lock, NULL);
	pthread_cond_init(&u->commit_cond, NULL);
	pthread_mutex_init(&u->merge_lock, NULL);

	int ret = make_dirs(u, error_r);
	if (ret == STORE_OK && open_env(u, error_r) < 0) {
		/* A damaged index must not lock the user out of their mail. */
		free(*error_r);
		*error_r = NULL;
		ret = set_aside_broken_index(u, error_r);
		if (ret == STORE_OK)
			ret = open_env(u, error_r);
	}
	uint64_t schema = 0;
	if (ret == STORE_OK)
		ret = open_databases(u, &schema, error_r);
	/* Another schema, or a rebuild that never finished (the schema is
	   written last): start from an empty index. */
	if (ret == STORE_OK && schema != STORE_SCHEMA_VERSION)
		ret = drop_databases(u, error_r);
	if (ret == STORE_OK && schema != STORE_SCHEMA_VERSION) {
		u->rebuilt = true;
		/* New or rebuilt index. A Maildir that was never set up (no
		   petrel-mailbox at its top) belongs to a new user. */
		struct mailbox_file mf;
		bool new_user = mailbox_file_read(u->maildir, &mf) == STORE_ERR_NOT_FOUND;
		mailbox_file_free(&mf);
		ret = check_rebuild(u, new_user, error_r);
	}
	if (ret == STORE_OK)
		ret = uidlist_ensure(u, error_r);
	if (ret == STORE_OK)
		ret = check_crashed_writers(u, error_r);
	/* Files a process expunged but did not get to remove (it exited or
	   died first). */
	if (ret == STORE_OK && graveyard_pending(u))
		ret = graveyard_purge(u, error_r);
	if (ret < 0) {
		user_free(u);
		return ret;
	}
	*u_r = u;
	return STORE_OK;
}

int store_user_open(struct store *s, const char *name, struct store_user **u_r, char **error_r)
{
	int ret = store_user_exists(s, name);
	if (ret < 0)
		return store_fail(ret, error_r, ret == STORE_ERR_NOT_FOUND ? "no such user: %s" :
								 "user directory error for %s",
				  name);
	pthread_mutex_lock(&s->lock);
	for (struct store_user *u = s->open_users; u != NULL; u = u->next) {
		if (strcmp(u->name, name) == 0) {
			u->refs++;
			pthread_mutex_unlock(&s->lock);
			*u_r = u;
			return STORE_OK;
		}
	}
	/* Opened under the lock: two threads must not open one environment
	   twice in a process (LMDB forbids it). */
	struct store_user *u;
	ret = open_user(s, name, &u, error_r);
	if (ret == STORE_OK) {
		u->next = s->open_users;
		s->open_users = u;
		*u_r = u;
	}
	pthread_mutex_unlock(&s->lock);
	return ret;
}

struct store_user *store_user_ref(struct store_user *u)
{
	pthread_mutex_lock(&u->store->lock);
	u->refs++;
	pthread_mutex_unlock(&u->store->lock);
	return u;
}

void store_user_close(struct store_user **up)
{
	struct store_user *u = *up;
	if (u == NULL)
		return;
	*up = NULL;
	struct store *s = u->store;
	pthread_mutex_lock(&s->lock);
	if (--u->refs > 0) {
		pthread_mutex_unlock(&s->lock);
		return;
	}
	struct store_user **pp = &s->open_users;
	while (*pp != u)
		pp = &(*pp)->next;
	*pp = u->next;
	pthread_mutex_unlock(&s->lock);
	user_free(u);
}

const char *store_user_name(const struct store_user *u)
{
	return u->name;
}
