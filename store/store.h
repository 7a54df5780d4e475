/*
 * Petrel's store: the only code that touches mail files or the index.
 *
 * This header is the store's whole public interface; imapd, pop3d, lmtpd and
 * petrelctl use nothing else from store/. It speaks no protocol: errors are
 * the protocol-neutral codes below, which each front end maps to its own
 * responses.
 *
 * Layout under [server] data_dir:
 *   global/            LMDB environment: the user directory (and, later,
 *                      quota settings and server-wide state)
 *   users/<user>/      per-user Maildir++ and index (see DESIGN.md)
 *
 * Caveats (as LMDB's): open a struct store once per process, never across
 * fork(); keep read transactions short.
 */
#ifndef PETREL_STORE_STORE_H
#define PETREL_STORE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum store_error {
	STORE_OK = 0,
	STORE_ERR_NOT_FOUND = -1,
	STORE_ERR_EXISTS = -2,
	STORE_ERR_INVALID = -3, /* a name or argument the store cannot accept */
	STORE_ERR_IO = -4,	/* disk or index failure; details in the log */
};

struct store;

/* Opens (creating if needed) the store under data_dir. Returns STORE_OK or
   an error with *error_r (malloc'd). */
int store_open(const char *data_dir, struct store **store_r, char **error_r);
void store_close(struct store **store);

/*
 * User directory. User names are email addresses, "local@domain", stored in
 * lower case; store_user_name_check() says what is accepted and why not.
 */
int store_user_name_check(const char *user, const char **why_r);
int store_user_add(struct store *store, const char *user, char **error_r);
int store_user_del(struct store *store, const char *user, char **error_r);
/* STORE_OK if the user exists, STORE_ERR_NOT_FOUND if not. */
int store_user_exists(struct store *store, const char *user);
/* Calls cb for every user in name order. */
int store_user_list(struct store *store, void (*cb)(const char *user, void *ctx), void *ctx,
		    char **error_r);

#endif
