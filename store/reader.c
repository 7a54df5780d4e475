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
		if ((ret = cache_get(v->u, r->txn, v->mailbox_id, uid, &cv)) < 0)
			return ret;
		m->envelope = cv.envelope;
		m->body = cv.body;
		m->bodystructure = cv.bodystructure;
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

int store_reader_header(struct store_reader *r, uint32_t uid, struct buf *out)
{
	struct store_view *v = r->v;
	int ret = msgindex_get_blob(v->u, r->txn, v->u->headers, v->mailbox_id, uid, out, NULL);
	if (ret != STORE_ERR_NOT_FOUND)
		return ret;
	/* Header blocks too big for the index are read from the file. */
	struct cache_view cv;
	if ((ret = cache_get(v->u, r->txn, v->mailbox_id, uid, &cv)) < 0)
		return ret;
	struct store_part part;
	if (cv.part_count == 0)
		return STORE_OK;
	memcpy(&part, cv.parts.ptr, sizeof(part));
	int fd = open_file(v, r->txn, uid, NULL);
	if (fd < 0)
		return fd;
	ret = STORE_OK;
	if (buf_reserve(out, (size_t)part.header_size) < 0 ||
	    pread(fd, out->data + out->len, (size_t)part.header_size, 0) != (ssize_t)part.header_size)
		ret = STORE_ERR_IO;
	else
		out->len += (size_t)part.header_size;
	close(fd);
	return ret;
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
