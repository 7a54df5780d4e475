/*
 * The IMAP command table: name, the states a command is valid in, and its
 * handler. A handler writes its own tagged reply.
 */
#ifndef PETREL_IMAPD_IMAP_COMMANDS_H
#define PETREL_IMAPD_IMAP_COMMANDS_H

#include "imapd/imap_session.h"

enum {
	IMAP_IN_NOT_AUTHENTICATED = 1 << IMAP_STATE_NOT_AUTHENTICATED,
	IMAP_IN_AUTHENTICATED = 1 << IMAP_STATE_AUTHENTICATED,
	IMAP_IN_SELECTED = 1 << IMAP_STATE_SELECTED,
	IMAP_IN_ANY = IMAP_IN_NOT_AUTHENTICATED | IMAP_IN_AUTHENTICATED | IMAP_IN_SELECTED,
	IMAP_IN_LOGGED_IN = IMAP_IN_AUTHENTICATED | IMAP_IN_SELECTED,
};

typedef void imap_command_fn(struct imap_session *s, const struct imap_command_line *cmd);

struct imap_command {
	const char *name;
	unsigned int states;
	imap_command_fn *run; /* NULL: part of RFC 3501, not in this build yet */
};

const struct imap_command *imap_command_find(struct span name);

imap_command_fn cmd_capability, cmd_noop, cmd_logout;
imap_command_fn cmd_starttls, cmd_login, cmd_authenticate;

#endif
