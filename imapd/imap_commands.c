#include "imapd/imap_commands.h"

#include <stddef.h>

/* Every RFC 3501 command is listed so a client always gets the right
   complaint (wrong state vs unknown); commands whose handler is NULL arrive
   with the store and the IMAP issue. */
static const struct imap_command commands[] = {
	{ "CAPABILITY", IMAP_IN_ANY, cmd_capability },
	{ "NOOP", IMAP_IN_ANY, cmd_noop },
	{ "LOGOUT", IMAP_IN_ANY, cmd_logout },

	{ "STARTTLS", IMAP_IN_NOT_AUTHENTICATED, cmd_starttls },
	{ "AUTHENTICATE", IMAP_IN_NOT_AUTHENTICATED, cmd_authenticate },
	{ "LOGIN", IMAP_IN_NOT_AUTHENTICATED, cmd_login },

	{ "SELECT", IMAP_IN_LOGGED_IN, NULL },
	{ "EXAMINE", IMAP_IN_LOGGED_IN, NULL },
	{ "CREATE", IMAP_IN_LOGGED_IN, NULL },
	{ "DELETE", IMAP_IN_LOGGED_IN, NULL },
	{ "RENAME", IMAP_IN_LOGGED_IN, NULL },
	{ "SUBSCRIBE", IMAP_IN_LOGGED_IN, NULL },
	{ "UNSUBSCRIBE", IMAP_IN_LOGGED_IN, NULL },
	{ "LIST", IMAP_IN_LOGGED_IN, NULL },
	{ "LSUB", IMAP_IN_LOGGED_IN, NULL },
	{ "STATUS", IMAP_IN_LOGGED_IN, NULL },
	{ "APPEND", IMAP_IN_LOGGED_IN, NULL },
	{ "IDLE", IMAP_IN_LOGGED_IN, NULL },

	{ "CHECK", IMAP_IN_SELECTED, NULL },
	{ "CLOSE", IMAP_IN_SELECTED, NULL },
	{ "EXPUNGE", IMAP_IN_SELECTED, NULL },
	{ "SEARCH", IMAP_IN_SELECTED, NULL },
	{ "FETCH", IMAP_IN_SELECTED, NULL },
	{ "STORE", IMAP_IN_SELECTED, NULL },
	{ "COPY", IMAP_IN_SELECTED, NULL },
	{ "UID", IMAP_IN_SELECTED, NULL },
};

const struct imap_command *imap_command_find(struct span name)
{
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (span_eq_ci(name, commands[i].name))
			return &commands[i];
	return NULL;
}
