/*
 * A POP3 session (RFC 1939) on top of a struct conn: AUTHORIZATION with
 * USER/PASS, AUTH (RFC 5034) and STLS (RFC 2595); TRANSACTION on a
 * snapshot of the maildrop (pop3_maildrop.h); UPDATE when QUIT applies
 * the deletions. Commands are "VERB [args]" lines dispatched through the
 * table in pop3_session.c; one runs at a time. A command that needs the
 * store runs as a job (pop3_job.h) and the session is busy meanwhile, so
 * pipelined commands (RFC 2449 6.6) wait their turn in the reader.
 */
#ifndef PETREL_POP3D_POP3_SESSION_H
#define PETREL_POP3D_POP3_SESSION_H

#include <stdbool.h>

#include "common/auth.h"
#include "common/server.h"
#include "pop3d/pop3_maildrop.h"

struct store;
struct pop3_job;
struct pop3_ahead;

enum pop3_state {
	POP3_STATE_AUTHORIZATION,
	POP3_STATE_TRANSACTION,
	POP3_STATE_UPDATE, /* QUIT is applying the marks; the session then ends */
};

/* Process-wide pop3d state (server->proto). */
struct pop3d {
	struct store *store;
	struct pop3_policy policy;
	unsigned int aheads_held; /* RETR read-aheads (pop3_ahead.h), loop only */
};

struct pop3_session;
/* Continues a multi-line answer made from memory (LIST, UIDL); returns
   true once its terminating line is written. */
typedef bool pop3_listing_fn(struct pop3_session *s);

struct pop3_session {
	struct conn conn; /* must be first */
	enum pop3_state state;
	struct auth_session *auth;
	char *user;		/* from USER, waiting for PASS */
	char *auth_mech;	/* AUTH exchange in progress */
	bool auth_waiting;	/* the next line is a SASL response */
	unsigned int auth_failures;
	unsigned int bad_commands;

	char *user_name;	/* logged in */
	/* TRANSACTION: the snapshot. The running job's while there is one,
	   else the loop's. */
	struct pop3_maildrop *drop;
	struct pop3_job *job;
	/* A LIST or UIDL answer in progress: written as the output queue
	   drains, before the next command is read. */
	pop3_listing_fn *listing;
	uint32_t listing_next;	/* the next message to list */
	/* A pipelined line read ahead by pop3_take_line and handed back:
	   dispatched before anything else in the reader. */
	char *unread;
	size_t unread_len;
	bool unread_too_long;	/* the line read ahead was too long */
	/* RETR answers read ahead (pop3_ahead.h), and the message a RETR
	   in order would ask for next. */
	struct pop3_ahead *ahead;
	uint32_t retr_next;
};

static inline struct pop3_session *pop3_session(struct conn *c)
{
	return (struct pop3_session *)c;
}

static inline struct pop3d *pop3d_of(struct pop3_session *s)
{
	return s->conn.srv->proto;
}

/* "+OK text" / "-ERR text" lines. */
void pop3_ok(struct pop3_session *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void pop3_err(struct pop3_session *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Counts a syntax error; closes the connection after too many in a row. */
void pop3_bad_command(struct pop3_session *s);

void pop3_login_done(struct pop3_session *s, const char *mech);
void pop3_login_failed(struct pop3_session *s, const char *mech, const char *user,
		       const char *detail);
void pop3_auth_continue(struct pop3_session *s, struct span line);

typedef void pop3_command_fn(struct pop3_session *s, struct span args);
struct pop3_command {
	const char *name;
	unsigned int states; /* bit per enum pop3_state */
	pop3_command_fn *run;
};
const struct pop3_command *pop3_command_find(struct span name);

/* cmd_auth.c, cmd_capa.c */
pop3_command_fn pop3_cmd_capa, pop3_cmd_stls, pop3_cmd_user, pop3_cmd_pass, pop3_cmd_auth;
/* cmd_transaction.c */
pop3_command_fn pop3_cmd_stat, pop3_cmd_list, pop3_cmd_uidl, pop3_cmd_dele, pop3_cmd_rset,
	pop3_cmd_noop;
/* cmd_retr.c */
pop3_command_fn pop3_cmd_retr, pop3_cmd_top;
/* cmd_quit.c */
pop3_command_fn pop3_cmd_quit;

/*
 * For TRANSACTION commands: parses "msg" (args_wanted 1) or "msg n" (2)
 * and finds the message. pop3_msg_find only says what is wrong;
 * pop3_msg_arg answers -ERR for it (counting syntax errors) and returns
 * the message, with *n_r set for two arguments, or NULL.
 */
enum pop3_msg_lookup {
	POP3_MSG_FOUND,
	POP3_MSG_TOO_MANY_ARGS,
	POP3_MSG_MISSING,
	POP3_MSG_INVALID,	   /* msg is not a number */
	POP3_MSG_BAD_LINES,	   /* n is not a number */
	POP3_MSG_TOO_LARGE,	   /* msg beyond any message number */
	POP3_MSG_NO_SUCH,
	POP3_MSG_DELETED_ALREADY,
};
enum pop3_msg_lookup pop3_msg_find(struct pop3_maildrop *md, struct span args,
				    unsigned int args_wanted, struct pop3_msg **m_r, uint64_t *number_r,
				    uint64_t *n_r);
struct pop3_msg *pop3_msg_arg(struct pop3_session *s, const char *command, struct span args,
			      unsigned int args_wanted, uint64_t *n_r);

/*
 * Pipelined commands a job can take along (RETR, TOP): the next line
 * already buffered, consumed from the reader, if there is one. A line the
 * caller cannot take goes back with pop3_unread_line() (copied) and is the
 * next one dispatched.
 */
bool pop3_take_line(struct pop3_session *s, struct span *line_r);
void pop3_unread_line(struct pop3_session *s, struct span line);

extern const struct conn_handler pop3_handler;

#endif
