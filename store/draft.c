/*
 * Drafts: the first phase of storing a message, done without any lock.
 *
 * Bytes are written to tmp/ with bare LFs turned into CRLF (IMAP's wire
 * form, so sizes and offsets never need converting) and fed, normalised,
 * to the MIME parser, which also hands us the search text. finish() makes
 * the file durable; the commit (append.c) only puts it in place.
 *
 * The file is made with O_TMPFILE: it has no name until the commit links
 * it into cur/. Creating a named file holds tmp/'s directory lock while
 * the file system finds a free inode, which on a busy ext4 can be slow, so
 * concurrent deliveries queued behind each other; an unnamed file takes no
 * directory lock, costs one directory change instead of two (no entry in
 * tmp/ to add and remove), and a crash leaves nothing to clean up. Where
 * the file system refuses O_TMPFILE, drafts are named files in tmp/.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "common/xalloc.h"
#include "store/internal.h"

#define WRITE_BUFFER (64 * 1024)

void draft_capture_text(void *ctx, enum mime_text_kind kind, const char *utf8, size_t len)
{
	struct store_draft *d = ctx;
	if (kind == MIME_TEXT_HEADER && d->text_header_len == d->text.len)
		d->text_header_len += len > MAX_SEARCH_TEXT - d->text.len ? MAX_SEARCH_TEXT - d->text.len : len;
	if (d->text.len + len > MAX_SEARCH_TEXT) {
		d->text_truncated = true;
		len = MAX_SEARCH_TEXT - d->text.len;
	}
	buf_append(&d->text, utf8, len);
}

/* An unnamed file in tmp/, or -1 with errno (ENOTSUP and the like: the
   file system has no O_TMPFILE; we remember that). */
static int open_unnamed(struct store_user *u, const char *tmp_dir)
{
	if (__atomic_load_n(&u->store->named_drafts, __ATOMIC_RELAXED)) {
		errno = EOPNOTSUPP;
		return -1;
	}
	int fd = open(tmp_dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0640);
	if (fd < 0 && (errno == EOPNOTSUPP || errno == EISDIR || errno == EINVAL))
		__atomic_store_n(&u->store->named_drafts, true, __ATOMIC_RELAXED);
	return fd;
}

int store_draft_begin(struct store_user *u, struct store_draft **d_r, char **error_r)
{
	struct store_draft *d = xcalloc(1, sizeof(*d));
	d->u = u;
	struct timeval tv;
	gettimeofday(&tv, NULL);
	d->base = xasprintf("%ld.M%06ldP%ldQ%u.%s", (long)tv.tv_sec, (long)tv.tv_usec,
			    (long)getpid(), msgfile_next_seq(u->store), u->store->hostname);
	char *tmp_dir = xasprintf("%s/tmp", u->maildir);
	d->fd = open_unnamed(u, tmp_dir);
	if (d->fd >= 0) {
		d->where = tmp_dir;
	} else {
		free(tmp_dir);
		d->tmp_path = xasprintf("%s/tmp/%s", u->maildir, d->base);
		d->where = xstrdup(d->tmp_path);
		d->fd = open(d->tmp_path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
	}
	if (d->fd < 0) {
		int ret = store_sys_error("cannot create", d->where, error_r);
		free(d->tmp_path);
		d->tmp_path = NULL;
		store_draft_abort(&d);
		return ret;
	}
	buf_init(&d->out, 0);
	const struct mime_limits limits = MIME_DEFAULT_LIMITS;
	d->parser = mime_parser_create(&limits, draft_capture_text, d);
	*d_r = d;
	return STORE_OK;
}

static int flush(struct store_draft *d, char **error_r)
{
	const uint8_t *p = d->out.data;
	size_t left = d->out.len;
	while (left > 0) {
		ssize_t n = write(d->fd, p, left);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return store_sys_error("cannot write", d->where, error_r);
		}
		p += n;
		left -= (size_t)n;
	}
	mime_parser_feed(d->parser, d->out.data, d->out.len);
	buf_clear(&d->out);
	return STORE_OK;
}

int store_draft_write(struct store_draft *d, const void *data, size_t len, char **error_r)
{
	const uint8_t *p = data, *end = p + len;
	while (p < end) {
		/* Copy up to the next LF as is; add the CR a bare LF lacks. */
		const uint8_t *lf = memchr(p, '\n', (size_t)(end - p));
		size_t run = lf != NULL ? (size_t)(lf - p) : (size_t)(end - p);
		if (run > 0) {
			buf_append(&d->out, p, run);
			d->last_was_cr = p[run - 1] == '\r';
			p += run;
		}
		if (lf != NULL) {
			if (!d->last_was_cr)
				buf_append_byte(&d->out, '\r');
			buf_append_byte(&d->out, '\n');
			d->last_was_cr = false;
			p++;
		}
		if (d->out.len >= WRITE_BUFFER) {
			d->size += d->out.len;
			int ret = flush(d, error_r);
			if (ret < 0)
				return ret;
		}
	}
	return STORE_OK;
}

uint64_t store_draft_size(const struct store_draft *d)
{
	return d->size + d->out.len;
}

int store_draft_finish(struct store_draft *d, char **error_r)
{
	d->size += d->out.len;
	int ret = flush(d, error_r);
	if (ret < 0)
		return ret;
	if (fsync(d->fd) < 0)
		return store_sys_error("cannot fsync", d->where, error_r);
	d->mime = mime_parser_finish(d->parser);
	d->parser = NULL;
	/* The lines of the header fields clients fetch most, for the index:
	   read back from the page cache, bounded by MAX_INDEXED_HEADER. */
	uint64_t hsize = d->mime->part_count > 0 ? d->mime->parts[0].header_size : 0;
	if (hsize > MAX_INDEXED_HEADER)
		hsize = MAX_INDEXED_HEADER;
	if (hsize > 0) {
		struct buf header = BUF_INIT;
		buf_reserve(&header, (size_t)hsize);
		ssize_t n = pread(d->fd, header.data, (size_t)hsize, 0);
		if (n != (ssize_t)hsize) {
			buf_free(&header);
			return store_sys_error("cannot read back", d->where, error_r);
		}
		header.len = (size_t)hsize;
		msgtext_cached_lines(buf_span(&header), &d->fields);
		buf_free(&header);
	}
	if (d->tmp_path != NULL) {
		close(d->fd); /* an unnamed draft keeps its file by the fd */
		d->fd = -1;
	}
	/* The message's words, header and body apart, folded as queries will
	   be. The text itself is not kept. */
	msgtext_word_lists(buf_span(&d->text), d->text_header_len, false, &d->words);
	buf_free(&d->text);
	d->finished = true;
	return STORE_OK;
}

void store_draft_abort(struct store_draft **dp)
{
	struct store_draft *d = *dp;
	if (d == NULL)
		return;
	*dp = NULL;
	if (d->fd >= 0)
		close(d->fd);
	if (d->tmp_path != NULL)
		unlink(d->tmp_path);
	mime_parser_destroy(&d->parser);
	mime_result_free(&d->mime);
	buf_free(&d->out);
	buf_free(&d->text);
	buf_free(&d->fields);
	buf_free(&d->words);
	free(d->tmp_path);
	free(d->where);
	free(d->base);
	free(d);
}

/* Links an unnamed file by its descriptor. /proc/self/fd works for any
   user; AT_EMPTY_PATH is the way when /proc is not mounted (it needs
   CAP_DAC_READ_SEARCH before Linux 6.10). */
static int link_fd(int fd, const char *path)
{
	char self[64];
	snprintf(self, sizeof(self), "/proc/self/fd/%d", fd);
	if (linkat(AT_FDCWD, self, AT_FDCWD, path, AT_SYMLINK_FOLLOW) == 0)
		return 0;
	if (errno != ENOENT)
		return -1;
	return linkat(fd, "", AT_FDCWD, path, AT_EMPTY_PATH);
}

int draft_place(struct store_draft *d, const char *path, int64_t internaldate)
{
	/* The file's mtime carries INTERNALDATE, so a rebuilt index gets it
	   back. */
	struct timespec times[2] = { { internaldate, 0 }, { internaldate, 0 } };
	if (d->tmp_path == NULL) {
		futimens(d->fd, times);
		return link_fd(d->fd, path);
	}
	utimensat(AT_FDCWD, d->tmp_path, times, 0);
	return rename(d->tmp_path, path);
}

void draft_unplace(struct store_draft *d, const char *path)
{
	if (d->tmp_path == NULL)
		unlink(path); /* the draft still holds the file */
	else
		rename(path, d->tmp_path);
}

void draft_consumed(struct store_draft **dp)
{
	struct store_draft *d = *dp;
	if (d != NULL) {
		free(d->tmp_path);
		d->tmp_path = NULL; /* in place in cur/: not to be unlinked */
	}
	store_draft_abort(dp);
}
