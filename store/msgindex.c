/*
 * The index records derived from a message's content: the cache record
 * (ENVELOPE, BODY, BODYSTRUCTURE, part table, decoded header fields), the
 * lines of the header fields clients fetch most, and the message's words
 * waiting for the word index (wordindex.c).
 *
 * The cache record is stored LZ4-compressed: smaller records fill LMDB
 * pages better, and decompressing a kilobyte costs well under a
 * microsecond - far less than the page reads it saves. The header lines
 * are stored as they are (see msgindex_put).
 *
 * Cache record layout (version 1, before compression), host byte order:
 *   u32 version
 *   u32 len + envelope, u32 len + body, u32 len + bodystructure
 *   u32 part_count + part_count * struct store_part
 *   CACHE_FIELD_COUNT * (u32 len + bytes)
 *   i64 date, i32 zone, u8 date_valid
 * Value: u32 raw length, u32 format (0: LZ4 data follows, 1: the raw
 * bytes follow), data. Older header records are LZ4; both are read.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>
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

static int unpack(MDB_val v, struct buf *out);

int cache_get(struct store_user *u, MDB_txn *txn, uint32_t mailbox, uint32_t uid,
	      struct cache_view *view, struct buf *scratch)
{
	struct msg_key key = msg_key(mailbox, uid);
	MDB_val k = mdb_val(&key, sizeof(key)), v;
	int rc = mdb_get(txn, u->cache, &k, &v);
	if (rc != 0)
		return user_rc(rc, "cache", NULL);
	buf_clear(scratch);
	if (unpack(v, scratch) < 0)
		return STORE_ERR_IO;
	memset(view, 0, sizeof(*view));
	struct cursor c = { scratch->data, scratch->data + scratch->len, false };
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

/* ------------------------------------------------------------ compression */

/* Value formats (the u32 after the raw length). */
enum { PACK_LZ4 = 0, PACK_STORED = 1 };

static int put_packed(MDB_txn *txn, MDB_dbi dbi, const struct msg_key *key, struct span raw,
		      bool compress)
{
	int bound = compress ? LZ4_compressBound((int)raw.len) : (int)raw.len;
	uint8_t *packed = xmalloc(8 + (size_t)bound);
	uint32_t raw_len = (uint32_t)raw.len, format = compress ? PACK_LZ4 : PACK_STORED;
	memcpy(packed, &raw_len, 4);
	memcpy(packed + 4, &format, 4);
	int n;
	if (!compress) {
		n = (int)raw.len;
		if (raw.len > 0)
			memcpy(packed + 8, raw.ptr, raw.len);
	} else {
		n = raw.len > 0 ? LZ4_compress_default((const char *)raw.ptr, (char *)packed + 8,
						       (int)raw.len, bound) :
				  0;
	}
	int ret = STORE_ERR_IO;
	if (n >= 0) {
		MDB_val k = mdb_val(key, sizeof(*key)), v = mdb_val(packed, 8 + (size_t)n);
		ret = user_rc(mdb_put(txn, dbi, &k, &v, 0), "index record", NULL);
	}
	free(packed);
	return ret;
}

/* Appends the decompressed value to out. */
static int unpack(MDB_val v, struct buf *out)
{
	if (v.mv_size < 8)
		return STORE_ERR_IO;
	uint32_t raw_len, format;
	memcpy(&raw_len, v.mv_data, 4);
	memcpy(&format, (const uint8_t *)v.mv_data + 4, 4);
	if (raw_len > 64 * 1024 * 1024 || buf_reserve(out, raw_len) < 0)
		return STORE_ERR_IO;
	if (format == PACK_STORED) {
		if (v.mv_size - 8 != raw_len)
			return STORE_ERR_IO;
		memcpy(out->data + out->len, (const uint8_t *)v.mv_data + 8, raw_len);
	} else if (format != PACK_LZ4) {
		return STORE_ERR_IO;
	} else if (raw_len > 0) {
		int n = LZ4_decompress_safe((const char *)v.mv_data + 8, (char *)out->data + out->len,
					    (int)(v.mv_size - 8), (int)raw_len);
		if (n != (int)raw_len)
			return STORE_ERR_IO;
	}
	out->len += raw_len;
	out->data[out->len] = '\0';
	return STORE_OK;
}

int msgindex_get_blob(struct store_user *u, MDB_txn *txn, MDB_dbi dbi, uint32_t mailbox,
		      uint32_t uid, struct buf *out, size_t *header_len_r)
{
	struct msg_key key = msg_key(mailbox, uid);
	MDB_val k = mdb_val(&key, sizeof(key)), v;
	int rc = mdb_get(txn, dbi, &k, &v);
	if (rc != 0)
		return user_rc(rc, "index record", NULL);
	if (header_len_r != NULL)
		*header_len_r = 0;
	return unpack(v, out);
}

int msgindex_blob_at(MDB_cursor *cur, uint32_t mailbox, uint32_t uid, struct span *out,
		     struct buf *scratch)
{
	struct msg_key key = msg_key(mailbox, uid);
	MDB_val k = mdb_val(&key, sizeof(key)), v;
	int rc = mdb_cursor_get(cur, &k, &v, MDB_SET);
	if (rc != 0)
		return user_rc(rc, "index record", NULL);
	uint32_t raw_len, format;
	if (v.mv_size < 8)
		return STORE_ERR_IO;
	memcpy(&raw_len, v.mv_data, 4);
	memcpy(&format, (const uint8_t *)v.mv_data + 4, 4);
	if (format == PACK_STORED) {
		if (v.mv_size - 8 != raw_len)
			return STORE_ERR_IO;
		*out = span_make((const uint8_t *)v.mv_data + 8, raw_len);
		/* A message list walks UIDs in order, and reading each record
		   waited on memory (at 100,000 messages the records are far
		   larger than the CPU's caches): start fetching the next one
		   while this one is filtered. About 13% off HEADER.FIELDS of
		   100,000 messages. The cursor moves on; MDB_SET finds any key
		   from there. */
		MDB_val nk, nv;
		if (mdb_cursor_get(cur, &nk, &nv, MDB_NEXT) == 0)
			for (size_t off = 0; off < nv.mv_size && off < 1024; off += 64)
				__builtin_prefetch((const uint8_t *)nv.mv_data + off);
		return STORE_OK;
	}
	buf_clear(scratch);
	int ret = unpack(v, scratch);
	*out = buf_span(scratch);
	return ret;
}

/* ------------------------------------------------------------- operations */

static int put_pending(struct store_user *u, MDB_txn *txn, struct mailbox_rec *rec, uint32_t uid,
		       struct span word_lists)
{
	struct msg_key key = msg_key(rec->id, uid);
	MDB_val k = mdb_val(&key, sizeof(key)), v = mdb_val(word_lists.ptr, word_lists.len);
	int ret = user_rc(mdb_put(txn, u->pending, &k, &v, 0), "pending words", NULL);
	if (ret == STORE_OK)
		rec->pending++;
	return ret;
}

int msgindex_put(struct store_user *u, MDB_txn *txn, struct mailbox_rec *rec, uint32_t uid,
		 const struct mime_result *mime, struct span fields, struct span word_lists,
		 char **error_r)
{
	struct msg_key key = msg_key(rec->id, uid);
	struct buf cache = BUF_INIT;
	serialize_cache(mime, &cache);
	int ret = put_packed(txn, u->cache, &key, buf_span(&cache), true);
	buf_free(&cache);
	/* The header lines are read for every message of a message list
	   (HEADER.FIELDS): stored as they are, since decompressing them was
	   a sixth of that FETCH, for about a third more space. */
	if (ret == STORE_OK && fields.len > 0)
		ret = put_packed(txn, u->headers, &key, fields, false);
	if (ret == STORE_OK)
		ret = put_pending(u, txn, rec, uid, word_lists);
	return ret;
}

static int copy_value(MDB_txn *txn, MDB_dbi dbi, const struct msg_key *from,
		      const struct msg_key *to, bool *found_r)
{
	MDB_val k = mdb_val(from, sizeof(*from)), v;
	int rc = mdb_get(txn, dbi, &k, &v);
	if (found_r != NULL)
		*found_r = rc == 0;
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

int msgindex_copy(struct store_user *u, MDB_txn *txn, const struct mailbox_rec *from,
		  uint32_t from_uid, struct mailbox_rec *to, uint32_t to_uid, const char *src_path,
		  char **error_r)
{
	struct msg_key fk = msg_key(from->id, from_uid), tk = msg_key(to->id, to_uid);
	int ret = copy_value(txn, u->cache, &fk, &tk, NULL);
	if (ret == STORE_OK)
		ret = copy_value(txn, u->headers, &fk, &tk, NULL);
	bool pending = false;
	if (ret == STORE_OK)
		ret = copy_value(txn, u->pending, &fk, &tk, &pending);
	if (ret != STORE_OK)
		return ret;
	if (pending) {
		to->pending++;
		return STORE_OK;
	}
	/* Its words were merged into the source's index: read them again
	   from the file for the destination's. */
	int fd = src_path != NULL ? open(src_path, O_RDONLY | O_CLOEXEC) : -1;
	if (fd < 0)
		return STORE_OK; /* gone: store_check will expunge the copy */
	struct msgtext mt;
	ret = msgtext_load(fd, &mt);
	close(fd);
	if (ret < 0)
		return STORE_OK;
	struct buf lists = BUF_INIT;
	msgtext_word_lists(buf_span(&mt.folded), mt.folded_header_len, true, &lists);
	ret = put_pending(u, txn, to, to_uid, buf_span(&lists));
	buf_free(&lists);
	msgtext_free(&mt);
	return ret;
}

int msgindex_del(struct store_user *u, MDB_txn *txn, struct mailbox_rec *rec, uint32_t uid)
{
	struct msg_key key = msg_key(rec->id, uid);
	MDB_val k = mdb_val(&key, sizeof(key));
	int rc = mdb_del(txn, u->pending, &k, NULL);
	if (rc == 0) {
		if (rec->pending > 0)
			rec->pending--;
	} else if (rc == MDB_NOTFOUND) {
		rec->word_garbage++;
	} else {
		return user_rc(rc, "pending words", NULL);
	}
	MDB_dbi dbis[] = { u->cache, u->headers };
	for (size_t i = 0; i < 2; i++) {
		k = mdb_val(&key, sizeof(key));
		rc = mdb_del(txn, dbis[i], &k, NULL);
		if (rc != 0 && rc != MDB_NOTFOUND)
			return user_rc(rc, "index delete", NULL);
	}
	return STORE_OK;
}
