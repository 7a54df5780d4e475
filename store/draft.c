/*
 * Drafts: the first phase of storing a message, done without any lock.
 *
 * Bytes are written to tmp/ with bare LFs turned into CRLF (IMAP's wire
 * form, so sizes and offsets never need converting) and fed, normalised,
 * to the MIME parser, which also hands us the search text. finish() makes
 * the file durable; the commit (append.c) only renames it.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

int store_draft_begin(struct store_user *u, struct store_draft **d_r, char **error_r)
{
	struct store_draft *d = xcalloc(1, sizeof(*d));
	d->u = u;
	d->fd = -1;
	struct timeval tv;
	gettimeofday(&tv, NULL);
	d->base = xasprintf("%ld.M%06ldP%ldQ%u.%s", (long)tv.tv_sec, (long)tv.tv_usec,
			    (long)getpid(), msgfile_next_seq(u->store), u->store->hostname);
	d->tmp_path = xasprintf("%s/tmp/%s", u->maildir, d->base);
	d->fd = open(d->tmp_path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
	if (d->fd < 0) {
		int ret = store_sys_error("cannot create", d->tmp_path, error_r);
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
			return store_sys_error("cannot write", d->tmp_path, error_r);
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
		return store_sys_error("cannot fsync", d->tmp_path, error_r);
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
			return store_sys_error("cannot read back", d->tmp_path, error_r);
		}
		header.len = (size_t)hsize;
		msgtext_cached_lines(buf_span(&header), &d->fields);
		buf_free(&header);
	}
	close(d->fd);
	d->fd = -1;
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
	free(d->base);
	free(d);
}
