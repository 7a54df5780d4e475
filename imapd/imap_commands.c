#include "imapd/imap_commands.h"

#include <stddef.h>

/* Every command with the states it is valid in, so a client always gets
   the right complaint (wrong state vs unknown). */
static const struct imap_command commands[] = {
	{ "CAPABILITY", IMAP_IN_ANY, cmd_capability },
	{ "NOOP", IMAP_IN_ANY, cmd_noop },
	{ "LOGOUT", IMAP_IN_ANY, cmd_logout },

	{ "STARTTLS", IMAP_IN_NOT_AUTHENTICATED, cmd_starttls },
	{ "AUTHENTICATE", IMAP_IN_NOT_AUTHENTICATED, cmd_authenticate },
	{ "LOGIN", IMAP_IN_NOT_AUTHENTICATED, cmd_login },

	{ "SELECT", IMAP_IN_LOGGED_IN, cmd_select },
	{ "EXAMINE", IMAP_IN_LOGGED_IN, cmd_examine },
	{ "CREATE", IMAP_IN_LOGGED_IN, cmd_create },
	{ "DELETE", IMAP_IN_LOGGED_IN, cmd_delete },
	{ "RENAME", IMAP_IN_LOGGED_IN, cmd_rename },
	{ "SUBSCRIBE", IMAP_IN_LOGGED_IN, cmd_subscribe },
	{ "UNSUBSCRIBE", IMAP_IN_LOGGED_IN, cmd_unsubscribe },
	{ "LIST", IMAP_IN_LOGGED_IN, cmd_list },
	{ "LSUB", IMAP_IN_LOGGED_IN, cmd_lsub },
	{ "STATUS", IMAP_IN_LOGGED_IN, cmd_status },
	{ "APPEND", IMAP_IN_LOGGED_IN, cmd_append },
	{ "IDLE", IMAP_IN_LOGGED_IN, cmd_idle },

	{ "CHECK", IMAP_IN_SELECTED, cmd_check },
	{ "CLOSE", IMAP_IN_SELECTED, cmd_close },
	{ "EXPUNGE", IMAP_IN_SELECTED, cmd_expunge },
	{ "SEARCH", IMAP_IN_SELECTED, cmd_search },
	{ "FETCH", IMAP_IN_SELECTED, cmd_fetch },
	{ "STORE", IMAP_IN_SELECTED, cmd_store },
	{ "COPY", IMAP_IN_SELECTED, cmd_copy },
	{ "UID", IMAP_IN_SELECTED, cmd_uid },
};

const struct imap_command *imap_command_find(struct span name)
{
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (span_eq_ci(name, commands[i].name))
			return &commands[i];
	return NULL;
}
