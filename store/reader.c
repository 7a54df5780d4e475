/*
 * Readers: short read transactions for FETCH-like access. What they return
 * borrows from LMDB's map (or, for the part table, from the reader's own
 * memory, since LMDB values are not aligned for 64-bit fields) and stays
 * valid until store_reader_end().
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/arena.h"
#include "common/xalloc.h"
#include "store/view.h"

struct store_reader {
	struct store_view *v;
	MDB_txn *txn;
	struct arena arena;
	struct buf scratch; /* decompressed cache records */
};

int store_reader_begin(struct store_view *v, struct store_reader **r_r, char **error_r)
{
	struct store_reader *r = xcalloc(1, sizeof(*r));
	r->v = v;
	int ret = user_txn_begin(v->u, false, &r->txn, error_r);
	if (ret < 0) {
		free(r);
		return ret;
	}
	arena_init(&r->arena, 8192);
	*r_r = r;
	return STORE_OK;
}

void store_reader_end(struct store_reader **rp)
{
	struct store_reader *r = *rp;
	if (r == NULL)
		return;
	*rp = NULL;
	user_txn_abort(r->v->u, r->txn);
	arena_free(&r->arena);
	buf_free(&r->scratch);
	free(r);
}

int store_reader_get(struct store_reader *r, uint32_t uid, unsigned int what, struct store_msg *m)
{
	struct store_view *v = r->v;
	memset(m, 0, sizeof(*m));
	m->uid = uid;
	struct msg_info rec;
	int ret = msg_get(v->u, r->txn, v->mailbox_id, uid, &rec);
	if (ret < 0)
		return ret;
	m->flags = rec.flags;
	m->keywords = rec.keywords;
	m->modseq = rec.modseq;
	m->internaldate = rec.internaldate;
	m->size = rec.size;
	if (what & STORE_FETCH_STRUCTURE) {
		struct cache_view cv;
		if ((ret = cache_get(v->u, r->txn, v->mailbox_id, uid, &cv, &r->scratch)) < 0)
			return ret;
		/* The record was decompressed into scratch, which the next get
		   reuses: what is handed out lives in the arena until the end. */
		m->envelope = span_make(arena_memdup(&r->arena, cv.envelope.ptr, cv.envelope.len),
					cv.envelope.len);
		m->body = span_make(arena_memdup(&r->arena, cv.body.ptr, cv.body.len), cv.body.len);
		m->bodystructure = span_make(arena_memdup(&r->arena, cv.bodystructure.ptr,
							  cv.bodystructure.len),
					     cv.bodystructure.len);
		m->part_count = cv.part_count;
		m->parts = arena_memdup(&r->arena, cv.parts.ptr, cv.parts.len);
	}
	return STORE_OK;
}

/* Opens the message file: where the index says, or found by its base name. */
static int open_file(struct store_view *v, MDB_txn *txn, uint32_t uid, char **error_r)
{
	struct msg_info mi;
	int ret = msg_get(v->u, txn, v->mailbox_id, uid, &mi);
	if (ret < 0)
		return store_fail(ret, error_r, "no such message");
	char *names[STORE_MAX_KEYWORDS];
	user_keyword_names(v->u, txn, names);
	struct mailbox_file mf;
	mailbox_file_read(v->folder, &mf);
	char *path = msgfile_current_path(v->folder, mi.name, mi.flags, mi.keywords, &mf, names);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT) {
		free(path);
		path = msgfile_find(v->folder, (const char *)mi.name.ptr, mi.name.len);
		fd = path != NULL ? open(path, O_RDONLY | O_CLOEXEC) : -1;
	}
	if (fd < 0)
		ret = path != NULL ? store_sys_error("cannot open", path, error_r) :
				     store_fail(STORE_ERR_NOT_FOUND, error_r, "message file is gone");
	keyword_names_free(names);
	mailbox_file_free(&mf);
	free(path);
	return fd >= 0 ? fd : ret;
}

int view_read_header_file(struct store_view *v, MDB_txn *txn, uint32_t uid, struct buf *out)
{
	struct buf scratch = BUF_INIT;
	struct cache_view cv;
	int ret = cache_get(v->u, txn, v->mailbox_id, uid, &cv, &scratch);
	struct store_part part;
	if (ret == STORE_OK && cv.part_count > 0)
		memcpy(&part, cv.parts.ptr, sizeof(part));
	buf_free(&scratch);
	if (ret < 0 || cv.part_count == 0)
		return ret;
	int fd = open_file(v, txn, uid, NULL);
	if (fd < 0)
		return fd;
	ret = STORE_OK;
	if (buf_reserve(out, (size_t)part.header_size) < 0 ||
	    pread(fd, out->data + out->len, (size_t)part.header_size, 0) != (ssize_t)part.header_size)
		ret = STORE_ERR_IO;
	else
		out->len += (size_t)part.header_size;
	if (out->data != NULL)
		out->data[out->len] = '\0'; /* struct buf promises a terminator */
	close(fd);
	return ret;
}

int store_reader_header(struct store_reader *r, uint32_t uid, const char *const *fields,
			size_t count, struct buf *out)
{
	bool cached = fields != NULL && count > 0;
	for (size_t i = 0; cached && i < count; i++)
		cached = msgtext_field_cached(fields[i], strlen(fields[i]));
	if (!cached)
		return view_read_header_file(r->v, r->txn, uid, out);
	int ret = msgindex_get_blob(r->v->u, r->txn, r->v->u->headers, r->v->mailbox_id, uid, out,
				    NULL);
	/* No record: the message has none of the cached fields. */
	return ret == STORE_ERR_NOT_FOUND ? STORE_OK : ret;
}

int view_open_file(struct store_view *v, MDB_txn *txn, uint32_t uid)
{
	return open_file(v, txn, uid, NULL);
}

int store_view_open_message(struct store_view *v, uint32_t uid, char **error_r)
{
	MDB_txn *txn;
	int ret = user_txn_begin(v->u, false, &txn, error_r);
	if (ret < 0)
		return ret;
	int fd = open_file(v, txn, uid, error_r);
	user_txn_abort(v->u, txn);
	return fd;
}
