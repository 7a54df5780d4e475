/*
 * The index records derived from a message's content: the cache record
 * (ENVELOPE, BODY, BODYSTRUCTURE, part table, decoded header fields), the
 * header block and the search text (both LZ4-compressed: they are read
 * back whole, and LZ4 decompresses far faster than a disk seek), and the
 * word postings.
 *
 * Cache record layout (version 1), all integers little-endian host order:
 *   u32 version
 *   u32 len + envelope, u32 len + body, u32 len + bodystructure
 *   u32 part_count + part_count * struct store_part
 *   CACHE_FIELD_COUNT * (u32 len + bytes)
 *   i64 date, i32 zone, u8 date_valid
 * Blob layout: u32 raw length, u32 header length (text only, else 0), LZ4.
 */
#include <stdlib.h>
#include <string.h>

#include <lz4.h>

#include "common/xalloc.h"
#include "store/internal.h"

#define CACHE_VERSION 1

static void put_u32(struct buf *b, uint32_t v)
{
	buf_append(b, &v, sizeof(v));
}

static void put_bytes(struct buf *b, const void *data, size_t len)
{
	put_u32(b, (uint32_t)len);
	if (len > 0)
		buf_append(b, data, len);
}

static void put_str(struct buf *b, const char *s)
{
	put_bytes(b, s, s != NULL ? strlen(s) : 0);
}

static void serialize_cache(const struct mime_result *m, struct buf *out)
{
	put_u32(out, CACHE_VERSION);
	put_str(out, m->envelope);
	put_str(out, m->body);
	put_str(out, m->bodystructure);
	put_u32(out, (uint32_t)m->part_count);
	for (size_t i = 0; i < m->part_count; i++) {
		const struct mime_part *mp = &m->parts[i];
		struct store_part sp = {
			.parent = mp->parent,
			.children = mp->children,
			.kind = (uint32_t)mp->kind,
			.body_lines = mp->body_lines,
			.header_offset = mp->header_offset,
			.header_size = mp->header_size,
			.body_offset = mp->body_offset,
			.body_size = mp->body_size,
		};
		buf_append(out, &sp, sizeof(sp));
	}
	const struct mime_headers *h = &m->headers;
	const char *fields[CACHE_FIELD_COUNT] = {
		[CACHE_SUBJECT] = h->subject,	     [CACHE_FROM] = h->from,
		[CACHE_SENDER] = h->sender,	     [CACHE_REPLY_TO] = h->reply_to,
		[CACHE_TO] = h->to,		     [CACHE_CC] = h->cc,
		[CACHE_BCC] = h->bcc,		     [CACHE_MESSAGE_ID] = h->message_id,
		[CACHE_IN_REPLY_TO] = h->in_reply_to, [CACHE_REFERENCES] = h->references,
		[CACHE_BASE_SUBJECT] = h->base_subject, [CACHE_SORT_FROM] = h->sort_from,
		[CACHE_SORT_TO] = h->sort_to,	     [CACHE_SORT_CC] = h->sort_cc,
	};
	for (int i = 0; i < CACHE_FIELD_COUNT; i++)
		put_str(out, fields[i]);
	int64_t date = h->date_valid ? h->date : 0;
	int32_t zone = h->date_zone_minutes;
	uint8_t valid = h->date_valid;
	buf_append(out, &date, sizeof(date));
	buf_append(out, &zone, sizeof(zone));
	buf_append(out, &valid, sizeof(valid));
}

/* Bounds-checked reading of a cache record: a damaged index gives an
   error, never a read past the value. */
struct cursor {
	const uint8_t *p, *end;
	bool bad;
};

static uint32_t get_u32(struct cursor *c)
{
	uint32_t v = 0;
	if ((size_t)(c->end - c->p) < sizeof(v)) {
		c->bad = true;
		return 0;
	}
	memcpy(&v, c->p, sizeof(v));
	c->p += sizeof(v);
	return v;
}

static struct span get_bytes(struct cursor *c, size_t len)
{
	if (c->bad || (size_t)(c->end - c->p) < len) {
		c->bad = true;
		return span_make("", 0);
	}
	struct span s = span_make(c->p, len);
	c->p += len;
	return s;
}

int cache_get(struct store_user *u, MDB_txn *txn, uint32_t mailbox, uint32_t uid,
	      struct cache_view *view)
{
	struct msg_key key = msg_key(mailbox, uid);
	MDB_val k = mdb_val(&key, sizeof(key)), v;
	int rc = mdb_get(txn, u->cache, &k, &v);
	if (rc != 0)
		return user_rc(rc, "cache", NULL);
	memset(view, 0, sizeof(*view));
	struct cursor c = { v.mv_data, (const uint8_t *)v.mv_data + v.mv_size, false };
	if (get_u32(&c) != CACHE_VERSION)
		return STORE_ERR_IO;
	view->envelope = get_bytes(&c, get_u32(&c));
	view->body = get_bytes(&c, get_u32(&c));
	view->bodystructure = get_bytes(&c, get_u32(&c));
	view->part_count = get_u32(&c);
	if (view->part_count > (size_t)(c.end - c.p) / sizeof(struct store_part))
		return STORE_ERR_IO;
	view->parts = get_bytes(&c, view->part_count * sizeof(struct store_part));
	for (int i = 0; i < CACHE_FIELD_COUNT; i++)
		view->fields[i] = get_bytes(&c, get_u32(&c));
	struct span tail = get_bytes(&c, sizeof(int64_t) + sizeof(int32_t) + 1);
	if (c.bad)
		return STORE_ERR_IO;
	memcpy(&view->date, tail.ptr, sizeof(int64_t));
	memcpy(&view->date_zone, tail.ptr + sizeof(int64_t), sizeof(int32_t));
	view->date_valid = tail.ptr[sizeof(int64_t) + sizeof(int32_t)] != 0;
	return STORE_OK;
}

/* ------------------------------------------------------------------ blobs */

static int put_blob(MDB_txn *txn, MDB_dbi dbi, const struct msg_key *key, struct span raw,
		    uint32_t header_len)
{
	int bound = LZ4_compressBound((int)raw.len);
	uint8_t *packed = xmalloc(sizeof(uint32_t) * 2 + (size_t)bound);
	uint32_t raw_len = (uint32_t)raw.len;
	memcpy(packed, &raw_len, sizeof(raw_len));
	memcpy(packed + 4, &header_len, sizeof(header_len));
	int n = raw.len > 0 ? LZ4_compress_default((const char *)raw.ptr, (char *)packed + 8,
						   (int)raw.len, bound) :
			      0;
	int ret = STORE_ERR_IO;
	if (n >= 0) {
		MDB_val k = mdb_val(key, sizeof(*key)), v = mdb_val(packed, 8 + (size_t)n);
		ret = user_rc(mdb_put(txn, dbi, &k, &v, 0), "blob", NULL);
	}
	free(packed);
	return ret;
}

int msgindex_get_blob(struct store_user *u, MDB_txn *txn, MDB_dbi dbi, uint32_t mailbox,
		      uint32_t uid, struct buf *out, size_t *header_len_r)
{
	struct msg_key key = msg_key(mailbox, uid);
	MDB_val k = mdb_val(&key, sizeof(key)), v;
	int rc = mdb_get(txn, dbi, &k, &v);
	if (rc != 0)
		return user_rc(rc, "blob", NULL);
	if (v.mv_size < 8)
		return STORE_ERR_IO;
	uint32_t raw_len, header_len;
	memcpy(&raw_len, v.mv_data, 4);
	memcpy(&header_len, (const uint8_t *)v.mv_data + 4, 4);
	if (raw_len > 64 * MAX_SEARCH_TEXT || header_len > raw_len)
		return STORE_ERR_IO;
	if (buf_reserve(out, raw_len) < 0)
		return STORE_ERR_IO;
	if (raw_len > 0) {
		int n = LZ4_decompress_safe((const char *)v.mv_data + 8, (char *)out->data + out->len,
					    (int)(v.mv_size - 8), (int)raw_len);
		if (n != (int)raw_len)
			return STORE_ERR_IO;
	}
	out->len += raw_len;
	out->data[out->len] = '\0';
	if (header_len_r != NULL)
		*header_len_r = header_len;
	return STORE_OK;
}

/* --------------------------------------------------------------- postings */

struct posting_ctx {
	struct store_user *u;
	MDB_txn *txn;
	uint32_t mailbox_be;
	uint32_t uid;
	bool add;
	int ret;
};

static void posting_cb(struct span word, void *ctx)
{
	struct posting_ctx *pc = ctx;
	if (pc->ret != STORE_OK)
		return;
	uint8_t key[4 + MAX_WORD_LEN];
	memcpy(key, &pc->mailbox_be, 4);
	memcpy(key + 4, word.ptr, word.len);
	MDB_val k = mdb_val(key, 4 + word.len);
	/* MDB_INTEGERDUP: the duplicate is a native unsigned int. */
	unsigned int uid = pc->uid;
	MDB_val v = mdb_val(&uid, sizeof(uid));
	int rc = pc->add ? mdb_put(pc->txn, pc->u->words, &k, &v, MDB_NODUPDATA) :
			   mdb_del(pc->txn, pc->u->words, &k, &v);
	if (rc == MDB_KEYEXIST || rc == MDB_NOTFOUND)
		rc = 0;
	pc->ret = user_rc(rc, "word index", NULL);
}

static int postings(struct store_user *u, MDB_txn *txn, uint32_t mailbox, uint32_t uid,
		    struct span folded_text, bool add)
{
	struct posting_ctx pc = { u, txn, __builtin_bswap32(mailbox), uid, add, STORE_OK };
	words_each_unique(folded_text, posting_cb, &pc);
	return pc.ret;
}

/* ------------------------------------------------------------- operations */

int msgindex_put(struct store_user *u, MDB_txn *txn, uint32_t mailbox, uint32_t uid,
		 const struct mime_result *mime, struct span header_block, struct span text,
		 size_t text_header_len, char **error_r)
{
	struct msg_key key = msg_key(mailbox, uid);
	struct buf cache = BUF_INIT;
	serialize_cache(mime, &cache);
	MDB_val k = mdb_val(&key, sizeof(key)), v = mdb_val(cache.data, cache.len);
	int ret = user_rc(mdb_put(txn, u->cache, &k, &v, 0), "cache", error_r);
	buf_free(&cache);
	if (ret == STORE_OK && header_block.len > 0)
		ret = put_blob(txn, u->headers, &key, header_block, 0);
	if (ret == STORE_OK)
		ret = put_blob(txn, u->text, &key, text, (uint32_t)text_header_len);
	if (ret == STORE_OK)
		ret = postings(u, txn, mailbox, uid, text, true);
	return ret;
}

static int copy_value(MDB_txn *txn, MDB_dbi dbi, const struct msg_key *from,
		      const struct msg_key *to)
{
	MDB_val k = mdb_val(from, sizeof(*from)), v;
	int rc = mdb_get(txn, dbi, &k, &v);
	if (rc == MDB_NOTFOUND)
		return STORE_OK;
	if (rc != 0)
		return user_rc(rc, "copy", NULL);
	/* mdb_put may move pages under v: copy the value out first. */
	void *copy = xmalloc(v.mv_size);
	memcpy(copy, v.mv_data, v.mv_size);
	MDB_val nk = mdb_val(to, sizeof(*to)), nv = mdb_val(copy, v.mv_size);
	rc = mdb_put(txn, dbi, &nk, &nv, 0);
	free(copy);
	return user_rc(rc, "copy", NULL);
}

int msgindex_copy(struct store_user *u, MDB_txn *txn, uint32_t from_mailbox, uint32_t from_uid,
		  uint32_t to_mailbox, uint32_t to_uid, char **error_r)
{
	struct msg_key from = msg_key(from_mailbox, from_uid), to = msg_key(to_mailbox, to_uid);
	int ret = copy_value(txn, u->cache, &from, &to);
	if (ret == STORE_OK)
		ret = copy_value(txn, u->headers, &from, &to);
	if (ret == STORE_OK)
		ret = copy_value(txn, u->text, &from, &to);
	if (ret != STORE_OK)
		return ret;
	struct buf text = BUF_INIT;
	ret = msgindex_get_blob(u, txn, u->text, to_mailbox, to_uid, &text, NULL);
	if (ret == STORE_ERR_NOT_FOUND)
		ret = STORE_OK;
	else if (ret == STORE_OK)
		ret = postings(u, txn, to_mailbox, to_uid, buf_span(&text), true);
	buf_free(&text);
	return ret;
}

int msgindex_del(struct store_user *u, MDB_txn *txn, uint32_t mailbox, uint32_t uid)
{
	struct buf text = BUF_INIT;
	int ret = msgindex_get_blob(u, txn, u->text, mailbox, uid, &text, NULL);
	if (ret == STORE_OK)
		ret = postings(u, txn, mailbox, uid, buf_span(&text), false);
	else if (ret == STORE_ERR_NOT_FOUND)
		ret = STORE_OK;
	buf_free(&text);
	if (ret != STORE_OK)
		return ret;
	struct msg_key key = msg_key(mailbox, uid);
	MDB_dbi dbis[] = { u->cache, u->headers, u->text };
	for (size_t i = 0; i < 3; i++) {
		MDB_val k = mdb_val(&key, sizeof(key));
		int rc = mdb_del(txn, dbis[i], &k, NULL);
		if (rc != 0 && rc != MDB_NOTFOUND)
			return user_rc(rc, "index delete", NULL);
	}
	return STORE_OK;
}
