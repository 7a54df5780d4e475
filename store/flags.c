/*
 * Changing flags and expunging, through a view.
 *
 * The index is authoritative; the ":2," suffix of the file name follows it
 * (so a lost index comes back with its flags). Each transaction does its
 * LMDB work (flag changes, expunges, or both: POP3's UPDATE state), then
 * the renames, then commits; a failed commit puts renamed files back.
 * An expunge of many messages records their files in the graveyard in the
 * same transaction and removes them after the commit (graveyard.c), so
 * neither the client's answer nor other writers wait for the unlinks; a
 * few files are unlinked before the commit. Either way an expunged
 * message never comes back.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/xalloc.h"
#include "store/view.h"

struct rename_op {
	char *from, *to;
};

static void free_ops(struct rename_op *ops, size_t count)
{
	for (size_t i = 0; i < count; i++) {
		free(ops[i].from);
		free(ops[i].to);
	}
	free(ops);
}

static uint32_t apply_op(enum store_flag_op op, uint32_t old, uint32_t flags)
{
	switch (op) {
	case STORE_FLAGS_ADD:
		return old | flags;
	case STORE_FLAGS_REMOVE:
		return old & ~flags;
	case STORE_FLAGS_REPLACE:
		break;
	}
	return flags;
}

static uint64_t apply_op64(enum store_flag_op op, uint64_t old, uint64_t mask)
{
	switch (op) {
	case STORE_FLAGS_ADD:
		return old | mask;
	case STORE_FLAGS_REMOVE:
		return old & ~mask;
	case STORE_FLAGS_REPLACE:
		break;
	}
	return mask;
}

static int view_mailbox(struct store_view *v, MDB_txn *txn, struct mailbox_rec *rec,
			char **error_r)
{
	int ret = user_get_mailbox(v->u, txn, v->mailbox, rec);
	if (ret < 0 || rec->id != v->mailbox_id || rec->uidvalidity != v->uidvalidity)
		return store_fail(STORE_ERR_GONE, error_r, "mailbox was deleted or recreated");
	return STORE_OK;
}

/* Gives every keyword in `mask` a file-name letter if one is free. */
static bool assign_letters(struct mailbox_file *mf, uint64_t mask, char *const *names)
{
	bool changed = false;
	for (unsigned int id = 0; id < STORE_MAX_KEYWORDS; id++) {
		if (!(mask & (1ULL << id)) || names[id] == NULL)
			continue;
		int free_letter = -1;
		bool has = false;
		for (int l = 0; l < 26 && !has; l++) {
			if (mf->keywords[l] == NULL)
				free_letter = free_letter < 0 ? l : free_letter;
			else
				has = strcmp(mf->keywords[l], names[id]) == 0;
		}
		if (!has && free_letter >= 0) {
			mf->keywords[free_letter] = xstrdup(names[id]);
			changed = true;
		}
	}
	return changed;
}

struct flags_job {
	struct store_view *v;
	const uint32_t *uids;
	size_t count;
	enum store_flag_op op;
	uint32_t flags;
	const struct store_keywords *keywords;
	struct mailbox_file mf;
	bool mf_dirty;
	char *names[STORE_MAX_KEYWORDS];
	struct rename_op *ops;
	size_t op_count;
	bool bumped;	/* took the transaction's MODSEQ */
};

static int flags_index(struct flags_job *j, MDB_txn *txn, char **error_r)
{
	struct store_view *v = j->v;
	struct store_user *u = v->u;
	struct mailbox_rec rec;
	int ret = view_mailbox(v, txn, &rec, error_r);
	if (ret < 0)
		return ret;
	uint64_t mask = 0;
	ret = user_keywords_mask(u, txn, j->keywords, j->op != STORE_FLAGS_REMOVE, &mask);
	if (ret < 0)
		return store_fail(ret, error_r, ret == STORE_ERR_LIMIT ? "too many keywords" :
								     "keywords unreadable");
	if ((ret = user_keyword_names(u, txn, j->names)) < 0)
		return ret;
	mailbox_file_read(v->folder, &j->mf);
	/* Letters are assigned from the new keywords before any old path is
	   computed, so old names stay as they are on disk. */
	struct mailbox_file old_mf = { 0 };
	for (int l = 0; l < 26; l++)
		old_mf.keywords[l] = j->mf.keywords[l] ? xstrdup(j->mf.keywords[l]) : NULL;
	if (j->op != STORE_FLAGS_REMOVE)
		j->mf_dirty = assign_letters(&j->mf, mask, j->names);

	j->ops = xcalloc(j->count ? j->count : 1, sizeof(*j->ops));
	for (size_t i = 0; i < j->count; i++) {
		struct msg_info mi;
		ret = msg_get(u, txn, rec.id, j->uids[i], &mi);
		if (ret == STORE_ERR_NOT_FOUND) {
			ret = STORE_OK;
			continue;
		}
		if (ret < 0)
			break;
		uint32_t flags = apply_op(j->op, mi.flags, j->flags & STORE_FLAGS_ALL);
		uint64_t keywords = apply_op64(j->op, mi.keywords, mask);
		if (flags == mi.flags && keywords == mi.keywords)
			continue;
		if (!j->bumped) {
			rec.highest_modseq++;
			j->bumped = true;
		}
		struct msg_rec *nr = msg_rec_new((const char *)mi.name.ptr, mi.name.len);
		nr->internaldate = mi.internaldate;
		nr->size = mi.size;
		if (!(mi.flags & STORE_FLAG_SEEN) && (flags & STORE_FLAG_SEEN))
			rec.unseen--;
		else if ((mi.flags & STORE_FLAG_SEEN) && !(flags & STORE_FLAG_SEEN))
			rec.unseen++;
		j->ops[j->op_count].from = msgfile_current_path(v->folder, mi.name, mi.flags,
								mi.keywords, &old_mf, j->names);
		uint64_t old_modseq = mi.modseq;
		nr->flags = flags;
		nr->keywords = keywords;
		nr->modseq = rec.highest_modseq;
		j->ops[j->op_count].to = msgfile_current_path(v->folder, mi.name, flags, keywords, &j->mf,
							      j->names);
		j->op_count++;
		ret = msg_put(u, txn, rec.id, j->uids[i], nr);
		if (ret == STORE_OK)
			ret = modseq_move(u, txn, rec.id, j->uids[i], old_modseq, nr->modseq,
					  MODSEQ_CHANGED);
		free(nr);
		if (ret < 0)
			break;
	}
	mailbox_file_free(&old_mf);
	if (ret == STORE_OK && j->bumped)
		ret = user_put_mailbox(u, txn, v->mailbox, &rec);
	return ret;
}

static void rename_files(struct flags_job *j)
{
	for (size_t i = 0; i < j->op_count; i++) {
		if (strcmp(j->ops[i].from, j->ops[i].to) == 0)
			continue;
		if (rename(j->ops[i].from, j->ops[i].to) == 0)
			continue;
		/* The name on disk lags (crash, or another tool): find it. */
		char *found = msgfile_find_path(j->v->folder, j->ops[i].to);
		if (found != NULL && rename(found, j->ops[i].to) == 0) {
			free(j->ops[i].from);
			j->ops[i].from = found;
		} else {
			free(found);
		}
	}
}

static void undo_renames(struct flags_job *j)
{
	for (size_t i = 0; i < j->op_count; i++)
		if (strcmp(j->ops[i].from, j->ops[i].to) != 0)
			rename(j->ops[i].to, j->ops[i].from);
}

/* -------------------------------------------------------------- expunge */

struct expunge_job {
	struct store_view *v;
	const uint32_t *uids;
	size_t count;
	size_t expunged;  /* records removed (a file may already be gone) */
	char **paths;	  /* their files: where the index says they are */
	uint32_t *path_uids;
	size_t path_count;
	bool deferred;	  /* the files wait in the graveyard, not unlinked here */
	uint32_t uidnext;
	bool any_flags;	  /* store_view_expunge_uids: \Deleted or not */
	bool modseq_taken; /* flag changes in the transaction bumped it already */
};

static int expunge_one(struct expunge_job *j, MDB_txn *txn, struct mailbox_rec *rec,
		       uint32_t uid, const struct mailbox_file *mf, char **names)
{
	struct store_user *u = j->v->u;
	struct msg_info old;
	int ret = msg_get(u, txn, rec->id, uid, &old);
	if (ret == STORE_ERR_NOT_FOUND)
		return STORE_OK;
	if (ret < 0)
		return ret;
	if (!(old.flags & STORE_FLAG_DELETED) && !j->any_flags)
		return STORE_OK;
	/* Where the file should be; msgfile_unlink looks for it by its base
	   name only if it is not there. */
	char *path = msgfile_current_path(j->v->folder, old.name, old.flags, old.keywords, mf, names);
	ret = msgindex_del(u, txn, rec, uid);
	if (ret == STORE_OK)
		ret = msg_del(u, txn, rec->id, uid);
	if (ret == STORE_OK)
		ret = modseq_move(u, txn, rec->id, uid, old.modseq, rec->highest_modseq,
				  MODSEQ_EXPUNGED);
	if (ret < 0) {
		free(path);
		return ret;
	}
	rec->messages--;
	rec->size -= old.size;
	if (!(old.flags & STORE_FLAG_SEEN))
		rec->unseen--;
	j->paths[j->path_count] = path;
	j->path_uids[j->path_count++] = uid;
	j->expunged++;
	return quota_add(u, txn, -(int64_t)old.size, -1);
}

static int expunge_index(struct expunge_job *j, MDB_txn *txn, char **error_r)
{
	struct store_view *v = j->v;
	struct store_user *u = v->u;
	struct mailbox_rec rec;
	int ret = view_mailbox(v, txn, &rec, error_r);
	if (ret < 0)
		return ret;
	uint32_t *all = NULL;
	const uint32_t *uids = j->uids;
	size_t count = j->count;
	if (uids == NULL) {
		/* Every message of the mailbox (those without \Deleted are
		   skipped by expunge_one). */
		if ((ret = msg_uids(u, txn, rec.id, &all, &count)) < 0)
			return ret;
		uids = all;
	}
	char *names[STORE_MAX_KEYWORDS];
	user_keyword_names(u, txn, names);
	struct mailbox_file mf;
	mailbox_file_read(v->folder, &mf);
	if (!j->modseq_taken)
		rec.highest_modseq++;
	j->paths = xcalloc(count ? count : 1, sizeof(char *));
	j->path_uids = xcalloc(count ? count : 1, sizeof(uint32_t));
	for (size_t i = 0; ret == STORE_OK && i < count; i++)
		ret = expunge_one(j, txn, &rec, uids[i], &mf, names);
	/* Many files go after the commit (graveyard.c); a few cost less
	   unlinked here than a second commit costs later. */
	j->deferred = j->path_count >= GRAVEYARD_MIN_FILES;
	for (size_t i = 0; ret == STORE_OK && j->deferred && i < j->path_count; i++)
		ret = graveyard_add(u, txn, rec.id, j->path_uids[i], j->paths[i]);
	keyword_names_free(names);
	mailbox_file_free(&mf);
	free(all);
	j->uidnext = rec.uidnext;
	if (ret == STORE_OK && j->expunged > 0)
		ret = user_put_mailbox(u, txn, v->mailbox, &rec);
	return ret;
}

/* ------------------------------------------------------------ drivers */

/* What one write transaction does: flag changes, then expunges. */
struct change {
	bool set_flags;
	const uint32_t *flag_uids;
	size_t flag_count;
	enum store_flag_op op;
	uint32_t flags;
	const struct store_keywords *keywords;
	bool expunge;
	const uint32_t *expunge_uids; /* NULL: every message (with \Deleted) */
	size_t expunge_count;
	bool any_flags; /* expunge whatever the flags */
};

/* The index work first, then the renames (and the unlinks of a small
   expunge), then the commit; a failed commit puts renamed files back.
   After it, the files of a large expunge go (on the graveyard's thread).
   One MODSEQ and one notification for all of it. */
static int apply(struct store_view *v, const struct change *c, char **error_r)
{
	if (store_view_readonly(v))
		return store_fail(STORE_ERR_NOT_ALLOWED, error_r, "mailbox is read-only");
	struct store_user *u = v->u;
	for (;;) {
		struct flags_job fj = { .v = v, .uids = c->flag_uids, .count = c->flag_count,
					.op = c->op, .flags = c->flags, .keywords = c->keywords };
		struct expunge_job ej = { .v = v, .uids = c->expunge_uids,
					  .count = c->expunge_count, .any_flags = c->any_flags };
		MDB_txn *txn;
		int ret = user_txn_begin(u, true, &txn, error_r);
		if (ret < 0)
			return ret;
		if (c->set_flags)
			ret = flags_index(&fj, txn, error_r);
		if (ret == STORE_OK && c->expunge) {
			ej.modseq_taken = fj.bumped;
			ret = expunge_index(&ej, txn, error_r);
		}
		if (ret == STORE_OK && (c->set_flags || ej.expunged > 0)) {
			if (fj.mf_dirty)
				mailbox_file_write(v->folder, &fj.mf, false);
			rename_files(&fj);
			if (!ej.deferred && ej.path_count > 0) {
				/* Unlinked before the commit: a crash leaves at worst
				   a record without its file, which check expunges,
				   never an expunged message back. A file already
				   gone was expunged by another process. */
				for (size_t i = 0; i < ej.path_count; i++)
					msgfile_unlink(v->folder, ej.paths[i]);
				char *cur = xasprintf("%s/cur", v->folder);
				fsync_dir(cur);
				free(cur);
			}
			ret = user_txn_commit(u, txn, error_r);
			if (ret != STORE_OK)
				undo_renames(&fj);
		} else {
			user_txn_abort(u, txn);
		}
		bool changed = fj.op_count > 0 || ej.expunged > 0;
		for (size_t i = 0; i < ej.path_count; i++)
			free(ej.paths[i]);
		free(ej.paths);
		free(ej.path_uids);
		free_ops(fj.ops, fj.op_count);
		keyword_names_free(fj.names);
		mailbox_file_free(&fj.mf);
		if (ret == STORE_OK && ej.expunged > 0) {
			/* The UIDs just freed must never come back, even if the
			   index is lost and rebuilt from file names. */
			struct mailbox_file mf;
			if (mailbox_file_read(v->folder, &mf) == STORE_OK) {
				if (mf.uidnext_floor < ej.uidnext) {
					mf.uidnext_floor = ej.uidnext;
					mailbox_file_write(v->folder, &mf, false);
				}
				mailbox_file_free(&mf);
			}
		}
		if (ret == STORE_OK && changed)
			notify_send(u->store, u->name, v->mailbox);
		if (ret == STORE_OK && ej.deferred)
			background_queue(u, BACKGROUND_PURGE, NULL);
		if (ret != STORE_RETRY)
			return ret;
		if ((ret = user_grow_map(u, error_r)) < 0)
			return ret;
	}
}

int store_view_set_flags(struct store_view *v, const uint32_t *uids, size_t count,
			 enum store_flag_op op, uint32_t flags, const struct store_keywords *keywords,
			 char **error_r)
{
	struct change c = { .set_flags = true, .flag_uids = uids, .flag_count = count, .op = op,
			    .flags = flags, .keywords = keywords };
	return apply(v, &c, error_r);
}

int store_view_expunge(struct store_view *v, const uint32_t *uids, size_t count, char **error_r)
{
	struct change c = { .expunge = true, .expunge_uids = uids, .expunge_count = count };
	return apply(v, &c, error_r);
}

/* For POP3's UPDATE state: DELE is the decision to delete, so the
   \Deleted pass (a rename of every file, and a commit) is skipped. */
int store_view_expunge_uids(struct store_view *v, const uint32_t *uids, size_t count,
			    char **error_r)
{
	if (uids == NULL)
		return store_fail(STORE_ERR_INVALID, error_r, "no UIDs to expunge");
	struct change c = { .expunge = true, .expunge_uids = uids, .expunge_count = count,
			    .any_flags = true };
	return apply(v, &c, error_r);
}

int store_view_flag_and_expunge(struct store_view *v, const uint32_t *flag_uids,
				size_t flag_count, uint32_t flags, const uint32_t *expunge_uids,
				size_t expunge_count, char **error_r)
{
	struct change c = { .set_flags = flag_count > 0, .flag_uids = flag_uids,
			    .flag_count = flag_count, .op = STORE_FLAGS_ADD, .flags = flags,
			    .expunge = expunge_count > 0, .expunge_uids = expunge_uids,
			    .expunge_count = expunge_count, .any_flags = true };
	return apply(v, &c, error_r);
}
