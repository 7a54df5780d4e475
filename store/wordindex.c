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

struct merge {
	struct store_user *u;
	MDB_txn *txn;
	uint32_t mailbox_be;
	unsigned int uid;
	struct buf new_words; /* "word\0..." for the dictionary */
	int ret;
};

static bool has_postings(struct merge *m, char kind, struct span word)
{
	uint8_t key[WORD_KEY_MAX];
	MDB_val k = mdb_val(key, word_key(key, m->mailbox_be, kind, word)), v;
	return mdb_get(m->txn, m->u->words, &k, &v) == 0;
}

static void merge_word(char kind, struct span word, void *ctx)
{
	struct merge *m = ctx;
	if (m->ret != STORE_OK || word.len == 0 || word.len > MAX_WORD_LEN)
		return;
	if (!has_postings(m, 'h', word) && !has_postings(m, 'b', word)) {
		buf_append(&m->new_words, word.ptr, word.len);
		buf_append_byte(&m->new_words, '\0');
	}
	uint8_t key[WORD_KEY_MAX];
	MDB_val k = mdb_val(key, word_key(key, m->mailbox_be, kind, word));
	MDB_val v = mdb_val(&m->uid, sizeof(m->uid));
	int rc = mdb_put(m->txn, m->u->words, &k, &v, MDB_NODUPDATA);
	m->ret = user_rc(rc == MDB_KEYEXIST ? 0 : rc, "word index", NULL);
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

static int merge_txn(struct store_user *u, MDB_txn *txn, const char *mailbox, uint32_t max,
		     char **error_r)
{
	struct mailbox_rec rec;
	int ret = user_get_mailbox(u, txn, mailbox, &rec);
	if (ret < 0)
		return ret == STORE_ERR_NOT_FOUND ? STORE_OK : ret;
	struct merge m = { .u = u, .txn = txn, .mailbox_be = __builtin_bswap32(rec.id) };
	MDB_cursor *cur;
	int rc = mdb_cursor_open(txn, u->pending, &cur);
	if (rc != 0)
		return user_rc(rc, "pending words", error_r);
	struct msg_key start = msg_key(rec.id, 0);
	MDB_val k = mdb_val(&start, sizeof(start)), v;
	uint32_t merged = 0;
	struct buf lists = BUF_INIT;
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0 && merged < max;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_GET_CURRENT)) {
		struct msg_key key;
		if (k.mv_size != sizeof(key))
			break;
		memcpy(&key, k.mv_data, sizeof(key));
		if (key.mailbox_be != start.mailbox_be)
			break;
		m.uid = __builtin_bswap32(key.uid_be);
		/* Copied out: the puts below may move the page it lives on. */
		buf_clear(&lists);
		buf_append(&lists, v.mv_data, v.mv_size);
		if (msgtext_each_word(buf_span(&lists), merge_word, &m) < 0)
			m.ret = STORE_ERR_IO;
		if (m.ret != STORE_OK)
			break;
		if ((rc = mdb_cursor_del(cur, 0)) != 0) {
			m.ret = user_rc(rc, "pending words", error_r);
			break;
		}
		merged++;
	}
	mdb_cursor_close(cur);
	buf_free(&lists);
	ret = m.ret;
	if (ret == STORE_OK)
		ret = append_dict(&m);
	buf_free(&m.new_words);
	if (ret == STORE_OK && merged > 0) {
		rec.pending = rec.pending > merged ? rec.pending - merged : 0;
		ret = user_put_mailbox(u, txn, mailbox, &rec);
	}
	return ret;
}

struct merge_args {
	const char *mailbox;
	uint32_t max;
};

static int merge_cb(struct store_user *u, MDB_txn *txn, void *ctx, char **error_r)
{
	struct merge_args *a = ctx;
	return merge_txn(u, txn, a->mailbox, a->max, error_r);
}

int wordindex_merge(struct store_user *u, const char *mailbox, uint32_t max, char **error_r)
{
	struct merge_args a = { mailbox, max };
	return user_write(u, merge_cb, &a, error_r);
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
	struct msg_key start = msg_key(v->mailbox_id, 0);
	k = mdb_val(&start, sizeof(start));
	for (int rc = mdb_cursor_get(pc, &k, &val, MDB_SET_RANGE); rc == 0;
	     rc = mdb_cursor_get(pc, &k, &val, MDB_NEXT)) {
		struct msg_key key;
		if (k.mv_size != sizeof(key))
			break;
		memcpy(&key, k.mv_data, sizeof(key));
		if (key.mailbox_be != start.mailbox_be)
			break;
		uint32_t seq = store_view_seq(v, __builtin_bswap32(key.uid_be));
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
