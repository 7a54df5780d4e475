/*
 * UID lists: per mailbox, the UIDs of all its messages and of those without
 * \Seen, as sorted 32-bit values (an LMDB dupfixed database), kept beside
 * the message records by msg_put and msg_del.
 *
 * SELECT needs every UID (the sequence numbers) and the first unseen one.
 * Walking the message records for them touched every record: at 100,000
 * messages, 3,000 pages and 5 ms. The lists hold about a thousand UIDs per
 * page and LMDB hands a whole page over at once (MDB_GET_MULTIPLE), so the
 * same SELECT reads about 100 pages.
 *
 * An index written before the lists existed gets them built from the
 * message records when it is opened (uidlist_ensure); `check` rebuilds
 * them the same way.
 */
#include <string.h>

#include "store/internal.h"

#define META_BUILT "uid_lists"

struct uidlist_key {
	uint32_t mailbox_be; /* first, like every per-mailbox key: delete_prefix */
	uint32_t kind_be;
};

static struct uidlist_key list_key(uint32_t mailbox, enum uidlist_kind kind)
{
	return (struct uidlist_key){ __builtin_bswap32(mailbox), __builtin_bswap32(kind) };
}

static int list_add(struct store_user *u, MDB_txn *txn, uint32_t mailbox,
		    enum uidlist_kind kind, uint32_t uid)
{
	struct uidlist_key key = list_key(mailbox, kind);
	MDB_val k = mdb_val(&key, sizeof(key)), v = mdb_val(&uid, sizeof(uid));
	int rc = mdb_put(txn, u->uids, &k, &v, MDB_NODUPDATA);
	return rc == 0 || rc == MDB_KEYEXIST ? STORE_OK : user_rc(rc, "uid list", NULL);
}

static int list_del(struct store_user *u, MDB_txn *txn, uint32_t mailbox,
		    enum uidlist_kind kind, uint32_t uid)
{
	struct uidlist_key key = list_key(mailbox, kind);
	MDB_val k = mdb_val(&key, sizeof(key)), v = mdb_val(&uid, sizeof(uid));
	int rc = mdb_del(txn, u->uids, &k, &v);
	return rc == 0 || rc == MDB_NOTFOUND ? STORE_OK : user_rc(rc, "uid list", NULL);
}

int uidlist_update(struct store_user *u, MDB_txn *txn, uint32_t mailbox, uint32_t uid,
		   const uint32_t *old_flags, const uint32_t *new_flags)
{
	bool was = old_flags != NULL, is = new_flags != NULL;
	bool was_unseen = was && !(*old_flags & STORE_FLAG_SEEN);
	bool is_unseen = is && !(*new_flags & STORE_FLAG_SEEN);
	int ret = STORE_OK;
	if (was != is)
		ret = is ? list_add(u, txn, mailbox, UIDLIST_ALL, uid) :
			   list_del(u, txn, mailbox, UIDLIST_ALL, uid);
	if (ret == STORE_OK && was_unseen != is_unseen)
		ret = is_unseen ? list_add(u, txn, mailbox, UIDLIST_UNSEEN, uid) :
				  list_del(u, txn, mailbox, UIDLIST_UNSEEN, uid);
	return ret;
}

/* Opens a cursor on a list, placed on its first UID. Returns the cursor,
   or NULL with *rc_r (MDB_NOTFOUND: the list is empty). */
static MDB_cursor *open_list(struct store_user *u, MDB_txn *txn, uint32_t mailbox,
			     enum uidlist_kind kind, MDB_val *first_r, int *rc_r)
{
	MDB_cursor *cur;
	if ((*rc_r = mdb_cursor_open(txn, u->uids, &cur)) != 0)
		return NULL;
	struct uidlist_key key = list_key(mailbox, kind);
	MDB_val k = mdb_val(&key, sizeof(key));
	if ((*rc_r = mdb_cursor_get(cur, &k, first_r, MDB_SET)) != 0) {
		mdb_cursor_close(cur);
		return NULL;
	}
	return cur;
}

int uidlist_read(struct store_user *u, MDB_txn *txn, uint32_t mailbox, enum uidlist_kind kind,
		 uidlist_chunk_fn *fn, void *ctx)
{
	MDB_val k, v;
	int rc;
	MDB_cursor *cur = open_list(u, txn, mailbox, kind, &v, &rc);
	if (cur != NULL) {
		rc = mdb_cursor_get(cur, &k, &v, MDB_GET_MULTIPLE);
		while (rc == 0) {
			fn(ctx, v.mv_data, v.mv_size / sizeof(uint32_t));
			rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT_MULTIPLE);
		}
		mdb_cursor_close(cur);
	}
	return rc == MDB_NOTFOUND ? STORE_OK : user_rc(rc, "uid list", NULL);
}

int uidlist_first(struct store_user *u, MDB_txn *txn, uint32_t mailbox, enum uidlist_kind kind,
		  uint32_t *uid_r, size_t *count_r)
{
	*uid_r = 0;
	*count_r = 0;
	MDB_val v;
	int rc;
	MDB_cursor *cur = open_list(u, txn, mailbox, kind, &v, &rc);
	if (cur != NULL) {
		if (v.mv_size == sizeof(*uid_r))
			memcpy(uid_r, v.mv_data, sizeof(*uid_r));
		rc = mdb_cursor_count(cur, count_r);
		mdb_cursor_close(cur);
	}
	return rc == 0 || rc == MDB_NOTFOUND ? STORE_OK : user_rc(rc, "uid list", NULL);
}

/* A message record's mailbox, UID and flags (the first field of msg_rec). */
static bool record_of(MDB_val k, MDB_val v, uint32_t *mailbox, uint32_t *uid, uint32_t *flags)
{
	struct msg_key mk;
	if (k.mv_size != sizeof(mk) || v.mv_size < sizeof(*flags))
		return false;
	memcpy(&mk, k.mv_data, sizeof(mk));
	memcpy(flags, v.mv_data, sizeof(*flags));
	*mailbox = __builtin_bswap32(mk.mailbox_be);
	*uid = __builtin_bswap32(mk.uid_be);
	return true;
}

/* Builds every mailbox's lists from the message records. */
int uidlist_rebuild(struct store_user *u, MDB_txn *txn)
{
	int rc = mdb_drop(txn, u->uids, 0);
	if (rc != 0)
		return user_rc(rc, "uid list", NULL);
	MDB_cursor *msgs, *lists;
	if ((rc = mdb_cursor_open(txn, u->msgs, &msgs)) != 0)
		return user_rc(rc, "uid list", NULL);
	if ((rc = mdb_cursor_open(txn, u->uids, &lists)) != 0) {
		mdb_cursor_close(msgs);
		return user_rc(rc, "uid list", NULL);
	}
	MDB_val k, v;
	for (rc = mdb_cursor_get(msgs, &k, &v, MDB_FIRST); rc == 0;
	     rc = mdb_cursor_get(msgs, &k, &v, MDB_NEXT)) {
		uint32_t mailbox, uid, flags;
		if (!record_of(k, v, &mailbox, &uid, &flags))
			continue;
		for (int kind = UIDLIST_ALL; kind <= UIDLIST_UNSEEN && rc == 0; kind++) {
			if (kind == UIDLIST_UNSEEN && (flags & STORE_FLAG_SEEN))
				break;
			struct uidlist_key key = list_key(mailbox, kind);
			MDB_val lk = mdb_val(&key, sizeof(key)), lv = mdb_val(&uid, sizeof(uid));
			rc = mdb_cursor_put(lists, &lk, &lv, 0);
		}
		if (rc != 0)
			break;
	}
	mdb_cursor_close(lists);
	mdb_cursor_close(msgs);
	if (rc != MDB_NOTFOUND)
		return user_rc(rc, "uid list", NULL);
	return user_meta_put_u64(u, txn, META_BUILT, 1);
}

static bool list_has(MDB_cursor *lists, uint32_t mailbox, enum uidlist_kind kind, uint32_t uid)
{
	struct uidlist_key key = list_key(mailbox, kind);
	MDB_val k = mdb_val(&key, sizeof(key)), v = mdb_val(&uid, sizeof(uid));
	return mdb_cursor_get(lists, &k, &v, MDB_GET_BOTH) == 0;
}

/* Whether the lists hold exactly the message records' UIDs: each record's
   UID is in its lists, and the lists hold no more entries than that. */
static bool lists_match(struct store_user *u, MDB_txn *txn)
{
	MDB_cursor *msgs, *lists;
	if (mdb_cursor_open(txn, u->msgs, &msgs) != 0)
		return false;
	if (mdb_cursor_open(txn, u->uids, &lists) != 0) {
		mdb_cursor_close(msgs);
		return false;
	}
	size_t expected = 0;
	bool ok = true;
	MDB_val k, v;
	for (int rc = mdb_cursor_get(msgs, &k, &v, MDB_FIRST); ok && rc == 0;
	     rc = mdb_cursor_get(msgs, &k, &v, MDB_NEXT)) {
		uint32_t mailbox, uid, flags;
		if (!record_of(k, v, &mailbox, &uid, &flags))
			continue;
		ok = list_has(lists, mailbox, UIDLIST_ALL, uid);
		expected++;
		if (ok && !(flags & STORE_FLAG_SEEN)) {
			ok = list_has(lists, mailbox, UIDLIST_UNSEEN, uid);
			expected++;
		}
	}
	mdb_cursor_close(lists);
	mdb_cursor_close(msgs);
	MDB_stat st;
	return ok && mdb_stat(txn, u->uids, &st) == 0 && st.ms_entries == expected;
}

/* Rebuilds the lists in one write transaction, unless keep() finds them
   fine. */
static int rebuild_unless(struct store_user *u, bool (*keep)(struct store_user *, MDB_txn *),
			  bool *rebuilt_r, char **error_r)
{
	*rebuilt_r = false;
	MDB_txn *txn;
	int ret = user_txn_begin(u, true, &txn, error_r);
	if (ret < 0)
		return ret;
	if (keep(u, txn)) {
		user_txn_abort(u, txn);
		return STORE_OK;
	}
	ret = uidlist_rebuild(u, txn);
	if (ret < 0) {
		user_txn_abort(u, txn);
		return store_fail(ret, error_r, "cannot build the UID lists");
	}
	*rebuilt_r = true;
	return user_txn_commit(u, txn, error_r);
}

int uidlist_check(struct store_user *u, bool *rebuilt_r, char **error_r)
{
	return rebuild_unless(u, lists_match, rebuilt_r, error_r);
}

static bool already_built(struct store_user *u, MDB_txn *txn)
{
	uint64_t built = 0;
	user_meta_get_u64(u, txn, META_BUILT, &built);
	return built != 0;
}

int uidlist_ensure(struct store_user *u, char **error_r)
{
	bool rebuilt;
	return rebuild_unless(u, already_built, &rebuilt, error_r);
}
