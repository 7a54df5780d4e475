/* CAPABILITY and LOGOUT: valid in every state (RFC 3501 6.1). NOOP is in
   cmd_select.c: in the selected state it reports changes. */
#include "imapd/imap_commands.h"

static bool no_args(struct imap_session *s, const struct imap_command_line *cmd)
{
	if (cmd->count == 0)
		return true;
	imap_tagged(s, cmd->tag, "BAD", "Unexpected arguments.");
	imap_bad_command(s);
	return false;
}

void cmd_capability(struct imap_session *s, const struct imap_command_line *cmd)
{
	if (!no_args(s, cmd))
		return;
	struct buf caps = BUF_INIT;
	imap_capability(s, &caps);
	imap_untagged(s, "CAPABILITY %s", buf_cstr(&caps));
	buf_free(&caps);
	imap_tagged(s, cmd->tag, "OK", "Capability completed.");
}

void cmd_logout(struct imap_session *s, const struct imap_command_line *cmd)
{
	if (!no_args(s, cmd))
		return;
	imap_untagged(s, "BYE Logging out.");
	imap_tagged(s, cmd->tag, "OK", "Logout completed.");
	s->state = IMAP_STATE_LOGOUT;
	conn_close(&s->conn);
}
