/*
 * An LMTP session (RFC 2033) on top of a struct conn.
 *
 * Files: lmtp_session.c (framing, dispatch, the connection handler),
 * cmd_session.c (LHLO, NOOP, RSET, QUIT, VRFY), cmd_xforward.c (XFORWARD,
 * XCLIENT), cmd_mail.c (MAIL, RCPT), cmd_data.c (DATA, BDAT and what
 * happens after the final dot), message.c (the incoming message: header
 * fields in memory, body in a spool), deliver.c (one recipient's copy into
 * the store, on the thread pool), smtp_address.c and dot_stream.c (syntax).
 *
 * Ordering: commands are handled one at a time in arrival order. A command
 * that waits (RCPT's user lookup, the checks and deliveries after DATA)
 * makes the connection busy, so pipelined commands behind it wait and
 * every reply goes out in order.
 */
#ifndef PETREL_LMTPD_LMTP_SESSION_H
#define PETREL_LMTPD_LMTP_SESSION_H

#include <stdbool.h>
#include <stdint.h>

#include "common/server.h"
#include "lmtpd/dot_stream.h"
#include "lmtpd/smtp_address.h"
#include "lmtpd/user_cache.h"

struct store;
struct store_user;
struct dns_resolver;
struct lmtp_message;
struct mailauth_msg;
struct dns_request;

/* Process-wide state (srv->proto). */
struct lmtpd {
	struct store *store;
	struct dns_resolver *resolver;
	char *spool_dir;
	struct user_cache users;
};

struct lmtp_rcpt {
	struct smtp_path path;	 /* as given */
	char *user;		 /* store user name, lowercase, without detail */
	char *mailbox;		 /* "INBOX" or the detail folder */
	struct store_user *store_user; /* opened by RCPT, closed by the delivery */
	/* Delivery result. */
	bool done;
	char *reply;		 /* the whole reply line, without CRLF */
};

/* The original SMTP client, from XFORWARD / XCLIENT. NULL: not given.
   Once forwarded, the LMTP peer no longer stands for the client: without
   ADDR ("[UNAVAILABLE]") the client's address is unknown. */
struct lmtp_client_info {
	bool forwarded;
	char *addr, *name, *helo, *proto;
};

struct lmtp_txn {
	bool active;		/* MAIL FROM accepted */
	struct smtp_path from;
	uint64_t declared_size;
	bool smtputf8;
	struct lmtp_rcpt *rcpts;
	unsigned int rcpt_count, rcpt_alloc;
	unsigned int rcpt_refused; /* counted against max_recipients too */
	/* DATA / BDAT */
	struct lmtp_message *msg;
	struct dot_stream dot;
	bool in_data;		/* reading the DATA stream */
	uint64_t bdat_left;	/* bytes of the current BDAT chunk still to come */
	bool bdat_in_chunk, bdat_last;
	bool bdat_failed;	/* a chunk was refused: the rest are read and dropped */
	struct buf scratch;	/* decoded DATA bytes on their way to msg */
	/* Checks */
	struct mailauth_msg *auth;
	struct dns_request *dns_req; /* the lookup in flight, if any */
	bool checks_waiting;	/* after the message: waiting for DNS */
	/* Delivery */
	unsigned int replies_sent, jobs_pending;
	bool delivering;
};

struct lmtp_session {
	struct conn conn; /* must be first */
	char *lhlo_name;  /* the client's LHLO argument; NULL before LHLO */
	unsigned int bad_commands;
	char session_id[20];
	struct lmtp_client_info client;
	struct lmtp_txn txn;
	uint64_t txn_count;
	/* An emptied spool file kept for the connection's next large message:
	   creating and freeing an inode per message made ext4's inode
	   allocator scan its recently deleted inodes. -1: none. */
	int spare_spool_fd;
};

static inline struct lmtp_session *lmtp_session(struct conn *c)
{
	return (struct lmtp_session *)c;
}

static inline struct lmtpd *lmtpd_of(const struct lmtp_session *s)
{
	return s->conn.srv->proto;
}

/* "250 2.0.0 text" (code and enhanced code in one string). */
void lmtp_reply(struct lmtp_session *s, const char *codes, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void lmtp_bad_command(struct lmtp_session *s);

typedef void lmtp_command_fn(struct lmtp_session *s, struct span args);
struct lmtp_command {
	const char *name;
	bool needs_lhlo;
	lmtp_command_fn *run;
};
const struct lmtp_command *lmtp_command_find(struct span name);

lmtp_command_fn lmtp_cmd_lhlo, lmtp_cmd_helo, lmtp_cmd_noop, lmtp_cmd_rset, lmtp_cmd_quit,
	lmtp_cmd_vrfy, lmtp_cmd_xforward, lmtp_cmd_xclient, lmtp_cmd_mail, lmtp_cmd_rcpt,
	lmtp_cmd_data, lmtp_cmd_bdat;

/* XFORWARD/XCLIENT are accepted from this client (trusted networks). */
bool lmtp_client_trusted(const struct lmtp_session *s);
void lmtp_client_info_clear(struct lmtp_client_info *ci);

/* Raw input of DATA / BDAT (cmd_data.c); returns bytes used. */
size_t lmtp_data_input(struct lmtp_session *s, const uint8_t *data, size_t len);

/* Ends the mail transaction: frees recipients and message (RSET, after the
   last reply, MAIL errors, connection end). */
void lmtp_txn_reset(struct lmtp_session *s);

/* The checks (checks.c): started at MAIL FROM so SPF lookups overlap
   with the rest of the transaction; finished after the message, then
   lmtp_data_checked(s) (cmd_data.c) runs, possibly at once. */
void lmtp_checks_start(struct lmtp_session *s);
void lmtp_checks_kick(struct lmtp_session *s);
void lmtp_checks_finish(struct lmtp_session *s);
void lmtp_data_checked(struct lmtp_session *s);
void lmtp_checks_cancel(struct lmtp_session *s);

/* The Received: field naming one recipient, without the final CRLF;
   malloc'd. */
char *lmtp_received_field(const struct lmtp_session *s, const char *rcpt);

/* Delivers every recipient's copy (deliver.c) with our Authentication-
   Results field (NULL: none), to INBOX (or the +detail folder) or, with
   to_junk, to the Junk folder; the replies follow in order. */
void lmtp_deliver_start(struct lmtp_session *s, const char *authres, bool to_junk);

extern const struct conn_handler lmtp_handler;

#endif
