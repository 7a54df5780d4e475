/*
 * A POP3 session (RFC 1939) on top of a struct conn: AUTHORIZATION with
 * USER/PASS, AUTH (RFC 5034) and STLS (RFC 2595), then TRANSACTION.
 * Commands are "VERB [args]" lines dispatched through pop3_commands.c.
 */
#ifndef PETREL_POP3D_POP3_SESSION_H
#define PETREL_POP3D_POP3_SESSION_H

#include <stdbool.h>

#include "common/auth.h"
#include "common/server.h"

struct store;

enum pop3_state {
	POP3_STATE_AUTHORIZATION,
	POP3_STATE_TRANSACTION,
};

struct pop3d {
	struct store *store;
};

struct pop3_session {
	struct conn conn; /* must be first */
	enum pop3_state state;
	struct auth_session *auth;
	char *user;		/* from USER, waiting for PASS */
	char *auth_mech;	/* AUTH exchange in progress */
	bool auth_waiting;	/* the next line is a SASL response */
	unsigned int auth_failures;
	unsigned int bad_commands;
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
void pop3_bad_command(struct pop3_session *s);

void pop3_login_done(struct pop3_session *s, const char *mech);
void pop3_login_failed(struct pop3_session *s, const char *mech, const char *user,
		       const char *detail);
void pop3_auth_continue(struct pop3_session *s, struct span line);

typedef void pop3_command_fn(struct pop3_session *s, struct span args);
struct pop3_command {
	const char *name;
	unsigned int states; /* bit per enum pop3_state */
	pop3_command_fn *run; /* NULL: needs the store, not in this build yet */
};
const struct pop3_command *pop3_command_find(struct span name);

pop3_command_fn pop3_cmd_capa, pop3_cmd_stls, pop3_cmd_user, pop3_cmd_pass, pop3_cmd_auth,
	pop3_cmd_quit, pop3_cmd_noop;

extern const struct conn_handler pop3_handler;

#endif
