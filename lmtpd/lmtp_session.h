/*
 * An LMTP session (RFC 2033) on top of a struct conn. This first slice
 * speaks the session layer - greeting, LHLO with its extension list, NOOP,
 * RSET, QUIT - with RFC 2034 enhanced status codes on every reply. Mail
 * transactions (MAIL, RCPT, DATA, BDAT) arrive with the store.
 */
#ifndef PETREL_LMTPD_LMTP_SESSION_H
#define PETREL_LMTPD_LMTP_SESSION_H

#include <stdbool.h>

#include "common/server.h"

struct lmtp_session {
	struct conn conn; /* must be first */
	char *lhlo_name;  /* the client's LHLO argument; NULL before LHLO */
	unsigned int bad_commands;
};

static inline struct lmtp_session *lmtp_session(struct conn *c)
{
	return (struct lmtp_session *)c;
}

/* "250 2.0.0 text" (code and enhanced code in one string). */
void lmtp_reply(struct lmtp_session *s, const char *codes, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void lmtp_bad_command(struct lmtp_session *s);

typedef void lmtp_command_fn(struct lmtp_session *s, struct span args);
struct lmtp_command {
	const char *name;
	bool needs_lhlo;
	lmtp_command_fn *run; /* NULL: transaction command, not in this build yet */
};
const struct lmtp_command *lmtp_command_find(struct span name);

lmtp_command_fn lmtp_cmd_lhlo, lmtp_cmd_helo, lmtp_cmd_noop, lmtp_cmd_rset, lmtp_cmd_quit;

extern const struct conn_handler lmtp_handler;

#endif
