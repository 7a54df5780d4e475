/* Message records and their MODSEQ entries inside a transaction. */
#include <stdlib.h>
#include <string.h>

#include "common/xalloc.h"
#include "store/internal.h"

struct msg_rec *msg_rec_new(const char *name, size_t name_len)
{
	struct msg_rec *rec = xcalloc(1, sizeof(*rec) + name_len);
	rec->name_len = (uint32_t)name_len;
	memcpy(rec->name, name, name_len);
	return rec;
}

/* A message record's fields; sizes are checked so a damaged record never
   makes us read past its end. */
static int msg_decode(MDB_val v, struct msg_info *info_r)
{
	struct msg_rec rec;
	if (v.mv_size < sizeof(rec))
		return STORE_ERR_IO;
	memcpy(&rec, v.mv_data, sizeof(rec));
	if (v.mv_size != sizeof(rec) + rec.name_len)
		return STORE_ERR_IO;
	*info_r = (struct msg_info){ rec.flags, rec.keywords, rec.modseq, rec.internaldate, rec.size,
				     span_make((const char *)v.mv_data + sizeof(rec), rec.name_len) };
	return STORE_OK;
}

int msg_get(struct store_user *u, MDB_txn *txn, uint32_t mailbox, uint32_t uid,
	    struct msg_info *info_r)
{
	struct msg_key key = msg_key(mailbox, uid);
	MDB_val k = mdb_val(&key, sizeof(key)), v;
	int rc = mdb_get(txn, u->msgs, &k, &v);
	if (rc != 0)
		return user_rc(rc, "message record", NULL);
	return msg_decode(v, info_r);
}

int msg_get_at(MDB_cursor *cur, uint32_t mailbox, uint32_t uid, struct msg_info *info_r)
{
	struct msg_key key = msg_key(mailbox, uid);
	MDB_val k = mdb_val(&key, sizeof(key)), v;
	int rc = mdb_cursor_get(cur, &k, &v, MDB_SET);
	if (rc != 0)
		return user_rc(rc, "message record", NULL);
	return msg_decode(v, info_r);
}

/* The flags of the record there is (the first field of msg_rec). */
static bool old_flags(struct store_user *u, MDB_txn *txn, MDB_val *k, uint32_t *flags_r)
{
	MDB_val v;
	if (mdb_get(txn, u->msgs, k, &v) != 0 || v.mv_size < sizeof(*flags_r))
		return false;
	memcpy(flags_r, v.mv_data, sizeof(*flags_r));
	return true;
}

int msg_put(struct store_user *u, MDB_txn *txn, uint32_t mailbox, uint32_t uid,
	    const struct msg_rec *rec)
{
	struct msg_key key = msg_key(mailbox, uid);
	MDB_val k = mdb_val(&key, sizeof(key)), v = mdb_val(rec, sizeof(*rec) + rec->name_len);
	uint32_t was;
	bool existed = old_flags(u, txn, &k, &was);
	int ret = user_rc(mdb_put(txn, u->msgs, &k, &v, 0), "message record", NULL);
	if (ret == STORE_OK)
		ret = uidlist_update(u, txn, mailbox, uid, existed ? &was : NULL, &rec->flags);
	return ret;
}

int msg_del(struct store_user *u, MDB_txn *txn, uint32_t mailbox, uint32_t uid)
{
	struct msg_key key = msg_key(mailbox, uid);
	MDB_val k = mdb_val(&key, sizeof(key));
	uint32_t was;
	if (!old_flags(u, txn, &k, &was))
		return STORE_ERR_NOT_FOUND;
	int ret = user_rc(mdb_del(txn, u->msgs, &k, NULL), "message record", NULL);
	if (ret == STORE_OK)
		ret = uidlist_update(u, txn, mailbox, uid, &was, NULL);
	return ret;
}

int modseq_move(struct store_user *u, MDB_txn *txn, uint32_t mailbox, uint32_t uid,
		uint64_t old_modseq, uint64_t new_modseq, uint32_t kind)
{
	if (old_modseq != 0) {
		/* Only live messages move, and their entries are CHANGED ones. */
		struct modseq_key ok = modseq_key(mailbox, old_modseq);
		struct modseq_val ov = { uid, MODSEQ_CHANGED };
		MDB_val k = mdb_val(&ok, sizeof(ok)), v = mdb_val(&ov, sizeof(ov));
		int rc = mdb_del(txn, u->modseq, &k, &v);
		if (rc != 0 && rc != MDB_NOTFOUND)
			return user_rc(rc, "modseq", NULL);
	}
	struct modseq_key nk = modseq_key(mailbox, new_modseq);
	struct modseq_val nv = { uid, kind };
	MDB_val k = mdb_val(&nk, sizeof(nk)), v = mdb_val(&nv, sizeof(nv));
	return user_rc(mdb_put(txn, u->modseq, &k, &v, 0), "modseq", NULL);
}

struct uid_array {
	uint32_t *uids;
	size_t count, cap;
};

static void append_chunk(void *ctx, const uint32_t *uids, size_t count)
{
	struct uid_array *a = ctx;
	if (a->count + count > a->cap) {
		a->cap = a->count + count > a->cap * 2 ? a->count + count : a->cap * 2;
		a->uids = xreallocarray(a->uids, a->cap, sizeof(*a->uids));
	}
	memcpy(a->uids + a->count, uids, count * sizeof(*uids));
	a->count += count;
}

int msg_uids(struct store_user *u, MDB_txn *txn, uint32_t mailbox, uint32_t **uids_r,
	     size_t *count_r)
{
	struct uid_array a = { NULL, 0, 0 };
	int ret = uidlist_read(u, txn, mailbox, UIDLIST_ALL, append_chunk, &a);
	if (ret < 0) {
		free(a.uids);
		return ret;
	}
	*uids_r = a.uids;
	*count_r = a.count;
	return STORE_OK;
}

/* ----------------------------------------------------------------- quota */

int quota_add(struct store_user *u, MDB_txn *txn, int64_t bytes, int64_t messages)
{
	uint64_t used_bytes = 0, used_messages = 0;
	user_meta_get_u64(u, txn, "quota_bytes", &used_bytes);
	user_meta_get_u64(u, txn, "quota_messages", &used_messages);
	/* Never below zero, even if an old index disagrees with the files. */
	used_bytes = bytes < 0 && (uint64_t)-bytes > used_bytes ? 0 : used_bytes + (uint64_t)bytes;
	used_messages = messages < 0 && (uint64_t)-messages > used_messages ?
				0 :
				used_messages + (uint64_t)messages;
	int ret = user_meta_put_u64(u, txn, "quota_bytes", used_bytes);
	if (ret == STORE_OK)
		ret = user_meta_put_u64(u, txn, "quota_messages", used_messages);
	return ret;
}

int quota_check(struct store_user *u, MDB_txn *txn, uint64_t bytes, uint64_t messages)
{
	uint64_t limit_bytes, limit_messages;
	if (store_quota_limits(u->store, u->name, &limit_bytes, &limit_messages) < 0)
		return STORE_ERR_IO;
	uint64_t used_bytes = 0, used_messages = 0;
	user_meta_get_u64(u, txn, "quota_bytes", &used_bytes);
	user_meta_get_u64(u, txn, "quota_messages", &used_messages);
	if (limit_bytes != 0 && used_bytes + bytes > limit_bytes)
		return STORE_ERR_QUOTA;
	if (limit_messages != 0 && used_messages + messages > limit_messages)
		return STORE_ERR_QUOTA;
	return STORE_OK;
}

int store_quota_get(struct store_user *u, struct store_quota *q)
{
	memset(q, 0, sizeof(*q));
	int ret = store_quota_limits(u->store, u->name, &q->limit_bytes, &q->limit_messages);
	if (ret < 0)
		return ret;
	MDB_txn *txn;
	if ((ret = user_txn_begin(u, false, &txn, NULL)) < 0)
		return ret;
	user_meta_get_u64(u, txn, "quota_bytes", &q->used_bytes);
	user_meta_get_u64(u, txn, "quota_messages", &q->used_messages);
	user_txn_abort(u, txn);
	return STORE_OK;
}
