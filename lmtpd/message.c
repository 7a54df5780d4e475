#include "lmtpd/message.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "common/fileio.h"
#include "common/mailheader.h"
#include "common/xalloc.h"
#include "mailauth/authres.h"
#include "mailauth/mailauth.h"

struct lmtp_message *lmtp_message_new(uint64_t max_size, uint64_t max_header,
				      const char *spool_dir, int *spare_fd, const char *authserv_id,
				      struct mailauth_msg *auth)
{
	struct lmtp_message *m = xcalloc(1, sizeof(*m));
	m->spool_fd = -1;
	m->max_size = max_size;
	m->max_header = max_header;
	m->spool_dir = spool_dir;
	m->spare_fd = spare_fd;
	m->authserv_id = authserv_id;
	m->auth = auth;
	return m;
}

void lmtp_message_free(struct lmtp_message *m)
{
	if (m == NULL)
		return;
	buf_free(&m->header);
	buf_free(&m->body_mem);
	free(m->fields);
	if (m->spool_fd >= 0) {
		if (*m->spare_fd < 0 && ftruncate(m->spool_fd, 0) == 0 &&
		    lseek(m->spool_fd, 0, SEEK_SET) == 0)
			*m->spare_fd = m->spool_fd;
		else
			close(m->spool_fd);
	}
	free(m);
}

/* An unlinked file: nothing is left behind if we crash, and nothing
   needs cleaning up. */
static int spool_open(const char *dir)
{
	int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd >= 0 || (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL))
		return fd;
	char *path = xasprintf("%s/spool.XXXXXX", dir);
	fd = mkostemp(path, O_CLOEXEC);
	if (fd >= 0)
		unlink(path);
	free(path);
	return fd;
}

static int write_all(int fd, const uint8_t *data, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, data, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		data += n;
		len -= (size_t)n;
	}
	return 0;
}

static void body_write(struct lmtp_message *m, const uint8_t *data, size_t len)
{
	if (len == 0)
		return;
	if (m->auth != NULL)
		mailauth_msg_body(m->auth, (const char *)data, len);
	m->body_size += len;
	if (m->spool_fd < 0 && m->body_mem.len + len <= SPOOL_MEMORY) {
		buf_append(&m->body_mem, data, len);
		return;
	}
	if (m->spool_fd < 0) {
		if (*m->spare_fd >= 0) {
			m->spool_fd = *m->spare_fd;
			*m->spare_fd = -1;
		} else {
			m->spool_fd = spool_open(m->spool_dir);
		}
		if (m->spool_fd < 0 || write_all(m->spool_fd, m->body_mem.data, m->body_mem.len) < 0) {
			m->error = MESSAGE_SPOOL_FAILED;
			return;
		}
		buf_free(&m->body_mem);
	}
	if (write_all(m->spool_fd, data, len) < 0)
		m->error = MESSAGE_SPOOL_FAILED;
}

/* Splits the completed header block into fields and hands them to the
   checks. */
static void header_complete(struct lmtp_message *m)
{
	const uint8_t *h = m->header.data;
	size_t pos = 0, start, flen, alloc = 0;
	while (mailheader_next_field(h, m->header.len, &pos, &start, &flen)) {
		if (m->field_count == alloc) {
			alloc = alloc ? alloc * 2 : 32;
			m->fields = xreallocarray(m->fields, alloc, sizeof(*m->fields));
		}
		struct header_field *f = &m->fields[m->field_count++];
		f->offset = start;
		f->len = flen;
		f->drop = false;
		if (m->auth != NULL)
			mailauth_msg_header(m->auth, (const char *)h + start, flen);
		size_t value;
		size_t name_len = mailheader_field_name(h + start, flen, &value);
		if (name_len == 22 && strncasecmp((const char *)h + start, "Authentication-Results", 22) == 0)
			f->drop = authres_claims_id((const char *)h + start + value, flen - value,
						    m->authserv_id);
	}
	if (m->auth != NULL)
		mailauth_msg_eoh(m->auth);
}

void lmtp_message_write(struct lmtp_message *m, const uint8_t *data, size_t len)
{
	m->size += len;
	if (m->size > m->max_size && m->error == MESSAGE_OK)
		m->error = MESSAGE_TOO_BIG;
	if (m->error != MESSAGE_OK)
		return;
	if (m->in_body) {
		body_write(m, data, len);
		return;
	}
	/* Still in the header: look for the blank line that ends it (which
	   may straddle pieces, so look back three bytes). */
	size_t old = m->header.len;
	buf_append(&m->header, data, len);
	const uint8_t *h = m->header.data;
	size_t end = 0;
	bool found = false;
	if (m->header.len >= 2 && h[0] == '\r' && h[1] == '\n') {
		/* No header at all: the message starts with the blank line. */
		found = true;
		end = 0;
	} else {
		size_t from = old >= 3 ? old - 3 : 0;
		for (size_t i = from; i + 4 <= m->header.len; i++) {
			if (h[i] == '\r' && h[i + 1] == '\n' && h[i + 2] == '\r' && h[i + 3] == '\n') {
				found = true;
				end = i + 2;
				break;
			}
		}
	}
	if (!found) {
		if (m->header.len > m->max_header)
			m->error = MESSAGE_HEADER_TOO_BIG;
		return;
	}
	if (end > m->max_header) {
		m->error = MESSAGE_HEADER_TOO_BIG;
		return;
	}
	/* header = [0, end); the blank line is [end, end+2); the rest is body. */
	size_t body_start = end + 2;
	size_t rest = m->header.len - body_start;
	m->in_body = true;
	m->had_blank_line = true;
	m->header.len = end;
	header_complete(m);
	body_write(m, m->header.data + body_start, rest);
}

void lmtp_message_finish(struct lmtp_message *m)
{
	if (m->error == MESSAGE_OK && !m->in_body) {
		/* Only header lines (or nothing): all of it is the header. */
		if (m->header.len > m->max_header) {
			m->error = MESSAGE_HEADER_TOO_BIG;
			return;
		}
		/* A last line without CRLF cannot happen: the stream ends in CRLF. */
		m->in_body = true;
		header_complete(m);
	}
	if (m->error == MESSAGE_OK && m->auth != NULL)
		mailauth_msg_eom(m->auth);
}

ssize_t lmtp_message_read_body(const struct lmtp_message *m, uint64_t offset, void *out,
			       size_t len)
{
	if (offset >= m->body_size)
		return 0;
	if (len > m->body_size - offset)
		len = (size_t)(m->body_size - offset);
	if (m->spool_fd < 0) {
		memcpy(out, m->body_mem.data + offset, len);
		return (ssize_t)len;
	}
	if (pread_exact(m->spool_fd, offset, out, len) < 0)
		return -1;
	return (ssize_t)len;
}
