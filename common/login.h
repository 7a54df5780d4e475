/*
 * The steps every protocol takes when a login succeeds or fails, so that
 * IMAP, POP3 and whatever comes next count, delay and log them alike.
 */
#ifndef PETREL_COMMON_LOGIN_H
#define PETREL_COMMON_LOGIN_H

#include <stdint.h>

#include "common/auth.h"
#include "common/conn.h"

/* The connection's SASL session, made on first use (most connections that
   sit idle before login never need one) with the connection's addresses and
   TLS state. NULL (logged) if Cyrus cannot give one. `service` is Cyrus's
   name: "imap", "pop". */
struct auth_session *login_auth_session(struct conn *c, struct auth_session **slot,
					const char *service);

/* Counts the connection against the user's limit, clears the client
   address's failure record and logs the login. Returns 0, or -1 if the user
   already has max_connections_per_user connections (logged; nothing
   counted): the protocol refuses the login. */
int login_success(struct conn *c, const char *user, const char *mech);

/* Logs the failure and counts it against the client address. Returns how
   long to wait before answering (the penalty grows with each failure). */
uint64_t login_failure(struct conn *c, const char *mech, const char *attempted_user,
		       const char *detail);

/*
 * A SASL exchange over a line protocol where the server sends challenges as
 * "+ <base64>" and the client answers with a base64 line, or "*" to cancel
 * (IMAP AUTHENTICATE, RFC 3501 6.2.2; POP3 AUTH, RFC 5034).
 */
enum sasl_exchange_result {
	SASL_EXCHANGE_CONTINUE,	  /* a challenge was sent; wait for a line */
	SASL_EXCHANGE_OK,	  /* authenticated: auth_user() has the name */
	SASL_EXCHANGE_FAILED,	  /* bad credentials */
	SASL_EXCHANGE_CANCELLED,  /* the client sent "*" */
	SASL_EXCHANGE_BAD_BASE64,
	SASL_EXCHANGE_BAD_MECH,
	SASL_EXCHANGE_PLAINTEXT_DISALLOWED,
	SASL_EXCHANGE_TEMPFAIL,
};

/* initial: the initial response as the client sent it (base64, "=" for
   empty), or NULL when there was none. */
enum sasl_exchange_result sasl_exchange_start(struct conn *c, struct auth_session *auth,
					      const char *mech, const struct span *initial);
enum sasl_exchange_result sasl_exchange_continue(struct conn *c, struct auth_session *auth,
						 struct span line);

#endif
