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
#include "common/fileio.h"
#include "common/parallel.h"
#include "common/xalloc.h"
#include "store/view.h"

struct store_reader {
	struct store_view *v;
	MDB_txn *txn;
	struct arena arena;
	struct buf scratch; /* decompressed cache records */
	int cur_fd;	    /* the folder's cur/, opened with the first file */
	/* Cursors for reading many messages in UID order (msg_get_at);
	   opened on first use, closed with the transaction. */
	MDB_cursor *msgs, *headers;
	struct buf header_scratch; /* a compressed header record, unpacked */
	/* store_reader_header: whether the index keeps all of these fields,
	   worked out once for a FETCH's list, not per message */
	const char *const *checked_fields;
	size_t checked_count;
	bool checked_cached;
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
	r->cur_fd = -1;
	*r_r = r;
	return STORE_OK;
}

void store_reader_end(struct store_reader **rp)
{
	struct store_reader *r = *rp;
	if (r == NULL)
		return;
	*rp = NULL;
	if (r->msgs != NULL)
		mdb_cursor_close(r->msgs);
	if (r->headers != NULL)
		mdb_cursor_close(r->headers);
	user_txn_abort(r->v->u, r->txn);
	buf_free(&r->header_scratch);
	if (r->cur_fd >= 0)
		close(r->cur_fd);
	arena_free(&r->arena);
	buf_free(&r->scratch);
	free(r);
}

static int open_cursor(struct store_reader *r, MDB_dbi dbi, MDB_cursor **c)
{
	if (*c != NULL)
		return STORE_OK;
	return user_rc(mdb_cursor_open(r->txn, dbi, c), "cursor", NULL);
}

static int msgs_cursor(struct store_reader *r)
{
	return open_cursor(r, r->v->u->msgs, &r->msgs);
}

int store_reader_get(struct store_reader *r, uint32_t uid, unsigned int what, struct store_msg *m)
{
	struct store_view *v = r->v;
	memset(m, 0, sizeof(*m));
	m->uid = uid;
	struct msg_info rec;
	int ret = msgs_cursor(r);
	if (ret == STORE_OK)
		ret = msg_get_at(r->msgs, v->mailbox_id, uid, &rec);
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

/* Re-reads what names keyword letters in file names: the user's keyword
   names and the folder's letters. */
static void refresh_file_letters(struct store_view *v, MDB_txn *txn)
{
	keyword_names_free(v->keyword_names);
	user_keyword_names(v->u, txn, v->keyword_names);
	if (v->file_letters == NULL)
		v->file_letters = xcalloc(1, sizeof(*v->file_letters));
	else
		mailbox_file_free(v->file_letters);
	mailbox_file_read(v->folder, v->file_letters);
}

static bool keywords_named(const struct store_view *v, uint64_t keywords)
{
	for (unsigned int id = 0; id < STORE_MAX_KEYWORDS; id++)
		if ((keywords & (1ULL << id)) && v->keyword_names[id] == NULL)
			return false;
	return true;
}

/* The folder's cur/, opened once per reader (*cur_fd) on first use. */
static int open_cur_dir(const struct store_view *v, int *cur_fd)
{
	if (*cur_fd < 0) {
		char *dir = xasprintf("%s/cur", v->folder);
		*cur_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		free(dir);
	}
	return *cur_fd;
}

/* Opens the file by the name its flags give: relative to cur/ when the
   caller keeps that directory open (*cur_fd, opened here on first use),
   which spares the kernel the walk down the whole data path per file. */
static int open_named(struct store_view *v, const struct msg_info *mi, int *cur_fd, char **path_r)
{
	*path_r = msgfile_current_path(v->folder, mi->name, mi->flags, mi->keywords,
				       mi->keywords != 0 ? v->file_letters : NULL, v->keyword_names);
	if (cur_fd == NULL || open_cur_dir(v, cur_fd) < 0)
		return open(*path_r, O_RDONLY | O_CLOEXEC);
	return openat(*cur_fd, strrchr(*path_r, '/') + 1, O_RDONLY | O_CLOEXEC);
}

/* Opens the message file: where the index says, or found by its base name.
   The name is built from the flags without touching the folder's
   petrel-mailbox file unless the message has keywords (FETCH opens
   thousands of files in a row; re-reading it cost a third of the time). */
static int open_file(struct store_view *v, MDB_txn *txn, MDB_cursor *msgs, uint32_t uid,
		     int *cur_fd, char **error_r)
{
	struct msg_info mi;
	int ret = msgs != NULL ? msg_get_at(msgs, v->mailbox_id, uid, &mi) :
				 msg_get(v->u, txn, v->mailbox_id, uid, &mi);
	if (ret < 0)
		return store_fail(ret, error_r, "no such message");
	bool fresh = false;
	if (mi.keywords != 0 && (v->file_letters == NULL || !keywords_named(v, mi.keywords))) {
		refresh_file_letters(v, txn);
		fresh = true;
	}
	char *path;
	int fd = open_named(v, &mi, cur_fd, &path);
	if (fd < 0 && errno == ENOENT && mi.keywords != 0 && !fresh) {
		/* Another process may have given a keyword a new letter. */
		free(path);
		refresh_file_letters(v, txn);
		fd = open_named(v, &mi, cur_fd, &path);
	}
	if (fd < 0 && errno == ENOENT) {
		free(path);
		path = msgfile_find(v->folder, (const char *)mi.name.ptr, mi.name.len);
		fd = path != NULL ? open(path, O_RDONLY | O_CLOEXEC) : -1;
	}
	if (fd < 0)
		ret = path != NULL ? store_sys_error("cannot open", path, error_r) :
				     store_fail(STORE_ERR_NOT_FOUND, error_r, "message file is gone");
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
	int fd = open_file(v, txn, NULL, uid, NULL, NULL);
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

int store_reader_header_ref(struct store_reader *r, uint32_t uid, const char *const *fields,
			    size_t count, struct span *block_r)
{
	*block_r = span_make("", 0);
	bool cached = fields != NULL && count > 0;
	if (cached && fields == r->checked_fields && count == r->checked_count) {
		cached = r->checked_cached;
	} else {
		for (size_t i = 0; cached && i < count; i++)
			cached = msgtext_field_cached(fields[i], strlen(fields[i]));
		r->checked_fields = fields;
		r->checked_count = count;
		r->checked_cached = cached;
	}
	int ret;
	if (!cached) {
		buf_clear(&r->header_scratch);
		ret = view_read_header_file(r->v, r->txn, uid, &r->header_scratch);
		*block_r = buf_span(&r->header_scratch);
		return ret;
	}
	ret = open_cursor(r, r->v->u->headers, &r->headers);
	if (ret == STORE_OK)
		ret = msgindex_blob_at(r->headers, r->v->mailbox_id, uid, block_r,
				       &r->header_scratch);
	if (ret != STORE_ERR_NOT_FOUND)
		return ret;
	/* No record: the message has none of the cached fields - or is
	   gone (both records go in one transaction). */
	struct msg_info mi;
	ret = msgs_cursor(r);
	return ret < 0 ? ret : msg_get_at(r->msgs, r->v->mailbox_id, uid, &mi);
}

int store_reader_header(struct store_reader *r, uint32_t uid, const char *const *fields,
			size_t count, struct buf *out)
{
	struct span block;
	int ret = store_reader_header_ref(r, uid, fields, count, &block);
	if (ret == STORE_OK && buf_append(out, block.ptr, block.len) < 0)
		ret = STORE_ERR_IO;
	return ret;
}

int view_open_file(struct store_view *v, MDB_txn *txn, uint32_t uid)
{
	return open_file(v, txn, NULL, uid, NULL, NULL);
}

int store_reader_open(struct store_reader *r, uint32_t uid, char **error_r)
{
	int ret = msgs_cursor(r);
	if (ret < 0)
		return store_fail(ret, error_r, "cannot read the index");
	return open_file(r->v, r->txn, r->msgs, uid, &r->cur_fd, error_r);
}

/* store_reader_read_many: file paths (opened relative to cur/) worked out on the
   caller's thread (they need the index); the files are read on any. */
struct read_many {
	int dir_fd;
	char **paths; /* NULL: left to the usual path */
	struct store_read *reads;
};

static void read_one(void *ctx, size_t i)
{
	struct read_many *rm = ctx;
	struct store_read *rd = &rm->reads[i];
	if (rm->paths[i] == NULL)
		return;
	int fd = openat(rm->dir_fd, strrchr(rm->paths[i], '/') + 1, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	rd->ok = pread_exact(fd, rd->offset, rd->dest, rd->len) == 0;
	close(fd);
}

void store_reader_read_many(struct store_reader *r, struct store_read *reads, size_t count)
{
	struct store_view *v = r->v;
	for (size_t i = 0; i < count; i++)
		reads[i].ok = false;
	if (open_cur_dir(v, &r->cur_fd) < 0 || msgs_cursor(r) < 0)
		return;
	struct read_many rm = { .dir_fd = r->cur_fd, .reads = reads,
				.paths = xcalloc(count, sizeof(char *)) };
	for (size_t i = 0; i < count; i++) {
		struct msg_info mi;
		/* Keywords whose letters are not known yet are left to the
		   usual path, which re-reads them. */
		if (msg_get_at(r->msgs, v->mailbox_id, reads[i].uid, &mi) < 0 ||
		    (mi.keywords != 0 && (v->file_letters == NULL || !keywords_named(v, mi.keywords))))
			continue;
		rm.paths[i] = msgfile_current_path(v->folder, mi.name, mi.flags, mi.keywords,
						   mi.keywords != 0 ? v->file_letters : NULL,
						   v->keyword_names);
	}
	parallel_for(count, read_one, &rm);
	for (size_t i = 0; i < count; i++)
		free(rm.paths[i]);
	free(rm.paths);
}

int store_view_open_message(struct store_view *v, uint32_t uid, char **error_r)
{
	MDB_txn *txn;
	int ret = user_txn_begin(v->u, false, &txn, error_r);
	if (ret < 0)
		return ret;
	int fd = open_file(v, txn, NULL, uid, NULL, error_r);
	user_txn_abort(v->u, txn);
	return fd;
}
