/* The store handle, the global environment and the user directory. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <lmdb.h>

#include "common/settings.h"
#include "common/xalloc.h"
#include "store/internal.h"

#define GLOBAL_MAP_SIZE (1ULL << 30) /* address space, not disk */
#define USER_RECORD_VERSION 2

/* What the directory keeps per user. Version 1 records (16 bytes, from
   before quotas) are read as "default quota". */
struct user_record {
	uint32_t version;
	uint32_t flags;
	int64_t created;
	uint64_t quota_bytes;	 /* UINT64_MAX: the configured default */
	uint64_t quota_messages;
};

const char *store_strerror(int error)
{
	switch (error) {
	case STORE_OK:
		return "ok";
	case STORE_ERR_NOT_FOUND:
		return "not found";
	case STORE_ERR_EXISTS:
		return "already exists";
	case STORE_ERR_INVALID:
		return "invalid";
	case STORE_ERR_IO:
		return "I/O or index error";
	case STORE_ERR_QUOTA:
		return "over quota";
	case STORE_ERR_GONE:
		return "mailbox gone";
	case STORE_ERR_LIMIT:
		return "limit reached";
	case STORE_ERR_NOT_ALLOWED:
		return "not allowed";
	case STORE_ERR_HAS_CHILDREN:
		return "has children";
	case STORE_ERR_IN_USE:
		return "in use by another session";
	}
	return "unknown error";
}

int store_mdb_error(int rc, const char *what, char **error_r)
{
	if (error_r != NULL && *error_r == NULL)
		*error_r = xasprintf("%s: %s", what, mdb_strerror(rc));
	return STORE_ERR_IO;
}

int store_sys_error(const char *what, const char *path, char **error_r)
{
	if (error_r != NULL && *error_r == NULL)
		*error_r = xasprintf("%s %s: %s", what, path, strerror(errno));
	return STORE_ERR_IO;
}

int store_fail(int code, char **error_r, const char *fmt, ...)
{
	if (error_r != NULL && *error_r == NULL) {
		va_list ap;
		va_start(ap, fmt);
		if (vasprintf(error_r, fmt, ap) < 0)
			*error_r = NULL;
		va_end(ap);
	}
	return code;
}

static char *maildir_safe_hostname(void)
{
	/* The Maildir spec: '/' and ':' in the host part are written \057
	   and \072, since they would break the name. */
	char host[256];
	if (gethostname(host, sizeof(host) - 1) < 0)
		strcpy(host, "localhost");
	host[sizeof(host) - 1] = '\0';
	struct buf out = BUF_INIT;
	for (const char *p = host; *p != '\0'; p++) {
		if (*p == '/')
			buf_append_str(&out, "\\057");
		else if (*p == ':')
			buf_append_str(&out, "\\072");
		else if (*p == ',')
			buf_append_str(&out, "\\054");
		else
			buf_append_byte(&out, (uint8_t)*p);
	}
	return (char *)out.data;
}

void store_options_from_settings(struct store_options *o, const struct settings *set,
				 const char *program, bool listen)
{
	*o = (struct store_options){
		.data_dir = set->server.data_dir,
		.run_dir = set->server.run_dir,
		.listen = listen,
		.program = program,
		.default_quota_bytes = set->quota.storage,
		.default_quota_messages = set->quota.messages,
	};
}

int store_open(const struct store_options *opts, struct store **store_r, char **error_r)
{
	char *global = xasprintf("%s/global", opts->data_dir);
	char *users = xasprintf("%s/users", opts->data_dir);
	if ((mkdir(opts->data_dir, 0750) < 0 && errno != EEXIST) ||
	    (mkdir(global, 0750) < 0 && errno != EEXIST) ||
	    (mkdir(users, 0750) < 0 && errno != EEXIST)) {
		int ret = store_sys_error("cannot create", errno == EEXIST ? users : global, error_r);
		free(global);
		free(users);
		return ret;
	}
	free(users);
	struct store *s = xcalloc(1, sizeof(*s));
	s->data_dir = xstrdup(opts->data_dir);
	s->run_dir = opts->run_dir ? xstrdup(opts->run_dir) : NULL;
	s->program = xstrdup(opts->program ? opts->program : "petrel");
	s->hostname = maildir_safe_hostname();
	s->default_quota_bytes = opts->default_quota_bytes;
	s->default_quota_messages = opts->default_quota_messages;
	s->notify_fd = -1;
	pthread_mutex_init(&s->lock, NULL);
	pthread_mutex_init(&s->bg_lock, NULL);
	pthread_cond_init(&s->bg_cond, NULL);

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
		store_mdb_error(rc, global, error_r);
		free(global);
		store_close(&s);
		return STORE_ERR_IO;
	}
	free(global);
	if (opts->run_dir != NULL && notify_init(s, opts->listen, error_r) < 0) {
		store_close(&s);
		return STORE_ERR_IO;
	}
	*store_r = s;
	return STORE_OK;
}

void store_close(struct store **sp)
{
	struct store *s = *sp;
	if (s == NULL)
		return;
	background_stop(s);
	notify_deinit(s);
	if (s->env != NULL)
		mdb_env_close(s->env);
	pthread_mutex_destroy(&s->lock);
	pthread_mutex_destroy(&s->bg_lock);
	pthread_cond_destroy(&s->bg_cond);
	free(s->data_dir);
	free(s->run_dir);
	free(s->program);
	free(s->hostname);
	free(s);
	*sp = NULL;
}

/* ------------------------------------------------------- user directory */

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
	if (store_user_name_check(user, &why) < 0)
		return store_fail(STORE_ERR_INVALID, error_r, "invalid user name '%s': %s", user, why);
	return STORE_OK;
}

static int read_user_record(struct store *s, MDB_txn *txn, const char *user,
			    struct user_record *rec_r)
{
	MDB_val key = mdb_val(user, strlen(user)), val;
	int rc = mdb_get(txn, s->users, &key, &val);
	if (rc == MDB_NOTFOUND)
		return STORE_ERR_NOT_FOUND;
	if (rc != 0)
		return STORE_ERR_IO;
	struct user_record rec = { USER_RECORD_VERSION, 0, 0, UINT64_MAX, UINT64_MAX };
	memcpy(&rec, val.mv_data, val.mv_size < sizeof(rec) ? val.mv_size : sizeof(rec));
	if (rec.version < 2)
		rec.quota_bytes = rec.quota_messages = UINT64_MAX;
	*rec_r = rec;
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
		return store_mdb_error(rc, "user directory", error_r);
	struct user_record rec = { USER_RECORD_VERSION, 0, (int64_t)time(NULL), UINT64_MAX,
				   UINT64_MAX };
	MDB_val key = mdb_val(user, strlen(user));
	MDB_val val = mdb_val(&rec, sizeof(rec));
	rc = mdb_put(txn, s->users, &key, &val, MDB_NOOVERWRITE);
	if (rc == MDB_KEYEXIST) {
		mdb_txn_abort(txn);
		return store_fail(STORE_ERR_EXISTS, error_r, "user %s already exists", user);
	}
	if (rc == 0)
		rc = mdb_txn_commit(txn);
	else
		mdb_txn_abort(txn);
	if (rc != 0)
		return store_mdb_error(rc, "user directory", error_r);
	/* Create the mailboxes now, so the user's folders exist (and are
	   subscribed) before the first login or delivery. */
	struct store_user *u;
	ret = store_user_open(s, user, &u, error_r);
	if (ret < 0)
		return ret;
	store_user_close(&u);
	return STORE_OK;
}

int store_user_del(struct store *s, const char *user, char **error_r)
{
	MDB_txn *txn;
	int rc = mdb_txn_begin(s->env, NULL, 0, &txn);
	if (rc != 0)
		return store_mdb_error(rc, "user directory", error_r);
	MDB_val key = mdb_val(user, strlen(user));
	rc = mdb_del(txn, s->users, &key, NULL);
	if (rc == MDB_NOTFOUND) {
		mdb_txn_abort(txn);
		return store_fail(STORE_ERR_NOT_FOUND, error_r, "no such user: %s", user);
	}
	if (rc == 0)
		rc = mdb_txn_commit(txn);
	else
		mdb_txn_abort(txn);
	if (rc != 0)
		return store_mdb_error(rc, "user directory", error_r);
	return STORE_OK;
}

int store_user_exists(struct store *s, const char *user)
{
	MDB_txn *txn;
	if (mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn) != 0)
		return STORE_ERR_IO;
	struct user_record rec;
	int ret = read_user_record(s, txn, user, &rec);
	mdb_txn_abort(txn);
	return ret;
}

int store_user_list(struct store *s, void (*cb)(const char *user, void *ctx), void *ctx,
		    char **error_r)
{
	MDB_txn *txn;
	MDB_cursor *cur;
	int rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn);
	if (rc != 0)
		return store_mdb_error(rc, "user directory", error_r);
	rc = mdb_cursor_open(txn, s->users, &cur);
	if (rc != 0) {
		mdb_txn_abort(txn);
		return store_mdb_error(rc, "user directory", error_r);
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
		return store_mdb_error(rc, "user directory", error_r);
	return STORE_OK;
}

int store_quota_set(struct store *s, const char *user, uint64_t limit_bytes,
		    uint64_t limit_messages, char **error_r)
{
	MDB_txn *txn;
	int rc = mdb_txn_begin(s->env, NULL, 0, &txn);
	if (rc != 0)
		return store_mdb_error(rc, "user directory", error_r);
	struct user_record rec;
	int ret = read_user_record(s, txn, user, &rec);
	if (ret < 0) {
		mdb_txn_abort(txn);
		return store_fail(ret, error_r, "no such user: %s", user);
	}
	rec.version = USER_RECORD_VERSION;
	rec.quota_bytes = limit_bytes;
	rec.quota_messages = limit_messages;
	MDB_val key = mdb_val(user, strlen(user));
	MDB_val val = mdb_val(&rec, sizeof(rec));
	rc = mdb_put(txn, s->users, &key, &val, 0);
	if (rc == 0)
		rc = mdb_txn_commit(txn);
	else
		mdb_txn_abort(txn);
	if (rc != 0)
		return store_mdb_error(rc, "user directory", error_r);
	return STORE_OK;
}

/* The limits that apply to a user: its own, else the defaults. */
int store_quota_limits(struct store *s, const char *user, uint64_t *bytes_r, uint64_t *messages_r)
{
	MDB_txn *txn;
	if (mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn) != 0)
		return STORE_ERR_IO;
	struct user_record rec;
	int ret = read_user_record(s, txn, user, &rec);
	mdb_txn_abort(txn);
	if (ret < 0)
		return ret;
	*bytes_r = rec.quota_bytes == UINT64_MAX ? s->default_quota_bytes : rec.quota_bytes;
	*messages_r = rec.quota_messages == UINT64_MAX ? s->default_quota_messages :
							 rec.quota_messages;
	return STORE_OK;
}
