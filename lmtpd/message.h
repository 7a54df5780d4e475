/*
 * The message of one LMTP transaction as it arrives (CRLF lines, already
 * unstuffed): the header block stays in memory, split into fields (they
 * are checked, filtered and copied per recipient); the body goes to a
 * spool, in memory up to SPOOL_MEMORY bytes and then in an unlinked file
 * under the spool directory, so a 50 MB message costs 128 KB of memory.
 * The checks (mailauth) see every byte on the way.
 *
 * Written on the loop thread; once complete, read by the delivery jobs on
 * worker threads at the same time (read-only: pread and memory reads).
 */
#ifndef PETREL_LMTPD_MESSAGE_H
#define PETREL_LMTPD_MESSAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/buf.h"

/* Most mail is smaller: it never touches the spool file (one write and
   one read of every byte fewer; +15% messages/s at 100 KB). Dovecot's
   LMTP keeps the same 128 KB in memory before its temp file. */
#define SPOOL_MEMORY (128 * 1024)

struct mailauth_msg;

struct header_field {
	size_t offset, len; /* in header: the field without its final CRLF */
	bool drop;	    /* not copied into the stored message */
};

enum message_error {
	MESSAGE_OK,
	MESSAGE_TOO_BIG,	/* over max_message_size */
	MESSAGE_HEADER_TOO_BIG,	/* header block over max_header_size */
	MESSAGE_SPOOL_FAILED,	/* could not write the spool (disk) */
};

struct lmtp_message {
	struct buf header;		/* raw header bytes, CRLF, no blank line */
	struct header_field *fields;
	size_t field_count;
	bool in_body;			/* the blank line was seen */
	bool had_blank_line;
	uint64_t size;			/* message bytes received (CRLF) */
	uint64_t body_size;
	enum message_error error;

	struct buf body_mem;		/* the body while it fits in memory */
	int spool_fd;			/* -1 until the body outgrows memory */

	uint64_t max_size, max_header;
	const char *spool_dir;
	int *spare_fd;			/* the session's emptied spool file slot */
	const char *authserv_id;	/* incoming A-R fields with it are dropped */
	struct mailauth_msg *auth;	/* fed as the message arrives; may be NULL */
};

/* auth is borrowed; spool_dir, spare_fd and authserv_id must outlive the
   message. *spare_fd (-1 or an empty spool file) is taken when the body
   outgrows memory and refilled, emptied, when the message is freed. */
struct lmtp_message *lmtp_message_new(uint64_t max_size, uint64_t max_header,
				      const char *spool_dir, int *spare_fd, const char *authserv_id,
				      struct mailauth_msg *auth);
void lmtp_message_free(struct lmtp_message *m);

/* Message bytes with CRLF line ends, in any pieces. After an error the
   bytes are counted and dropped. */
void lmtp_message_write(struct lmtp_message *m, const uint8_t *data, size_t len);
/* The whole message arrived. */
void lmtp_message_finish(struct lmtp_message *m);

/* Copies body bytes [offset, offset+len) into out; returns bytes copied
   (less at the end), or -1 on a read error. Thread-safe. */
ssize_t lmtp_message_read_body(const struct lmtp_message *m, uint64_t offset, void *out,
			       size_t len);

#endif
