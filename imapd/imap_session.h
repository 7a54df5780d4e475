/*
 * An IMAP session: the protocol state on top of a struct conn.
 *
 * imap_session.c turns the reader's frames into complete commands (lines
 * and literals, with "+ OK" continuation for synchronising literals and the
 * size limits of the current state), tokenizes them and dispatches through
 * the command table in imap_commands.c. One command runs at a time; a
 * command that goes asynchronous (a delayed login failure) makes the
 * connection busy, and input waits.
 */
#ifndef PETREL_IMAPD_IMAP_SESSION_H
#define PETREL_IMAPD_IMAP_SESSION_H

#include <stdbool.h>

#include "common/arena.h"
#include "common/auth.h"
#include "common/conn.h"
#include "common/server.h"
#include "imapd/imap_parser.h"

struct store;
struct store_user;
struct store_view;
struct imap_job;
struct imap_notify;
struct imap_append;

/* RFC 3501 section 3. */
enum imap_state {
	IMAP_STATE_NOT_AUTHENTICATED,
	IMAP_STATE_AUTHENTICATED,
	IMAP_STATE_SELECTED,
	IMAP_STATE_LOGOUT,
};

/* Process-wide imapd state (server->proto). */
struct imapd {
	struct store *store;
	struct imap_notify *notify; /* sessions by user, for IDLE pushes */
};

struct imap_session {
	struct conn conn; /* must be first: the connection layer allocates us */
	enum imap_state state;

	struct buf cmd;		/* the command being assembled, in wire form */
	bool cmd_discard;	/* dropping the rest of a refused command */
	struct arena arena;	/* scratch of the running command */

	struct auth_session *auth;
	char *auth_tag;		/* AUTHENTICATE/LOGIN awaiting a line or a delayed reply */
	char *auth_mech;
	bool auth_waiting;	/* the next line is a SASL response, not a command */
	unsigned int auth_failures;
	unsigned int bad_commands; /* in a row */

	/* Logged in: the user's name, and the store's handle, opened by the
	   first job that needs it (opening may read the disk). */
	char *user_name;
	struct store_user *user;
	struct imap_job *job;	/* the running store command */

	/* SELECTED state. The view belongs to the running job while there is
	   one, else to the loop. */
	struct store_view *view;
	char *selected;		/* its name (UTF-8) */
	bool readonly;		/* EXAMINE */

	/* IDLE (RFC 2177): waiting for DONE; changes are pushed at once. */
	char *idle_tag;
	bool idle_changed;	/* a notification arrived during a job */
	struct imap_session *notify_prev, *notify_next; /* same-user list */

	struct imap_append *append; /* APPEND receiving its message */
};

static inline struct imap_session *imap_session(struct conn *c)
{
	return (struct imap_session *)c;
}

static inline struct imapd *imapd_of(struct imap_session *s)
{
	return s->conn.srv->proto;
}

/* "TAG OK text\r\n" etc. The tag is the client's bytes as received. */
void imap_tagged(struct imap_session *s, struct span tag, const char *status, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* "* text\r\n" */
void imap_untagged(struct imap_session *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Counts a BAD reply; closes the connection after too many in a row. */
void imap_bad_command(struct imap_session *s);

/* The CAPABILITY list for the session's current state (no leading "* "). */
void imap_capability(struct imap_session *s, struct buf *out);

/* Finishes a successful login (LOGIN or AUTHENTICATE). */
void imap_login_done(struct imap_session *s, struct span tag, const char *mech);
/* Answers a failed login after the penalty delay. */
void imap_login_failed(struct imap_session *s, struct span tag, const char *mech,
		       const char *user, const char *detail);

/* Refuses the literal just announced and drops the rest of its command. */
void imap_refuse_literal(struct imap_session *s, bool nonsync);

/* A store change in the selected mailbox (imap_notify.c): pushed at once
   during IDLE, else left for the next command. */
void imap_session_changed(struct imap_session *s);
/* The running job finished (imap_job.c). */
void imap_session_job_ended(struct imap_session *s);
/* The line that ends IDLE. */
void imap_idle_line(struct imap_session *s, struct span line);

/* Continues an AUTHENTICATE exchange with the client's line. */
void imap_authenticate_continue(struct imap_session *s, struct span line);

extern const struct conn_handler imap_handler;

#endif
