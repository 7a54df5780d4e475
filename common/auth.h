/*
 * Authentication through Cyrus SASL's server API.
 *
 * Cyrus SASL reads nothing from /etc/sasl2 here: every option it asks for
 * (sasldb path, mechanism list, password check method) comes from the [auth]
 * section of petrel.conf through a callback, and passwords live in the
 * sasldb file that `petrelctl user` manages. Cyrus's sasldb keeps passwords
 * in plain text, which is what lets it serve CRAM-MD5 and SCRAM-SHA-1 as well
 * as SCRAM-SHA-256; protect the file accordingly (petrelctl creates it 0600).
 *
 * User names are canonicalised to lower case before lookup.
 *
 * Plaintext mechanisms (PLAIN, LOGIN, and the LOGIN/USER+PASS commands) are
 * refused on connections that are not protected by TLS (or a local socket)
 * unless [auth] allow_plaintext_auth = yes; they are then also not offered.
 *
 * SASL calls run on the event loop: sasldb lookups are local file reads and
 * SCRAM's key derivation takes milliseconds. (Moving them to the thread pool
 * needs Cyrus's mutex hooks; worth it only if profiles say so.)
 */
#ifndef PETREL_COMMON_AUTH_H
#define PETREL_COMMON_AUTH_H

#include <stdbool.h>

#include "common/buf.h"
#include "common/settings.h"

/* Once per process. Fails (message names [auth] mechanisms) when a
   configured mechanism has no Cyrus SASL plugin installed. */
int auth_init(const struct settings *set, const char *app, char **error_r);
void auth_deinit(void);

struct auth_session;

enum auth_result {
	AUTH_OK = 0,
	AUTH_CONTINUE = 1,	      /* send the challenge, wait for a response */
	AUTH_FAILED = -1,	      /* wrong credentials or malformed exchange */
	AUTH_BAD_MECH = -2,	      /* not offered here */
	AUTH_PLAINTEXT_DISALLOWED = -3,
	AUTH_TEMPFAIL = -4,	      /* our side failed (sasldb unreadable, ...) */
};

/* service: "imap", "pop", "lmtp" (Cyrus's service names). local/remote are
   "ip;port" or "". `secure` is fixed for the session's life: a connection
   that upgrades to TLS must destroy its session and make a new one (RFC
   3501 6.2.1: nothing from before TLS carries over). Returns NULL with
   *error_r on failure. */
struct auth_session *auth_session_create(const char *service, const char *hostname,
					 const char *local, const char *remote, bool secure,
					 char **error_r);
void auth_session_destroy(struct auth_session **s);
/* Whether plaintext mechanisms and LOGIN/USER+PASS may be used on a
   connection that is (not) protected by TLS. */
bool auth_plaintext_allowed(bool secure);

/* Appends the mechanisms offered on such a connection, each as prefix+NAME,
   separated by sep: ("AUTH=", " ") gives "AUTH=PLAIN AUTH=SCRAM-SHA-256".
   Computed once per process, so listing capabilities needs no session. */
void auth_mechanisms(bool secure, struct buf *out, const char *prefix, const char *sep);

/* Starts an exchange. initial: the client's initial response, or NULL if it
   sent none (an empty one is a span of length 0). On AUTH_CONTINUE the
   challenge (raw bytes, not base64) is in *challenge_r, borrowed until the
   next call. */
enum auth_result auth_start(struct auth_session *s, const char *mech, const struct span *initial,
			    struct span *challenge_r);
enum auth_result auth_step(struct auth_session *s, struct span response, struct span *challenge_r);
/* LOGIN (IMAP) and USER/PASS (POP3). */
enum auth_result auth_check_password(struct auth_session *s, const char *user, struct span pass);

/* The canonical user name after AUTH_OK. */
const char *auth_user(const struct auth_session *s);
/* Why the last call failed, for logs (never shown to clients). */
const char *auth_error_detail(const struct auth_session *s);



/*
 * Administration (petrelctl): sets or removes a password in the sasldb file.
 * auth_init() must have run. Returns 0 or -1 with *error_r (malloc'd).
 */
int auth_set_password(const char *user, const char *password, bool create, char **error_r);
int auth_delete_password(const char *user, char **error_r);

#endif
