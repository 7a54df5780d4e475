/*
 * The word index: how SEARCH BODY and TEXT avoid reading message files.
 *
 * Three databases, all keyed by mailbox first:
 *
 *   pending  (mailbox, UID) -> the message's distinct words, header words
 *            and body words apart (msgtext.c). Written by the delivery
 *            commit: a handful of pages, whatever the message's vocabulary.
 *   words    (mailbox, 'h'|'b', word) -> UIDs (sorted duplicates): the
 *            inverted index, filled from `pending` in batches of
 *            MERGE_BATCH messages, so one merge touches each posting page
 *            once for hundreds of messages instead of once per message.
 *   dict     (mailbox, chunk) -> "\0word\0word\0...": every word the
 *            mailbox's postings hold, contiguous, so a substring query is a
 *            memmem over a few megabytes instead of a B-tree walk.
 *
 * A lookup scans the dictionary for words containing the term, unions
 * their postings, and adds the pending messages whose words contain it.
 * Postings of expunged messages stay until the mailbox is re-indexed: UIDs
 * are never reused, so they can only name a message that is gone, and a
 * view does not have it.
 */
#include <stdlib.h>
#include <string.h>

#include "common/arena.h"
#include "common/xalloc.h"
#include "store/view.h"

#define WORD_KEY_MAX (4 + 1 + MAX_WORD_LEN)

static size_t word_key(uint8_t *key, uint32_t mailbox_be, char kind, struct span word)
{
	memcpy(key, &mailbox_be, 4);
	key[4] = (uint8_t)kind;
	memcpy(key + 5, word.ptr, word.len);
	return 5 + word.len;
}

/* ------------------------------------------------------------------ merge */

/* One (kind, word) of a merge batch and the UIDs that have it, in UID
   order (pending lists are read in UID order). */
struct merge_entry {
	char kind;
	struct span word;
	unsigned int *uids;
	size_t uid_count, uid_cap;
};

struct merge {
	struct store_user *u;
	MDB_txn *txn;
	uint32_t mailbox_id, mailbox_be;
	unsigned int uid;
	struct arena lists;   /* copies of the pending lists; words point here */
	struct merge_entry *entries; /* open addressing; kind 0 = empty */
	size_t mask, count;
	size_t sorted;	      /* after merge_sort: entries[0..sorted) in key order */
	uint32_t *uids;	      /* the lists collected, in UID order */
	size_t uid_count, uid_cap;
	struct buf new_words; /* "word\0..." for the dictionary */
	int ret;
};

static void merge_init(struct merge *m, struct store_user *u, uint32_t mailbox_id)
{
	memset(m, 0, sizeof(*m));
	m->u = u;
	m->mailbox_id = mailbox_id;
	m->mailbox_be = __builtin_bswap32(mailbox_id);
	arena_init(&m->lists, 256 * 1024);
}

static void merge_free(struct merge *m)
{
	size_t n = m->sorted > 0 ? m->sorted : (m->entries != NULL ? m->mask + 1 : 0);
	for (size_t i = 0; i < n; i++)
		free(m->entries[i].uids);
	free(m->entries);
	free(m->uids);
	arena_free(&m->lists);
	buf_free(&m->new_words);
	memset(m, 0, sizeof(*m));
}

static struct merge_entry *entry_slot(struct merge_entry *tab, size_t mask, char kind,
				      struct span w)
{
	size_t j = words_hash((uint8_t)kind, w) & mask;
	while (tab[j].kind != 0 && (tab[j].kind != kind || tab[j].word.len != w.len ||
				    memcmp(tab[j].word.ptr, w.ptr, w.len) != 0))
		j = (j + 1) & mask;
	return &tab[j];
}

static void entries_grow(struct merge *m)
{
	size_t old_size = m->entries != NULL ? m->mask + 1 : 0;
	struct merge_entry *old = m->entries;
	size_t size = old_size ? old_size * 2 : 4096;
	m->entries = xcalloc(size, sizeof(*m->entries));
	m->mask = size - 1;
	for (size_t i = 0; i < old_size; i++)
		if (old[i].kind != 0)
			*entry_slot(m->entries, m->mask, old[i].kind, old[i].word) = old[i];
	free(old);
}

/* Groups the batch in memory: each (kind, word) once, with its UIDs, so
   the index is written one key at a time instead of once per message
   and word. */
static void collect_word(char kind, struct span word, void *ctx)
{
	struct merge *m = ctx;
	if (word.len == 0 || word.len > MAX_WORD_LEN || kind == 0)
		return;
	if (m->entries == NULL || (m->count + 1) * 2 > m->mask + 1)
		entries_grow(m);
	struct merge_entry *e = entry_slot(m->entries, m->mask, kind, word);
	if (e->kind == 0) {
		e->kind = kind;
		e->word = word;
		m->count++;
	}
	if (e->uid_count > 0 && e->uids[e->uid_count - 1] == m->uid)
		return;
	if (e->uid_count == e->uid_cap) {
		e->uid_cap = e->uid_cap ? e->uid_cap * 2 : 4;
		e->uids = xreallocarray(e->uids, e->uid_cap, sizeof(*e->uids));
	}
	e->uids[e->uid_count++] = m->uid;
}

/* Copies up to max of the mailbox's pending lists, in UID order, and
   groups their words. Reads only: under a read transaction this is the
   bulk of a merge's CPU time spent without holding the write lock. */
static int merge_collect(struct merge *m, MDB_txn *txn, uint32_t max)
{
	MDB_cursor *cur;
	int rc = mdb_cursor_open(txn, m->u->pending, &cur);
	if (rc != 0)
		return user_rc(rc, "pending words", NULL);
	MDB_val v;
	int ret = STORE_OK;
	for (MDB_cursor_op op = MDB_SET_RANGE;
	     m->uid_count < max && msg_cursor_get(cur, m->mailbox_id, op, &m->uid, &v);
	     op = MDB_NEXT) {
		/* Copied out: the grouped words point into the copy until they
		   are written, after this transaction has ended. */
		struct span list = span_make(arena_memdup(&m->lists, v.mv_data, v.mv_size), v.mv_size);
		if (msgtext_each_word(list, collect_word, m) < 0) {
			ret = STORE_ERR_IO;
			break;
		}
		if (m->uid_count == m->uid_cap) {
			m->uid_cap = m->uid_cap ? m->uid_cap * 2 : 256;
			m->uids = xreallocarray(m->uids, m->uid_cap, sizeof(*m->uids));
		}
		m->uids[m->uid_count++] = m->uid;
	}
	mdb_cursor_close(cur);
	return ret;
}

static int entry_cmp(const void *a, const void *b)
{
	const struct merge_entry *x = a, *y = b;
	if (x->kind != y->kind)
		return x->kind < y->kind ? -1 : 1;
	return words_span_cmp(&x->word, &y->word);
}

/* Packs the grouped entries in key order (B-tree locality when written). */
static void merge_sort(struct merge *m)
{
	size_t n = 0;
	for (size_t i = 0; m->entries != NULL && i <= m->mask; i++)
		if (m->entries[i].kind != 0)
			m->entries[n++] = m->entries[i];
	if (n > 1)
		qsort(m->entries, n, sizeof(*m->entries), entry_cmp);
	m->sorted = n;
}

/* Removes the collected lists from `pending`. They were read in an
   earlier transaction: if one has gone since (expunged, or merged by
   another process), *gone_r is set and nothing is removed. */
static int take_pending(struct merge *m, bool *gone_r)
{
	*gone_r = false;
	for (size_t i = 0; i < m->uid_count; i++) {
		struct msg_key key = msg_key(m->mailbox_id, m->uids[i]);
		MDB_val k = mdb_val(&key, sizeof(key)), v;
		int rc = mdb_get(m->txn, m->u->pending, &k, &v);
		if (rc == MDB_NOTFOUND) {
			*gone_r = true;
			return STORE_OK;
		}
		if (rc != 0)
			return user_rc(rc, "pending words", NULL);
	}
	for (size_t i = 0; i < m->uid_count; i++) {
		struct msg_key key = msg_key(m->mailbox_id, m->uids[i]);
		MDB_val k = mdb_val(&key, sizeof(key));
		int rc = mdb_del(m->txn, m->u->pending, &k, NULL);
		if (rc != 0)
			return user_rc(rc, "pending words", NULL);
	}
	return STORE_OK;
}

static bool has_postings(struct merge *m, char kind, struct span word)
{
	uint8_t key[WORD_KEY_MAX];
	MDB_val k = mdb_val(key, word_key(key, m->mailbox_be, kind, word)), v;
	return mdb_get(m->txn, m->u->words, &k, &v) == 0;
}

/* Writes the sorted postings entries[from, to), all UIDs of a key in one
   put. */
static void write_postings(struct merge *m, MDB_cursor *cur, size_t from, size_t to)
{
	buf_clear(&m->new_words);
	for (size_t i = from; i < to && m->ret == STORE_OK; i++) {
		struct merge_entry *e = &m->entries[i];
		/* A word new to the mailbox goes into its dictionary once: the
		   'b' entry sorts first, and once written it has postings. */
		if (!has_postings(m, 'h', e->word) && !has_postings(m, 'b', e->word)) {
			buf_append(&m->new_words, e->word.ptr, e->word.len);
			buf_append_byte(&m->new_words, '\0');
		}
		uint8_t key[WORD_KEY_MAX];
		MDB_val k = mdb_val(key, word_key(key, m->mailbox_be, e->kind, e->word));
		MDB_val v[2] = { mdb_val(e->uids, sizeof(*e->uids)), { e->uid_count, NULL } };
		/* Appended: lists are merged in UID order and UIDs only grow,
		   so they follow every UID posted before, and LMDB need not
		   search for each one's place (half the time of a merge). */
		int rc = mdb_cursor_put(cur, &k, v, MDB_MULTIPLE | MDB_APPENDDUP);
		if (rc != 0) {
			/* One by one (a UID already posted by a re-run). */
			rc = 0;
			for (size_t j = 0; j < e->uid_count && rc == 0; j++) {
				MDB_val one = mdb_val(&e->uids[j], sizeof(e->uids[j]));
				rc = mdb_put(m->txn, m->u->words, &k, &one, MDB_NODUPDATA);
				if (rc == MDB_KEYEXIST)
					rc = 0;
			}
		}
		m->ret = user_rc(rc, "word index", NULL);
	}
}

/* Appends new words to the mailbox's dictionary: into its last chunk while
   that stays under DICT_CHUNK, then into new chunks. */
static int append_dict(struct merge *m)
{
	if (m->new_words.len == 0)
		return STORE_OK;
	struct store_user *u = m->u;
	MDB_cursor *cur;
	int rc = mdb_cursor_open(m->txn, u->dict, &cur);
	if (rc != 0)
		return user_rc(rc, "dictionary", NULL);
	uint32_t last_key[2] = { m->mailbox_be, 0xffffffffu };
	MDB_val k = mdb_val(last_key, sizeof(last_key)), v;
	uint32_t chunk = 0;
	struct buf tail = BUF_INIT;
	rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
	rc = rc == 0 ? mdb_cursor_get(cur, &k, &v, MDB_PREV) : mdb_cursor_get(cur, &k, &v, MDB_LAST);
	if (rc == 0 && k.mv_size == 8 && memcmp(k.mv_data, &m->mailbox_be, 4) == 0) {
		uint32_t be;
		memcpy(&be, (const uint8_t *)k.mv_data + 4, 4);
		chunk = __builtin_bswap32(be);
		buf_append(&tail, v.mv_data, v.mv_size);
	}
	mdb_cursor_close(cur);
	if (tail.len == 0)
		buf_append_byte(&tail, '\0');

	int ret = STORE_OK;
	const uint8_t *p = m->new_words.data, *end = p + m->new_words.len;
	while (ret == STORE_OK && p < end) {
		const uint8_t *nul = memchr(p, '\0', (size_t)(end - p));
		size_t n = (size_t)(nul - p) + 1;
		if (tail.len + n > DICT_CHUNK && tail.len > 1) {
			uint32_t key[2] = { m->mailbox_be, __builtin_bswap32(chunk) };
			MDB_val ck = mdb_val(key, sizeof(key)), cv = mdb_val(tail.data, tail.len);
			ret = user_rc(mdb_put(m->txn, u->dict, &ck, &cv, 0), "dictionary", NULL);
			chunk++;
			buf_clear(&tail);
			buf_append_byte(&tail, '\0');
		}
		buf_append(&tail, p, n);
		p += n;
	}
	if (ret == STORE_OK) {
		uint32_t key[2] = { m->mailbox_be, __builtin_bswap32(chunk) };
		MDB_val ck = mdb_val(key, sizeof(key)), cv = mdb_val(tail.data, tail.len);
		ret = user_rc(mdb_put(m->txn, u->dict, &ck, &cv, 0), "dictionary", NULL);
	}
	buf_free(&tail);
	return ret;
}

struct merge_args {
	const char *mailbox;
	uint32_t max;
	struct merge m; /* collected before the write transactions, if any */
	size_t from, to; /* the slice of m.entries this transaction writes */
	bool all;	 /* set when one transaction did the whole merge */
	uint32_t left;
};

/* One write transaction of a merge: writes the postings and new
   dictionary words of a slice of the collected entries; the last slice
   also takes the lists from `pending`. If the lists were not collected
   beforehand, or one has gone since (expunged, merged by another
   process), this transaction collects them again and does all of it
   (postings an earlier slice wrote are found already there). */
static int merge_cb(struct store_user *u, MDB_txn *txn, void *ctx, char **error_r)
{
	struct merge_args *a = ctx;
	struct mailbox_rec rec;
	a->left = 0;
	int ret = user_get_mailbox(u, txn, a->mailbox, &rec);
	if (ret < 0) {
		a->all = true; /* gone: nothing more to do */
		return ret == STORE_ERR_NOT_FOUND ? STORE_OK : ret;
	}
	struct merge *m = &a->m;
	bool last = a->to >= m->sorted, gone = m->u == NULL || m->mailbox_id != rec.id;
	m->txn = txn;
	if (!gone && last && (ret = take_pending(m, &gone)) < 0)
		return ret;
	if (gone) {
		merge_free(m);
		merge_init(m, u, rec.id);
		m->txn = txn;
		if ((ret = merge_collect(m, txn, a->max)) < 0 || (ret = take_pending(m, &gone)) < 0)
			return ret;
		merge_sort(m);
		a->from = 0;
		a->to = m->sorted;
		a->all = last = true;
	}
	MDB_cursor *wc;
	int rc = mdb_cursor_open(txn, u->words, &wc);
	if (rc != 0)
		return user_rc(rc, "word index", error_r);
	m->ret = STORE_OK;
	write_postings(m, wc, a->from, a->to);
	mdb_cursor_close(wc);
	ret = m->ret;
	if (ret == STORE_OK)
		ret = append_dict(m);
	uint32_t merged = (uint32_t)m->uid_count;
	if (ret == STORE_OK && last && merged > 0) {
		rec.pending = rec.pending > merged ? rec.pending - merged : 0;
		ret = user_put_mailbox(u, txn, a->mailbox, &rec);
	}
	a->left = rec.pending;
	return ret;
}

uint32_t wordindex_slice_uids = MERGE_SLICE_UIDS;

/* Where the slice starting at entry `from` ends: at MERGE_SLICE_UIDS
   postings (and at least one key). */
static size_t slice_end(const struct merge *m, size_t from)
{
	size_t uids = 0, i = from;
	while (i < m->sorted && (i == from || uids + m->entries[i].uid_count <= wordindex_slice_uids))
		uids += m->entries[i++].uid_count;
	return i;
}

/* Collects and groups the lists under a read transaction, so the write
   lock (which every delivery waits for) is held only to write them. */
static void merge_prepare(struct store_user *u, struct merge_args *a)
{
	MDB_txn *txn;
	if (user_txn_begin(u, false, &txn, NULL) < 0)
		return;
	struct mailbox_rec rec;
	if (user_get_mailbox(u, txn, a->mailbox, &rec) == STORE_OK && rec.pending > 0) {
		merge_init(&a->m, u, rec.id);
		if (merge_collect(&a->m, txn, a->max) == STORE_OK)
			merge_sort(&a->m);
		else
			merge_free(&a->m);
	}
	user_txn_abort(u, txn);
}

int wordindex_merge(struct store_user *u, const char *mailbox, uint32_t max, uint32_t *left_r,
		    char **error_r)
{
	struct merge_args a = { .mailbox = mailbox, .max = max };
	merge_prepare(u, &a);
	int ret;
	for (;;) {
		a.to = slice_end(&a.m, a.from);
		ret = user_write(u, merge_cb, &a, error_r);
		if (ret != STORE_OK || a.all || a.to >= a.m.sorted)
			break;
		a.from = a.to;
		append_give_way(u);
	}
	merge_free(&a.m);
	if (left_r != NULL)
		*left_r = ret == STORE_OK ? a.left : 0;
	return ret;
}

/* ----------------------------------------------------------------- lookup */

static inline void set_bit(uint64_t *bits, uint32_t seq)
{
	bits[(seq - 1) / 64] |= 1ULL << ((seq - 1) % 64);
}

/* ORs the view's messages posted under (kind, word) into bits. */
static int postings(MDB_cursor *cur, struct store_view *v, uint32_t mailbox_be, char kind,
		    struct span word, uint64_t *bits)
{
	uint8_t key[WORD_KEY_MAX];
	MDB_val k = mdb_val(key, word_key(key, mailbox_be, kind, word)), dup;
	int rc = mdb_cursor_get(cur, &k, &dup, MDB_SET_KEY);
	if (rc == MDB_NOTFOUND)
		return STORE_OK;
	size_t count = 0;
	if (rc == 0)
		rc = mdb_cursor_count(cur, &count);
	/* LMDB 0.9.24's MDB_GET_MULTIPLE returns the previous key's page for a
	   key with a single value, so that case keeps what MDB_SET_KEY read. */
	if (rc == 0 && count > 1)
		rc = mdb_cursor_get(cur, &k, &dup, MDB_GET_MULTIPLE);
	while (rc == 0) {
		const uint8_t *p = dup.mv_data; /* only 2-byte aligned */
		for (size_t i = 0; i < dup.mv_size / sizeof(unsigned int); i++) {
			unsigned int uid;
			memcpy(&uid, p + i * sizeof(uid), sizeof(uid));
			uint32_t seq = store_view_seq(v, uid);
			if (seq != 0)
				set_bit(bits, seq);
		}
		rc = count > 1 ? mdb_cursor_get(cur, &k, &dup, MDB_NEXT_MULTIPLE) : MDB_NOTFOUND;
	}
	return rc == MDB_NOTFOUND ? STORE_OK : STORE_ERR_IO;
}

struct pending_match {
	struct span term;
	bool header, body, found;
};

static void pending_word(char kind, struct span word, void *ctx)
{
	struct pending_match *pm = ctx;
	if (pm->found || (kind == 'h' && !pm->header) || (kind == 'b' && !pm->body))
		return;
	pm->found = memmem(word.ptr, word.len, pm->term.ptr, pm->term.len) != NULL;
}

int wordindex_lookup(struct store_user *u, MDB_txn *txn, struct store_view *v, struct span term,
		     bool header, bool body, uint64_t *bits)
{
	uint32_t mailbox_be = __builtin_bswap32(v->mailbox_id);
	MDB_cursor *dc, *wc, *pc;
	if (mdb_cursor_open(txn, u->dict, &dc) != 0)
		return STORE_ERR_IO;
	if (mdb_cursor_open(txn, u->words, &wc) != 0) {
		mdb_cursor_close(dc);
		return STORE_ERR_IO;
	}
	int ret = STORE_OK;
	uint32_t first[2] = { mailbox_be, 0 };
	MDB_val k = mdb_val(first, sizeof(first)), val;
	for (int rc = mdb_cursor_get(dc, &k, &val, MDB_SET_RANGE);
	     rc == 0 && ret == STORE_OK && k.mv_size == 8 && memcmp(k.mv_data, &mailbox_be, 4) == 0;
	     rc = mdb_cursor_get(dc, &k, &val, MDB_NEXT)) {
		const uint8_t *chunk = val.mv_data, *end = chunk + val.mv_size;
		const uint8_t *p = chunk;
		const uint8_t *hit;
		while (ret == STORE_OK && (hit = memmem(p, (size_t)(end - p), term.ptr, term.len))) {
			/* The word around the hit: from the NUL before it to the
			   NUL after. Chunks start with a NUL, so both exist. */
			const uint8_t *ws = hit;
			while (ws > chunk && ws[-1] != '\0')
				ws--;
			const uint8_t *we = memchr(hit, '\0', (size_t)(end - hit));
			if (we == NULL)
				we = end;
			struct span word = span_make(ws, (size_t)(we - ws));
			if (header)
				ret = postings(wc, v, mailbox_be, 'h', word, bits);
			if (body && ret == STORE_OK)
				ret = postings(wc, v, mailbox_be, 'b', word, bits);
			p = we; /* once per word, however often the term occurs in it */
		}
	}
	mdb_cursor_close(dc);
	mdb_cursor_close(wc);
	if (ret != STORE_OK || mdb_cursor_open(txn, u->pending, &pc) != 0)
		return ret != STORE_OK ? ret : STORE_ERR_IO;
	uint32_t uid;
	for (MDB_cursor_op op = MDB_SET_RANGE; msg_cursor_get(pc, v->mailbox_id, op, &uid, &val);
	     op = MDB_NEXT) {
		uint32_t seq = store_view_seq(v, uid);
		if (seq == 0)
			continue;
		struct pending_match pm = { term, header, body, false };
		msgtext_each_word(span_make(val.mv_data, val.mv_size), pending_word, &pm);
		if (pm.found)
			set_bit(bits, seq);
	}
	mdb_cursor_close(pc);
	return STORE_OK;
}
