/*
 * COPY and MOVE between mailboxes of one user.
 *
 * A copy is a hard link (no bytes are copied; the Maildir stays standard
 * for other tools, which see two files) under a fresh name with the new
 * UID; a move is a rename. The index records are copied within the same
 * transaction, so the destination never shows a message without its
 * ENVELOPE or search terms. Copies count against the quota; moves do not.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include "common/xalloc.h"
#include "store/view.h"

struct transfer_op {
	char *from, *to;
};

struct transfer {
	struct store_user *u;
	const char *src, *dest;	      /* canonical names */
	char *src_folder, *dest_folder;
	const uint32_t *uids;
	size_t count;
	bool move;
	uint32_t src_id, src_uidvalidity; /* 0: any (not through a view) */
	uint32_t *dest_uids;
	uint32_t dest_uidvalidity;
	struct transfer_op *ops;
	size_t op_count;
};

static char *fresh_base(struct store *s)
{
	struct timeval tv;
	gettimeofday(&tv, NULL);
	return xasprintf("%ld.M%06ldP%ldQ%u.%s", (long)tv.tv_sec, (long)tv.tv_usec, (long)getpid(),
			 msgfile_next_seq(s), s->hostname);
}

static int transfer_index(struct transfer *t, MDB_txn *txn, char **error_r)
{
	struct store_user *u = t->u;
	struct mailbox_rec src, dest;
	int ret = user_get_mailbox(u, txn, t->src, &src);
	if (ret < 0 || (t->src_id != 0 && (src.id != t->src_id ||
					   src.uidvalidity != t->src_uidvalidity)))
		return store_fail(STORE_ERR_GONE, error_r, "source mailbox was deleted or recreated");
	ret = user_get_mailbox(u, txn, t->dest, &dest);
	if (ret < 0 || (dest.flags & MAILBOX_NOSELECT))
		return store_fail(STORE_ERR_NOT_FOUND, error_r, "no such destination mailbox");
	bool same = src.id == dest.id;
	if (same && t->move)
		return store_fail(STORE_ERR_NOT_ALLOWED, error_r, "cannot move into the same mailbox");
	struct mailbox_rec *d = same ? &src : &dest;
	t->dest_uidvalidity = d->uidvalidity;

	char *names[STORE_MAX_KEYWORDS];
	user_keyword_names(u, txn, names);
	struct mailbox_file src_mf, dest_mf;
	mailbox_file_read(t->src_folder, &src_mf);
	mailbox_file_read(t->dest_folder, &dest_mf);
	src.highest_modseq++;
	if (!same)
		dest.highest_modseq++;
	uint64_t added_bytes = 0, added_messages = 0;
	t->ops = xcalloc(t->count ? t->count : 1, sizeof(*t->ops));
	for (size_t i = 0; i < t->count && ret == STORE_OK; i++) {
		struct msg_info old;
		ret = msg_get(u, txn, src.id, t->uids[i], &old);
		if (ret == STORE_ERR_NOT_FOUND) {
			ret = STORE_OK; /* expunged meanwhile: skipped (RFC 3501 allows) */
			continue;
		}
		if (ret < 0)
			break;
		if (d->uidnext == UINT32_MAX) {
			ret = store_fail(STORE_ERR_LIMIT, error_r, "destination is out of UIDs");
			break;
		}
		char *from = msgfile_locate(t->src_folder, old.name, old.flags, old.keywords, &src_mf,
					    names);
		if (from == NULL)
			continue; /* file gone: store_check will expunge it */
		uint32_t uid = d->uidnext++;
		char *base = fresh_base(u->store);
		char *name = xasprintf("%s,S=%llu,W=%llu,U=%u", base, (unsigned long long)old.size,
				       (unsigned long long)old.size, uid);
		free(base);
		struct msg_rec *nr = msg_rec_new(name, strlen(name));
		free(name);
		nr->flags = old.flags;
		nr->keywords = old.keywords;
		nr->internaldate = old.internaldate;
		nr->size = old.size;
		nr->modseq = d->highest_modseq;
		t->ops[t->op_count].from = from;
		t->ops[t->op_count].to = msgfile_current_path(t->dest_folder,
							      span_make(nr->name, nr->name_len),
							      nr->flags, nr->keywords, &dest_mf, names);
		t->op_count++;
		ret = msg_put(u, txn, d->id, uid, nr);
		if (ret == STORE_OK)
			ret = modseq_move(u, txn, d->id, uid, 0, nr->modseq, MODSEQ_CHANGED);
		if (ret == STORE_OK)
			ret = msgindex_copy(u, txn, &src, t->uids[i], d, uid, from, error_r);
		free(nr);
		d->messages++;
		d->size += old.size;
		if (!(old.flags & STORE_FLAG_SEEN))
			d->unseen++;
		t->dest_uids[i] = uid;
		if (ret == STORE_OK && t->move) {
			ret = msgindex_del(u, txn, &src, t->uids[i]);
			if (ret == STORE_OK)
				ret = msg_del(u, txn, src.id, t->uids[i]);
			if (ret == STORE_OK)
				ret = modseq_move(u, txn, src.id, t->uids[i], old.modseq,
						  src.highest_modseq, MODSEQ_EXPUNGED);
			src.messages--;
			src.size -= old.size;
			if (!(old.flags & STORE_FLAG_SEEN))
				src.unseen--;
		} else {
			added_bytes += old.size;
			added_messages++;
		}
	}
	keyword_names_free(names);
	mailbox_file_free(&src_mf);
	mailbox_file_free(&dest_mf);
	if (ret < 0)
		return ret;
	if (added_messages > 0) {
		if (quota_check(u, txn, added_bytes, added_messages) < 0)
			return store_fail(STORE_ERR_QUOTA, error_r, "quota exceeded");
		if ((ret = quota_add(u, txn, (int64_t)added_bytes, (int64_t)added_messages)) < 0)
			return ret;
	}
	ret = user_put_mailbox(u, txn, t->src, &src);
	if (ret == STORE_OK && !same)
		ret = user_put_mailbox(u, txn, t->dest, &dest);
	return ret;
}

static void undo_files(struct transfer *t, size_t done)
{
	for (size_t i = 0; i < done; i++) {
		if (t->move)
			rename(t->ops[i].to, t->ops[i].from);
		else
			unlink(t->ops[i].to);
	}
}

static int transfer_files(struct transfer *t, char **error_r)
{
	for (size_t i = 0; i < t->op_count; i++) {
		int rc = t->move ? rename(t->ops[i].from, t->ops[i].to) :
				   link(t->ops[i].from, t->ops[i].to);
		if (rc < 0) {
			int ret = store_sys_error(t->move ? "cannot move" : "cannot copy", t->ops[i].from,
						  error_r);
			undo_files(t, i);
			return ret;
		}
	}
	char *dest_cur = xasprintf("%s/cur", t->dest_folder);
	int rc = t->op_count > 0 ? fsync_dir(dest_cur) : 0;
	free(dest_cur);
	if (rc < 0) {
		undo_files(t, t->op_count);
		return store_sys_error("cannot fsync", t->dest_folder, error_r);
	}
	return STORE_OK;
}

static int transfer_run(struct transfer *t, char **error_r)
{
	struct store_user *u = t->u;
	t->src_folder = mailbox_path(u, t->src);
	t->dest_folder = mailbox_path(u, t->dest);
	int ret;
	for (;;) {
		memset(t->dest_uids, 0, (t->count ? t->count : 1) * sizeof(uint32_t));
		MDB_txn *txn;
		if ((ret = user_txn_begin(u, true, &txn, error_r)) < 0)
			break;
		ret = transfer_index(t, txn, error_r);
		if (ret == STORE_OK)
			ret = transfer_files(t, error_r);
		if (ret == STORE_OK) {
			ret = user_txn_commit(u, txn, error_r);
			if (ret != STORE_OK)
				undo_files(t, t->op_count);
		} else {
			user_txn_abort(u, txn);
		}
		for (size_t i = 0; i < t->op_count; i++) {
			free(t->ops[i].from);
			free(t->ops[i].to);
		}
		free(t->ops);
		t->ops = NULL;
		bool changed = t->op_count > 0;
		t->op_count = 0;
		if (ret == STORE_OK && changed) {
			notify_send(u->store, u->name, t->dest);
			if (t->move)
				notify_send(u->store, u->name, t->src);
		}
		if (ret != STORE_RETRY)
			break;
		if ((ret = user_grow_map(u, error_r)) < 0)
			break;
	}
	free(t->src_folder);
	free(t->dest_folder);
	return ret;
}

int store_view_copy(struct store_view *v, const uint32_t *uids, size_t count, const char *dest,
		    bool move, uint32_t *dest_uidvalidity_r, uint32_t **dest_uids_r, char **error_r)
{
	const char *why;
	if (store_mailbox_name_check(dest, &why) < 0)
		return store_fail(STORE_ERR_INVALID, error_r, "mailbox name %s", why);
	if (move && store_view_readonly(v))
		return store_fail(STORE_ERR_NOT_ALLOWED, error_r, "mailbox is read-only");
	char *canonical = mailbox_canonical(dest);
	struct transfer t = { .u = v->u, .src = v->mailbox, .dest = canonical, .uids = uids,
			      .count = count, .move = move, .src_id = v->mailbox_id,
			      .src_uidvalidity = v->uidvalidity };
	t.dest_uids = xcalloc(count ? count : 1, sizeof(uint32_t));
	int ret = transfer_run(&t, error_r);
	free(canonical);
	if (ret < 0) {
		free(t.dest_uids);
		return ret;
	}
	*dest_uidvalidity_r = t.dest_uidvalidity;
	*dest_uids_r = t.dest_uids;
	return STORE_OK;
}

int store_move_all(struct store_user *u, const char *from, const char *to, char **error_r)
{
	/* Collect the UIDs, then move them in one transaction. */
	MDB_txn *txn;
	int ret = user_txn_begin(u, false, &txn, error_r);
	if (ret < 0)
		return ret;
	struct mailbox_rec rec;
	if ((ret = user_get_mailbox(u, txn, from, &rec)) < 0) {
		user_txn_abort(u, txn);
		return store_fail(ret, error_r, "no such mailbox");
	}
	uint32_t *uids = NULL;
	size_t count = 0;
	if ((ret = msg_uids(u, txn, rec.id, &uids, &count)) < 0) {
		user_txn_abort(u, txn);
		return ret;
	}
	user_txn_abort(u, txn);
	struct transfer t = { .u = u, .src = from, .dest = to, .uids = uids, .count = count,
			      .move = true };
	t.dest_uids = xcalloc(count ? count : 1, sizeof(uint32_t));
	ret = transfer_run(&t, error_r);
	free(t.dest_uids);
	free(uids);
	return ret;
}
