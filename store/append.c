/*
 * The commit phase of storing messages (see draft.c for the first phase).
 *
 * One LMDB write transaction takes a batch of finished drafts: quota,
 * UIDs, records and index entries first (LMDB work can be retried if the
 * map must grow), then each draft's file is put in cur/ with the UID in
 * its name (linked, or renamed from tmp/: draft.c), and the commit, with
 * an fsync of every cur/ touched beside it (dirsync.c). Only after both
 * have returned may the caller acknowledge. If the commit fails the files
 * leave cur/ again and are removed: nothing half-visible remains.
 *
 * store_deliver() adds group commit: concurrent callers queue up and the
 * first one commits everyone's messages in a single transaction, so
 * delivery throughput grows with concurrency instead of being one fsync
 * pair per message.
 */
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/xalloc.h"
#include "store/internal.h"

/* The mailboxes a batch touches, loaded once per transaction. */
struct batch_mailbox {
	char *name;
	char *folder;
	struct mailbox_rec rec;
	struct mailbox_file mf;
	bool mf_loaded, mf_dirty;
	bool bumped; /* HIGHESTMODSEQ already raised in this transaction */
};

struct batch {
	struct store_user *u;
	struct batch_mailbox *boxes;
	size_t box_count;
	char *keyword_names[STORE_MAX_KEYWORDS];
	char **cur_dirs; /* per mailbox, after move_files: its cur/ to fsync */
	/* per item */
	char **final_paths;
};

static void batch_free(struct batch *b, size_t items)
{
	for (size_t i = 0; i < b->box_count; i++) {
		free(b->boxes[i].name);
		free(b->boxes[i].folder);
		mailbox_file_free(&b->boxes[i].mf);
		if (b->cur_dirs != NULL)
			free(b->cur_dirs[i]);
	}
	free(b->cur_dirs);
	free(b->boxes);
	keyword_names_free(b->keyword_names);
	for (size_t i = 0; i < items && b->final_paths != NULL; i++)
		free(b->final_paths[i]);
	free(b->final_paths);
	memset(b, 0, sizeof(*b));
}

static int batch_mailbox(struct batch *b, MDB_txn *txn, const char *name,
			 struct batch_mailbox **box_r)
{
	char *canonical = mailbox_canonical(name);
	for (size_t i = 0; i < b->box_count; i++) {
		if (strcmp(b->boxes[i].name, canonical) == 0) {
			free(canonical);
			*box_r = &b->boxes[i];
			return STORE_OK;
		}
	}
	struct mailbox_rec rec;
	int ret = user_get_mailbox(b->u, txn, canonical, &rec);
	if (ret == STORE_OK && (rec.flags & MAILBOX_NOSELECT))
		ret = STORE_ERR_NOT_FOUND;
	if (ret < 0) {
		free(canonical);
		return ret;
	}
	b->boxes = xreallocarray(b->boxes, b->box_count + 1, sizeof(*b->boxes));
	b->cur_dirs = xreallocarray(b->cur_dirs, b->box_count + 1, sizeof(*b->cur_dirs));
	b->cur_dirs[b->box_count] = NULL;
	struct batch_mailbox *box = &b->boxes[b->box_count++];
	memset(box, 0, sizeof(*box));
	box->name = canonical;
	box->folder = mailbox_path(b->u, canonical);
	box->rec = rec;
	*box_r = box;
	return STORE_OK;
}

/* Letters a-z in file names stand for keywords, per folder. A keyword
   without a letter gets the first free one (the folder's petrel-mailbox
   records it); past 26 keywords live in the index only. */
static void assign_letters(struct batch *b, struct batch_mailbox *box, uint64_t keywords)
{
	if (!box->mf_loaded) {
		mailbox_file_read(box->folder, &box->mf);
		box->mf_loaded = true;
	}
	for (unsigned int id = 0; id < STORE_MAX_KEYWORDS; id++) {
		if (!(keywords & (1ULL << id)) || b->keyword_names[id] == NULL)
			continue;
		int free_letter = -1;
		bool has = false;
		for (int l = 0; l < 26 && !has; l++) {
			if (box->mf.keywords[l] == NULL) {
				if (free_letter < 0)
					free_letter = l;
			} else if (strcmp(box->mf.keywords[l], b->keyword_names[id]) == 0) {
				has = true;
			}
		}
		if (!has && free_letter >= 0) {
			box->mf.keywords[free_letter] = xstrdup(b->keyword_names[id]);
			box->mf_dirty = true;
		}
	}
}

/* All LMDB work of the batch. Returns STORE_RETRY when the map is full. */
static int index_batch(struct batch *b, MDB_txn *txn, struct store_append *items, size_t count,
		       char **error_r)
{
	struct store_user *u = b->u;
	uint64_t batch_bytes = 0, batch_messages = 0;
	int64_t now = (int64_t)time(NULL);
	int ret = user_keyword_names(u, txn, b->keyword_names);
	if (ret < 0)
		return ret;

	for (size_t i = 0; i < count; i++) {
		struct store_append *item = &items[i];
		struct store_draft *d = item->draft;
		if (d == NULL || !d->finished) {
			item->result = STORE_ERR_INVALID;
			continue;
		}
		struct batch_mailbox *box;
		item->result = batch_mailbox(b, txn, item->mailbox, &box);
		if (item->result < 0)
			continue;
		item->result = quota_check(u, txn, batch_bytes + d->size, batch_messages + 1);
		if (item->result < 0)
			continue;
		uint64_t keywords = 0;
		ret = user_keywords_mask(u, txn, &item->keywords, true, &keywords);
		if (ret == STORE_RETRY)
			return ret;
		if (ret < 0) {
			item->result = ret;
			continue;
		}
		if (keywords != 0) {
			/* New ids may have been made: refresh the names. */
			keyword_names_free(b->keyword_names);
			if ((ret = user_keyword_names(u, txn, b->keyword_names)) < 0)
				return ret;
			assign_letters(b, box, keywords);
		}

		if (box->rec.uidnext == UINT32_MAX) {
			item->result = STORE_ERR_LIMIT; /* RFC 3501: UIDs are 32 bits */
			continue;
		}
		uint32_t uid = box->rec.uidnext++;
		if (!box->bumped) {
			box->rec.highest_modseq++;
			box->bumped = true;
		}
		char *name = xasprintf("%s,S=%llu,W=%llu,U=%u", d->base, (unsigned long long)d->size,
				       (unsigned long long)d->size, uid);
		struct msg_rec *rec = msg_rec_new(name, strlen(name));
		free(name);
		rec->flags = item->flags & STORE_FLAGS_ALL;
		rec->keywords = keywords;
		rec->modseq = box->rec.highest_modseq;
		rec->internaldate = item->internaldate != 0 ? item->internaldate : now;
		item->internaldate = rec->internaldate;
		rec->size = d->size;
		ret = msg_put(u, txn, box->rec.id, uid, rec);
		if (ret == STORE_OK)
			ret = modseq_move(u, txn, box->rec.id, uid, 0, rec->modseq, MODSEQ_CHANGED);
		if (ret == STORE_OK)
			ret = msgindex_put(u, txn, &box->rec, uid, d->mime, buf_span(&d->fields),
					   buf_span(&d->words), error_r);
		if (ret < 0) {
			free(rec);
			return ret; /* the whole transaction fails (or retries) */
		}
		char suffix[64];
		msgfile_flag_suffix(rec->flags, rec->keywords, &box->mf, (const char *const *)b->keyword_names,
				    suffix, sizeof(suffix));
		b->final_paths[i] = msgfile_path(box->folder, rec->name, rec->name_len, suffix);
		free(rec);
		box->rec.messages++;
		box->rec.size += d->size;
		if (!(item->flags & STORE_FLAG_SEEN))
			box->rec.unseen++;
		item->uid = uid;
		item->uidvalidity = box->rec.uidvalidity;
		batch_bytes += d->size;
		batch_messages++;
	}
	if (batch_messages == 0)
		return STORE_OK;
	ret = quota_add(u, txn, (int64_t)batch_bytes, (int64_t)batch_messages);
	for (size_t i = 0; ret == STORE_OK && i < b->box_count; i++)
		ret = user_put_mailbox(u, txn, b->boxes[i].name, &b->boxes[i].rec);
	return ret;
}

/* Takes placed files out of cur/ again (the commit failed). */
static void undo_places(struct store_append *items, size_t count, char **final_paths)
{
	for (size_t i = 0; i < count; i++)
		if (items[i].result == STORE_OK && final_paths[i] != NULL)
			draft_unplace(items[i].draft, final_paths[i]);
}

static int move_files(struct batch *b, struct store_append *items, size_t count, char **error_r)
{
	for (size_t i = 0; i < count; i++) {
		if (items[i].result != STORE_OK)
			continue;
		if (draft_place(items[i].draft, b->final_paths[i], items[i].internaldate) < 0) {
			int ret = store_sys_error("cannot move into place", b->final_paths[i], error_r);
			undo_places(items, i, b->final_paths);
			return ret;
		}
	}
	for (size_t i = 0; i < b->box_count; i++) {
		struct batch_mailbox *box = &b->boxes[i];
		if (box->mf_dirty)
			mailbox_file_write(box->folder, &box->mf, true);
		b->cur_dirs[i] = xasprintf("%s/cur", box->folder);
	}
	return STORE_OK;
}

/* Mailboxes whose pending word lists reached MERGE_BATCH after a commit. */
struct merge_list {
	char **names;
	size_t count;
};

/* True while deliveries wait for the write lock or are being committed. */
static bool commits_waiting(struct store_user *u)
{
	pthread_mutex_lock(&u->commit_lock);
	bool waiting = u->queue != NULL || u->committing;
	pthread_mutex_unlock(&u->commit_lock);
	return waiting;
}

void append_give_way(struct store_user *u)
{
	pthread_mutex_lock(&u->commit_lock);
	unsigned long seen = u->commits;
	while ((u->queue != NULL || u->committing) && u->commits == seen)
		pthread_cond_wait(&u->commit_cond, &u->commit_lock);
	pthread_mutex_unlock(&u->commit_lock);
}

void append_merge_due(struct store_user *u, const char *mailbox)
{
	/* A merge failing is not the caller's problem: the lists stay
	   pending, searchable, and the next commit tries again.
	   The merge writes under the index's write lock (it collects and
	   groups the lists before taking it), so it goes in chunks and
	   gives way as soon as deliveries queue up: they are what clients
	   wait for. Under constant load every commit that finds the
	   threshold crossed has a merge of at least one chunk done, more
	   than its group added, so pending lists stay near MERGE_BATCH.
	   One merge at a time: another would collect the same lists while
	   the first holds them, only to find them gone. */
	if (pthread_mutex_trylock(&u->merge_lock) != 0)
		return;
	uint32_t left = MERGE_CHUNK;
	for (unsigned round = 0; round < MERGE_BATCH * 4 / MERGE_CHUNK && left >= MERGE_CHUNK;
	     round++) {
		if (wordindex_merge(u, mailbox, MERGE_CHUNK, &left, NULL) != STORE_OK ||
		    commits_waiting(u))
			break;
	}
	pthread_mutex_unlock(&u->merge_lock);
}

/* The merges a commit made due: in line (store_append: bulk appends and
   imports are held back by their own merges instead of outrunning them),
   or on the background thread (deliveries: nobody's 250 waits for one). */
static void merges_due(struct store_user *u, struct merge_list *ml, bool in_background)
{
	for (size_t i = 0; i < ml->count; i++) {
		if (in_background)
			background_queue(u, BACKGROUND_MERGE, ml->names[i]);
		else
			append_merge_due(u, ml->names[i]);
		free(ml->names[i]);
	}
	free(ml->names);
	ml->names = NULL;
	ml->count = 0;
}

static int append_batch(struct store_user *u, struct store_append *items, size_t count,
			struct merge_list *ml, char **error_r)
{
	struct batch b;
	/* A writer that died mid-commit left files that would collide with
	   the UIDs about to be handed out: clear them first. */
	int ret = check_crashed_writers(u, error_r);
	if (ret < 0)
		return ret;
	for (;;) {
		memset(&b, 0, sizeof(b));
		b.u = u;
		b.final_paths = xcalloc(count ? count : 1, sizeof(char *));
		for (size_t i = 0; i < count; i++)
			items[i].result = STORE_OK;
		MDB_txn *txn;
		ret = user_txn_begin(u, true, &txn, error_r);
		if (ret < 0)
			break;
		ret = index_batch(&b, txn, items, count, error_r);
		if (ret == STORE_OK) {
			check_mark_writer(u);
			ret = move_files(&b, items, count, error_r);
		}
		if (ret != STORE_OK) {
			user_txn_abort(u, txn);
		} else {
			/* The new names are made durable while the index commits;
			   the caller acknowledges only once both are. A crash
			   between the two leaves, for messages never acknowledged,
			   either files without records or records without files,
			   and store_check resolves both. */
			struct dir_sync ds;
			dir_sync_start(&ds, b.cur_dirs, b.box_count);
			ret = user_txn_commit(u, txn, error_r);
			int synced = dir_sync_finish(&ds, ret == STORE_OK ? error_r : NULL);
			if (ret != STORE_OK)
				undo_places(items, count, b.final_paths);
			else
				ret = synced; /* committed, but not known durable: no 250 */
		}
		if (ret != STORE_RETRY)
			break;
		batch_free(&b, count);
		if ((ret = user_grow_map(u, error_r)) < 0)
			break;
	}

	/* Drafts are consumed either way: committed files now live in cur/,
	   everything else is removed. */
	for (size_t i = 0; i < count; i++) {
		if (ret != STORE_OK)
			items[i].result = ret;
		if (items[i].result == STORE_OK)
			draft_consumed(&items[i].draft);
		else
			store_draft_abort(&items[i].draft);
	}
	if (ret == STORE_OK)
		for (size_t i = 0; i < b.box_count; i++) {
			notify_send(u->store, u->name, b.boxes[i].name);
			if (b.boxes[i].rec.pending >= MERGE_BATCH) {
				ml->names = xreallocarray(ml->names, ml->count + 1, sizeof(char *));
				ml->names[ml->count++] = xstrdup(b.boxes[i].name);
			}
		}
	batch_free(&b, count);
	return ret;
}

int store_append(struct store_user *u, struct store_append *items, size_t count, char **error_r)
{
	struct merge_list ml = { NULL, 0 };
	int ret = append_batch(u, items, count, &ml, error_r);
	merges_due(u, &ml, false);
	return ret;
}

int store_deliver(struct store_user *u, struct store_append *item, char **error_r)
{
	struct deliver_waiter me = { .item = item };
	sem_init(&me.wake, 0, 0);
	pthread_mutex_lock(&u->commit_lock);
	struct deliver_waiter **tail = &u->queue;
	while (*tail != NULL)
		tail = &(*tail)->next;
	*tail = &me;
	/* Nobody committing: lead at once. Otherwise wait to be told that
	   our commit is done, or that we lead the next one. */
	bool lead = !u->committing;
	u->committing = true;
	pthread_mutex_unlock(&u->commit_lock);
	if (!lead)
		while (sem_wait(&me.wake) != 0)
			; /* EINTR */

	if (!me.done) {
		/* Lead: commit everything queued so far, ours included. */
		pthread_mutex_lock(&u->commit_lock);
		struct deliver_waiter *batch = u->queue;
		u->queue = NULL;
		pthread_mutex_unlock(&u->commit_lock);

		size_t n = 0;
		for (struct deliver_waiter *w = batch; w != NULL; w = w->next)
			n++;
		struct store_append *items = xcalloc(n, sizeof(*items));
		size_t i = 0;
		for (struct deliver_waiter *w = batch; w != NULL; w = w->next)
			items[i++] = *w->item;
		char *error = NULL;
		struct merge_list ml = { NULL, 0 };
		int ret = append_batch(u, items, n, &ml, &error);

		/* Whoever queued meanwhile is led by its first: the queue
		   stays "committing", so no one else starts a commit. */
		pthread_mutex_lock(&u->commit_lock);
		struct deliver_waiter *next_leader = u->queue;
		if (next_leader == NULL)
			u->committing = false;
		u->commits++;
		pthread_cond_broadcast(&u->commit_cond);
		pthread_mutex_unlock(&u->commit_lock);

		i = 0;
		for (struct deliver_waiter *w = batch, *next; w != NULL; w = next) {
			next = w->next; /* w may be gone once posted */
			*w->item = items[i++];
			if (ret != STORE_OK && error != NULL)
				w->error = xstrdup(error);
			w->done = true;
			if (w != &me)
				sem_post(&w->wake);
		}
		if (next_leader != NULL)
			sem_post(&next_leader->wake); /* not done: it leads */
		free(items);
		free(error);
		merges_due(u, &ml, true);
	}
	sem_destroy(&me.wake);
	if (me.error != NULL) {
		if (error_r != NULL && *error_r == NULL)
			*error_r = me.error;
		else
			free(me.error);
	}
	return item->result;
}
