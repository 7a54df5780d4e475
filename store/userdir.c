/* The user directory: one LMDB database in the global environment. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <lmdb.h>

#include "common/xalloc.h"
#include "store/store.h"

#define GLOBAL_MAP_SIZE (1ULL << 30) /* address space, not disk */
#define USER_RECORD_VERSION 1

struct store {
	char *data_dir;
	MDB_env *env;
	MDB_dbi users;
};

/* What the directory keeps per user. Fixed-size and versioned so that later
   fields (quota, backend) extend it without a migration of old records. */
struct user_record {
	uint32_t version;
	uint32_t flags;
	int64_t created;
};

static int mdb_fail(int rc, const char *what, char **error_r)
{
	if (error_r != NULL)
		*error_r = xasprintf("%s: %s", what, mdb_strerror(rc));
	return STORE_ERR_IO;
}

int store_open(const char *data_dir, struct store **store_r, char **error_r)
{
	char *global = xasprintf("%s/global", data_dir);
	if ((mkdir(data_dir, 0750) < 0 && errno != EEXIST) ||
	    (mkdir(global, 0750) < 0 && errno != EEXIST)) {
		*error_r = xasprintf("cannot create %s: %s", global, strerror(errno));
		free(global);
		return STORE_ERR_IO;
	}
	struct store *s = xcalloc(1, sizeof(*s));
	s->data_dir = xstrdup(data_dir);
	int rc = mdb_env_create(&s->env);
	if (rc == 0)
		rc = mdb_env_set_mapsize(s->env, GLOBAL_MAP_SIZE);
	if (rc == 0)
		rc = mdb_env_set_maxdbs(s->env, 8);
	if (rc == 0)
		rc = mdb_env_open(s->env, global, MDB_NOTLS, 0640);
	MDB_txn *txn = NULL;
	if (rc == 0)
		rc = mdb_txn_begin(s->env, NULL, 0, &txn);
	if (rc == 0)
		rc = mdb_dbi_open(txn, "users", MDB_CREATE, &s->users);
	if (rc == 0) {
		rc = mdb_txn_commit(txn);
		txn = NULL;
	}
	if (rc != 0) {
		if (txn != NULL)
			mdb_txn_abort(txn);
		mdb_fail(rc, global, error_r);
		free(global);
		store_close(&s);
		return STORE_ERR_IO;
	}
	free(global);
	*store_r = s;
	return STORE_OK;
}

void store_close(struct store **sp)
{
	struct store *s = *sp;
	if (s == NULL)
		return;
	if (s->env != NULL)
		mdb_env_close(s->env);
	free(s->data_dir);
	free(s);
	*sp = NULL;
}

static bool local_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
	       c == '-' || c == '+' || c == '=';
}

static bool domain_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '-';
}

/* The name also becomes a directory name, so the rules are strict: no
   slashes, no leading dots, nothing a shell or a path would reinterpret. */
int store_user_name_check(const char *user, const char **why_r)
{
	const char *at = strchr(user, '@');
	size_t len = strlen(user);
	if (len == 0 || len > 254) {
		*why_r = "must be 1 to 254 characters";
		return STORE_ERR_INVALID;
	}
	if (at == NULL || at == user || at[1] == '\0' || strchr(at + 1, '@') != NULL) {
		*why_r = "must be an address of the form local@domain";
		return STORE_ERR_INVALID;
	}
	for (const char *p = user; p < at; p++) {
		if (!local_char(*p)) {
			*why_r = "local part may hold only a-z 0-9 . _ - + = (lower case)";
			return STORE_ERR_INVALID;
		}
	}
	if (user[0] == '.' || at[-1] == '.' || strstr(user, "..") != NULL) {
		*why_r = "dots must not start, end or repeat";
		return STORE_ERR_INVALID;
	}
	for (const char *p = at + 1; *p != '\0'; p++) {
		if (!domain_char(*p)) {
			*why_r = "domain may hold only a-z 0-9 . - (lower case)";
			return STORE_ERR_INVALID;
		}
	}
	if (at[1] == '.' || at[1] == '-' || user[len - 1] == '.') {
		*why_r = "domain must not start with a dot or hyphen, nor end with a dot";
		return STORE_ERR_INVALID;
	}
	return STORE_OK;
}

static int check_name(const char *user, char **error_r)
{
	const char *why;
	if (store_user_name_check(user, &why) < 0) {
		if (error_r != NULL)
			*error_r = xasprintf("invalid user name '%s': %s", user, why);
		return STORE_ERR_INVALID;
	}
	return STORE_OK;
}

int store_user_add(struct store *s, const char *user, char **error_r)
{
	int ret = check_name(user, error_r);
	if (ret < 0)
		return ret;
	MDB_txn *txn;
	int rc = mdb_txn_begin(s->env, NULL, 0, &txn);
	if (rc != 0)
		return mdb_fail(rc, "user directory", error_r);
	struct user_record rec = { USER_RECORD_VERSION, 0, (int64_t)time(NULL) };
	MDB_val key = { strlen(user), (void *)user };
	MDB_val val = { sizeof(rec), &rec };
	rc = mdb_put(txn, s->users, &key, &val, MDB_NOOVERWRITE);
	if (rc == MDB_KEYEXIST) {
		mdb_txn_abort(txn);
		*error_r = xasprintf("user %s already exists", user);
		return STORE_ERR_EXISTS;
	}
	if (rc != 0) {
		mdb_txn_abort(txn);
		return mdb_fail(rc, "user directory", error_r);
	}
	rc = mdb_txn_commit(txn);
	if (rc != 0)
		return mdb_fail(rc, "user directory", error_r);
	return STORE_OK;
}

int store_user_del(struct store *s, const char *user, char **error_r)
{
	MDB_txn *txn;
	int rc = mdb_txn_begin(s->env, NULL, 0, &txn);
	if (rc != 0)
		return mdb_fail(rc, "user directory", error_r);
	MDB_val key = { strlen(user), (void *)user };
	rc = mdb_del(txn, s->users, &key, NULL);
	if (rc == MDB_NOTFOUND) {
		mdb_txn_abort(txn);
		*error_r = xasprintf("no such user: %s", user);
		return STORE_ERR_NOT_FOUND;
	}
	if (rc != 0) {
		mdb_txn_abort(txn);
		return mdb_fail(rc, "user directory", error_r);
	}
	rc = mdb_txn_commit(txn);
	if (rc != 0)
		return mdb_fail(rc, "user directory", error_r);
	return STORE_OK;
}

int store_user_exists(struct store *s, const char *user)
{
	MDB_txn *txn;
	if (mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn) != 0)
		return STORE_ERR_IO;
	MDB_val key = { strlen(user), (void *)user };
	MDB_val val;
	int rc = mdb_get(txn, s->users, &key, &val);
	mdb_txn_abort(txn);
	if (rc == MDB_NOTFOUND)
		return STORE_ERR_NOT_FOUND;
	return rc == 0 ? STORE_OK : STORE_ERR_IO;
}

int store_user_list(struct store *s, void (*cb)(const char *user, void *ctx), void *ctx,
		    char **error_r)
{
	MDB_txn *txn;
	MDB_cursor *cur;
	int rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn);
	if (rc != 0)
		return mdb_fail(rc, "user directory", error_r);
	rc = mdb_cursor_open(txn, s->users, &cur);
	if (rc != 0) {
		mdb_txn_abort(txn);
		return mdb_fail(rc, "user directory", error_r);
	}
	MDB_val key, val;
	for (rc = mdb_cursor_get(cur, &key, &val, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT)) {
		/* Copy out: LMDB's memory is only ours until the next call. */
		char *name = xstrndup(key.mv_data, key.mv_size);
		cb(name, ctx);
		free(name);
	}
	mdb_cursor_close(cur);
	mdb_txn_abort(txn);
	if (rc != MDB_NOTFOUND)
		return mdb_fail(rc, "user directory", error_r);
	return STORE_OK;
}
