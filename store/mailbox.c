/* Mailboxes: create, delete, rename, subscribe, special-use, list, status. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/xalloc.h"
#include "store/internal.h"

static int check_name(const char *name, char **error_r)
{
	const char *why;
	if (store_mailbox_name_check(name, &why) < 0)
		return store_fail(STORE_ERR_INVALID, error_r, "mailbox name %s", why);
	return STORE_OK;
}

/* Deletes every key of `dbi` that starts with the 4-byte mailbox id. */
static int delete_prefix(MDB_txn *txn, MDB_dbi dbi, uint32_t mailbox)
{
	uint32_t prefix = __builtin_bswap32(mailbox);
	MDB_cursor *cur;
	int rc = mdb_cursor_open(txn, dbi, &cur);
	if (rc != 0)
		return user_rc(rc, "delete", NULL);
	MDB_val k = mdb_val(&prefix, sizeof(prefix)), v;
	rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
	while (rc == 0 && k.mv_size >= 4 && memcmp(k.mv_data, &prefix, 4) == 0) {
		/* MDB_NODUPDATA on a dup database removes all of a key's values. */
		rc = mdb_cursor_del(cur, MDB_NODUPDATA);
		if (rc == 0)
			rc = mdb_cursor_get(cur, &k, &v, MDB_GET_CURRENT);
	}
	mdb_cursor_close(cur);
	return rc == 0 || rc == MDB_NOTFOUND || rc == EINVAL ? STORE_OK : user_rc(rc, "delete", NULL);
}

static bool has_children(struct store_user *u, MDB_txn *txn, const char *canonical)
{
	char *prefix = xasprintf("%s/", canonical);
	MDB_cursor *cur;
	bool found = false;
	if (mdb_cursor_open(txn, u->mailboxes, &cur) == 0) {
		MDB_val k = mdb_val(prefix, strlen(prefix)), v;
		if (mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE) == 0)
			found = k.mv_size > strlen(prefix) && memcmp(k.mv_data, prefix, strlen(prefix)) == 0;
		mdb_cursor_close(cur);
	}
	free(prefix);
	return found;
}

/* --------------------------------------------------------------- create */

struct create_ctx {
	const char *canonical;
	unsigned int special_use;
};

static int create_fn(struct store_user *u, MDB_txn *txn, void *ctx, char **error_r)
{
	struct create_ctx *c = ctx;
	/* RFC 3501 6.3.3: create the superior names too. */
	char *name = xstrdup(c->canonical);
	for (char *slash = strchr(name, '/'); slash != NULL; slash = strchr(slash + 1, '/')) {
		*slash = '\0';
		struct mailbox_rec rec;
		int ret = user_get_mailbox(u, txn, name, &rec);
		if (ret == STORE_ERR_NOT_FOUND)
			ret = user_create_mailbox(u, txn, name, 0, 0, NULL, error_r);
		*slash = '/';
		if (ret < 0) {
			free(name);
			return ret;
		}
	}
	free(name);
	struct mailbox_rec rec;
	if (user_get_mailbox(u, txn, c->canonical, &rec) == STORE_OK) {
		if (!(rec.flags & MAILBOX_NOSELECT))
			return store_fail(STORE_ERR_EXISTS, error_r, "mailbox already exists");
		/* A \Noselect name becomes a real mailbox again. */
		rec.flags &= ~MAILBOX_NOSELECT;
		rec.special_use = c->special_use;
		return user_put_mailbox(u, txn, c->canonical, &rec);
	}
	return user_create_mailbox(u, txn, c->canonical, c->special_use, 0, NULL, error_r);
}

int store_mailbox_create(struct store_user *u, const char *name, unsigned int special_use,
			 char **error_r)
{
	int ret = check_name(name, error_r);
	if (ret < 0)
		return ret;
	char *canonical = mailbox_canonical(name);
	if (strcmp(canonical, "INBOX") == 0) {
		free(canonical);
		return store_fail(STORE_ERR_EXISTS, error_r, "INBOX always exists");
	}
	struct create_ctx c = { canonical, special_use };
	ret = user_write(u, create_fn, &c, error_r);
	if (ret == STORE_OK)
		notify_send(u->store, u->name, canonical);
	free(canonical);
	return ret;
}

/* --------------------------------------------------------------- delete */

struct delete_ctx {
	const char *canonical;
	struct mailbox_rec rec;
	bool keep_name; /* has children: becomes \Noselect */
	char *folder;
};

/* Removes every message of a mailbox from the index and the quota. */
static int empty_mailbox(struct store_user *u, MDB_txn *txn, struct mailbox_rec *rec)
{
	MDB_dbi dbis[] = { u->msgs, u->cache, u->headers, u->words, u->dict, u->pending, u->modseq,
			   u->uids };
	for (size_t i = 0; i < sizeof(dbis) / sizeof(dbis[0]); i++) {
		int ret = delete_prefix(txn, dbis[i], rec->id);
		if (ret < 0)
			return ret;
	}
	int ret = quota_add(u, txn, -(int64_t)rec->size, -(int64_t)rec->messages);
	rec->messages = rec->unseen = rec->pending = rec->word_garbage = 0;
	rec->size = 0;
	return ret;
}

static int delete_fn(struct store_user *u, MDB_txn *txn, void *ctx, char **error_r)
{
	struct delete_ctx *c = ctx;
	int ret = user_get_mailbox(u, txn, c->canonical, &c->rec);
	if (ret < 0)
		return store_fail(ret, error_r, "no such mailbox");
	c->keep_name = has_children(u, txn, c->canonical);
	if (c->keep_name && (c->rec.flags & MAILBOX_NOSELECT))
		return store_fail(STORE_ERR_HAS_CHILDREN, error_r,
				  "mailbox has children and no messages of its own");
	if ((ret = empty_mailbox(u, txn, &c->rec)) < 0)
		return ret;
	if (c->keep_name) {
		c->rec.flags |= MAILBOX_NOSELECT;
		/* Messages are gone; bump MODSEQ so views notice. */
		c->rec.highest_modseq++;
		return user_put_mailbox(u, txn, c->canonical, &c->rec);
	}
	MDB_val k = mdb_val(c->canonical, strlen(c->canonical));
	int rc = mdb_del(txn, u->mailboxes, &k, NULL);
	uint32_t id_be = __builtin_bswap32(c->rec.id);
	MDB_val ik = mdb_val(&id_be, sizeof(id_be));
	if (rc == 0)
		rc = mdb_del(txn, u->mailbox_ids, &ik, NULL);
	return user_rc(rc, "mailbox", error_r);
}

int store_mailbox_delete(struct store_user *u, const char *name, char **error_r)
{
	int ret = check_name(name, error_r);
	if (ret < 0)
		return ret;
	char *canonical = mailbox_canonical(name);
	if (strcmp(canonical, "INBOX") == 0) {
		free(canonical);
		return store_fail(STORE_ERR_NOT_ALLOWED, error_r, "INBOX cannot be deleted");
	}
	struct delete_ctx c = { .canonical = canonical };
	c.folder = mailbox_path(u, canonical);
	/* What goes away is set aside under a name no mailbox can have (it
	   would decode to one starting with "/"), committed, then removed. A
	   mailbox with children keeps its directory (Maildir++ keeps children
	   beside it) and loses only cur/. */
	char *aside = xasprintf("%s/..deleted-%ld-%u", u->maildir, (long)time(NULL),
				msgfile_next_seq(u->store));
	char *cur = xasprintf("%s/cur", c.folder);
	const char *moved_from = NULL;
	for (;;) {
		MDB_txn *txn;
		ret = user_txn_begin(u, true, &txn, error_r);
		if (ret < 0)
			break;
		ret = delete_fn(u, txn, &c, error_r);
		moved_from = NULL;
		if (ret == STORE_OK) {
			const char *from = c.keep_name ? cur : c.folder;
			if (rename(from, aside) == 0)
				moved_from = from;
			else if (errno != ENOENT)
				ret = store_sys_error("cannot remove", from, error_r);
			if (c.keep_name)
				mkdir(cur, 0750);
		}
		if (ret == STORE_OK)
			ret = user_txn_commit(u, txn, error_r);
		else
			user_txn_abort(u, txn);
		if (ret != STORE_OK && moved_from != NULL) {
			if (c.keep_name)
				rmdir(cur);
			rename(aside, moved_from);
			moved_from = NULL;
		}
		if (ret != STORE_RETRY)
			break;
		if ((ret = user_grow_map(u, error_r)) < 0)
			break;
	}
	if (ret == STORE_OK) {
		if (moved_from != NULL)
			store_remove_tree(aside);
		fsync_dir(u->maildir);
		notify_send(u->store, u->name, canonical);
	}
	free(aside);
	free(cur);
	free(c.folder);
	free(canonical);
	return ret;
}

/* --------------------------------------------------------------- rename */

struct rename_pair {
	char *from, *to;		/* canonical names */
	char *from_path, *to_path;	/* folders */
};

struct rename_ctx {
	const char *from, *to;
	struct rename_pair *pairs;
	size_t count;
};

static int collect_pairs(struct store_user *u, MDB_txn *txn, struct rename_ctx *c)
{
	size_t from_len = strlen(c->from);
	MDB_cursor *cur;
	int rc = mdb_cursor_open(txn, u->mailboxes, &cur);
	if (rc != 0)
		return user_rc(rc, "mailboxes", NULL);
	MDB_val k = mdb_val(c->from, from_len), v;
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		if (k.mv_size < from_len || memcmp(k.mv_data, c->from, from_len) != 0)
			break;
		if (k.mv_size > from_len && ((const char *)k.mv_data)[from_len] != '/')
			continue; /* "a2" is not a child of "a" */
		c->pairs = xreallocarray(c->pairs, c->count + 1, sizeof(*c->pairs));
		struct rename_pair *p = &c->pairs[c->count++];
		p->from = xstrndup(k.mv_data, k.mv_size);
		p->to = xasprintf("%s%s", c->to, p->from + from_len);
		p->from_path = mailbox_path(u, p->from);
		p->to_path = mailbox_path(u, p->to);
	}
	mdb_cursor_close(cur);
	for (size_t i = 0; i < c->count; i++) {
		if (c->pairs[i].to_path == NULL)
			return STORE_ERR_INVALID; /* a child's new name is too long */
	}
	return STORE_OK;
}

static int rename_fn(struct store_user *u, MDB_txn *txn, void *ctx, char **error_r)
{
	struct rename_ctx *c = ctx;
	struct mailbox_rec rec;
	if (user_get_mailbox(u, txn, c->from, &rec) < 0)
		return store_fail(STORE_ERR_NOT_FOUND, error_r, "no such mailbox");
	if (user_get_mailbox(u, txn, c->to, &rec) == STORE_OK)
		return store_fail(STORE_ERR_EXISTS, error_r, "target mailbox already exists");
	int ret = collect_pairs(u, txn, c);
	if (ret < 0)
		return store_fail(ret, error_r, "a child mailbox's new name would be invalid");
	for (size_t i = 0; i < c->count; i++) {
		struct mailbox_rec r;
		if (user_get_mailbox(u, txn, c->pairs[i].to, &r) == STORE_OK)
			return store_fail(STORE_ERR_EXISTS, error_r, "%s already exists", c->pairs[i].to);
		if ((ret = user_get_mailbox(u, txn, c->pairs[i].from, &r)) < 0)
			return ret;
		MDB_val k = mdb_val(c->pairs[i].from, strlen(c->pairs[i].from));
		int rc = mdb_del(txn, u->mailboxes, &k, NULL);
		if (rc != 0)
			return user_rc(rc, "mailboxes", error_r);
		/* Same id, same UIDVALIDITY: the messages keep their UIDs. */
		r.highest_modseq++;
		if ((ret = user_put_mailbox(u, txn, c->pairs[i].to, &r)) < 0)
			return ret;
	}
	/* Superior names of the target, as CREATE would make them. */
	char *name = xstrdup(c->to);
	for (char *slash = strchr(name, '/'); slash != NULL; slash = strchr(slash + 1, '/')) {
		*slash = '\0';
		struct mailbox_rec r;
		ret = user_get_mailbox(u, txn, name, &r);
		if (ret == STORE_ERR_NOT_FOUND)
			ret = user_create_mailbox(u, txn, name, 0, 0, NULL, error_r);
		*slash = '/';
		if (ret < 0)
			break;
	}
	free(name);
	return ret < 0 ? ret : STORE_OK;
}

static void free_pairs(struct rename_ctx *c)
{
	for (size_t i = 0; i < c->count; i++) {
		free(c->pairs[i].from);
		free(c->pairs[i].to);
		free(c->pairs[i].from_path);
		free(c->pairs[i].to_path);
	}
	free(c->pairs);
	c->pairs = NULL;
	c->count = 0;
}

int store_mailbox_rename(struct store_user *u, const char *from, const char *to, char **error_r)
{
	int ret = check_name(from, error_r);
	if (ret == STORE_OK)
		ret = check_name(to, error_r);
	if (ret < 0)
		return ret;
	char *cfrom = mailbox_canonical(from), *cto = mailbox_canonical(to);
	if (strcmp(cto, "INBOX") == 0 || strncmp(cto, cfrom, strlen(cfrom)) == 0) {
		ret = store_fail(strcmp(cto, "INBOX") == 0 ? STORE_ERR_EXISTS : STORE_ERR_INVALID,
				 error_r, "cannot rename a mailbox into itself or onto INBOX");
		goto out;
	}
	if (strcmp(cfrom, "INBOX") == 0) {
		/* RFC 3501 6.3.5: INBOX's messages move to the new name; INBOX
		   stays, empty, and its children stay where they are. */
		ret = store_mailbox_create(u, cto, 0, error_r);
		if (ret == STORE_OK)
			ret = store_move_all(u, "INBOX", cto, error_r);
		goto out;
	}
	struct rename_ctx c = { .from = cfrom, .to = cto };
	for (;;) {
		MDB_txn *txn;
		ret = user_txn_begin(u, true, &txn, error_r);
		if (ret < 0)
			break;
		ret = rename_fn(u, txn, &c, error_r);
		size_t done = 0;
		for (; ret == STORE_OK && done < c.count; done++) {
			if (rename(c.pairs[done].from_path, c.pairs[done].to_path) < 0 && errno != ENOENT)
				ret = store_sys_error("cannot rename", c.pairs[done].from_path, error_r);
		}
		if (ret == STORE_OK && fsync_dir(u->maildir) < 0)
			ret = store_sys_error("cannot fsync", u->maildir, error_r);
		if (ret == STORE_OK)
			ret = user_txn_commit(u, txn, error_r);
		else
			user_txn_abort(u, txn);
		if (ret != STORE_OK) {
			while (done-- > 0)
				rename(c.pairs[done].to_path, c.pairs[done].from_path);
		}
		if (ret != STORE_RETRY)
			break;
		free_pairs(&c);
		if ((ret = user_grow_map(u, error_r)) < 0)
			break;
	}
	if (ret == STORE_OK)
		for (size_t i = 0; i < c.count; i++) {
			notify_send(u->store, u->name, c.pairs[i].from);
			notify_send(u->store, u->name, c.pairs[i].to);
		}
	free_pairs(&c);
out:
	free(cfrom);
	free(cto);
	return ret;
}

/* ----------------------------------------------------------- subscribe */

struct subscribe_ctx {
	const char *canonical;
	bool subscribe;
};

static int subscribe_fn(struct store_user *u, MDB_txn *txn, void *ctx, char **error_r)
{
	struct subscribe_ctx *c = ctx;
	MDB_val k = mdb_val(c->canonical, strlen(c->canonical)), v = mdb_val("", 0);
	int rc = c->subscribe ? mdb_put(txn, u->subscriptions, &k, &v, 0) :
				mdb_del(txn, u->subscriptions, &k, NULL);
	if (rc == MDB_NOTFOUND)
		return store_fail(STORE_ERR_NOT_FOUND, error_r, "not subscribed");
	int ret = user_rc(rc, "subscriptions", error_r);
	if (ret == STORE_OK)
		ret = user_write_subscriptions(u, txn);
	return ret;
}

int store_mailbox_subscribe(struct store_user *u, const char *name, bool subscribe, char **error_r)
{
	int ret = check_name(name, error_r);
	if (ret < 0)
		return ret;
	char *canonical = mailbox_canonical(name);
	struct subscribe_ctx c = { canonical, subscribe };
	ret = user_write(u, subscribe_fn, &c, error_r);
	free(canonical);
	return ret;
}

/* --------------------------------------------------------- special use */

static int special_use_fn(struct store_user *u, MDB_txn *txn, void *ctx, char **error_r)
{
	struct create_ctx *c = ctx;
	struct mailbox_rec rec;
	if (user_get_mailbox(u, txn, c->canonical, &rec) < 0)
		return store_fail(STORE_ERR_NOT_FOUND, error_r, "no such mailbox");
	rec.special_use = c->special_use;
	int ret = user_put_mailbox(u, txn, c->canonical, &rec);
	char *folder = mailbox_path(u, c->canonical);
	struct mailbox_file mf;
	if (ret == STORE_OK && folder != NULL && mailbox_file_read(folder, &mf) == STORE_OK) {
		mf.special_use = c->special_use;
		mailbox_file_write(folder, &mf, false);
		mailbox_file_free(&mf);
	}
	free(folder);
	return ret;
}

int store_mailbox_set_special_use(struct store_user *u, const char *name, unsigned int special_use,
				  char **error_r)
{
	int ret = check_name(name, error_r);
	if (ret < 0)
		return ret;
	char *canonical = mailbox_canonical(name);
	struct create_ctx c = { canonical, special_use };
	ret = user_write(u, special_use_fn, &c, error_r);
	free(canonical);
	return ret;
}

/* ------------------------------------------------------- list, status */

static uint32_t count_recent(struct store_user *u, MDB_txn *txn, const struct mailbox_rec *rec)
{
	if (rec->first_recent_uid >= rec->uidnext)
		return 0;
	MDB_cursor *cur;
	if (mdb_cursor_open(txn, u->msgs, &cur) != 0)
		return 0;
	struct msg_key key = msg_key(rec->id, rec->first_recent_uid);
	MDB_val k = mdb_val(&key, sizeof(key)), v;
	uint32_t n = 0;
	uint32_t prefix = __builtin_bswap32(rec->id);
	for (int rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
	     rc == 0 && memcmp(k.mv_data, &prefix, 4) == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT))
		n++;
	mdb_cursor_close(cur);
	return n;
}

static void fill_info(struct store_mailbox_info *info, const struct mailbox_rec *rec)
{
	info->uidvalidity = rec->uidvalidity;
	info->uidnext = rec->uidnext;
	info->highest_modseq = rec->highest_modseq;
	info->messages = rec->messages;
	info->unseen = rec->unseen;
	info->size = rec->size;
	info->special_use = rec->special_use;
	info->exists = true;
	info->noselect = (rec->flags & MAILBOX_NOSELECT) != 0;
}

int store_mailbox_status(struct store_user *u, const char *name, struct store_mailbox_info *info,
			 char **error_r)
{
	int ret = check_name(name, error_r);
	if (ret < 0)
		return ret;
	char *canonical = mailbox_canonical(name);
	MDB_txn *txn;
	if ((ret = user_txn_begin(u, false, &txn, error_r)) < 0) {
		free(canonical);
		return ret;
	}
	struct mailbox_rec rec;
	ret = user_get_mailbox(u, txn, canonical, &rec);
	if (ret == STORE_OK && (rec.flags & MAILBOX_NOSELECT))
		ret = STORE_ERR_NOT_FOUND;
	if (ret == STORE_OK) {
		memset(info, 0, sizeof(*info));
		fill_info(info, &rec);
		info->recent = count_recent(u, txn, &rec);
		MDB_val k = mdb_val(canonical, strlen(canonical)), v;
		info->subscribed = mdb_get(txn, u->subscriptions, &k, &v) == 0;
		info->has_children = has_children(u, txn, canonical);
		info->name = NULL; /* the caller knows it */
	} else {
		ret = store_fail(ret, error_r, "no such mailbox");
	}
	user_txn_abort(u, txn);
	free(canonical);
	return ret;
}

int store_mailbox_list(struct store_user *u,
		       void (*cb)(const struct store_mailbox_info *info, void *ctx), void *ctx,
		       char **error_r)
{
	MDB_txn *txn;
	int ret = user_txn_begin(u, false, &txn, error_r);
	if (ret < 0)
		return ret;
	MDB_cursor *mc, *sc;
	if (mdb_cursor_open(txn, u->mailboxes, &mc) != 0 ||
	    mdb_cursor_open(txn, u->subscriptions, &sc) != 0) {
		user_txn_abort(u, txn);
		return store_fail(STORE_ERR_IO, error_r, "cannot list mailboxes");
	}
	/* Merge the two sorted key spaces: mailboxes and subscriptions. */
	MDB_val mk, mv, sk, sv;
	int mrc = mdb_cursor_get(mc, &mk, &mv, MDB_FIRST);
	int src = mdb_cursor_get(sc, &sk, &sv, MDB_FIRST);
	while (mrc == 0 || src == 0) {
		int order;
		if (mrc != 0)
			order = 1;
		else if (src != 0)
			order = -1;
		else {
			size_t n = mk.mv_size < sk.mv_size ? mk.mv_size : sk.mv_size;
			order = memcmp(mk.mv_data, sk.mv_data, n);
			if (order == 0)
				order = mk.mv_size < sk.mv_size ? -1 : mk.mv_size > sk.mv_size;
		}
		struct store_mailbox_info info = { 0 };
		char *name = xstrndup(order <= 0 ? mk.mv_data : sk.mv_data,
				      order <= 0 ? mk.mv_size : sk.mv_size);
		info.name = name;
		if (order <= 0 && mv.mv_size == sizeof(struct mailbox_rec)) {
			struct mailbox_rec rec;
			memcpy(&rec, mv.mv_data, sizeof(rec));
			fill_info(&info, &rec);
			info.has_children = has_children(u, txn, name);
		}
		info.subscribed = order >= 0;
		cb(&info, ctx);
		free(name);
		if (order <= 0)
			mrc = mdb_cursor_get(mc, &mk, &mv, MDB_NEXT);
		if (order >= 0)
			src = mdb_cursor_get(sc, &sk, &sv, MDB_NEXT);
	}
	mdb_cursor_close(mc);
	mdb_cursor_close(sc);
	user_txn_abort(u, txn);
	return STORE_OK;
}
