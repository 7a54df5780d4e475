/* STARTTLS (RFC 3501 6.2.1). */
#include "imapd/imap_commands.h"

void cmd_starttls(struct imap_session *s, const struct imap_command_line *cmd)
{
	if (cmd->count != 0) {
		imap_tagged(s, cmd->tag, "BAD", "Unexpected arguments.");
		imap_bad_command(s);
		return;
	}
	if (conn_is_secure(&s->conn) || s->conn.tls != NULL) {
		imap_tagged(s, cmd->tag, "BAD", "TLS is already active.");
		return;
	}
	if (!conn_tls_available(&s->conn)) {
		imap_tagged(s, cmd->tag, "BAD", "TLS is not configured on this server.");
		return;
	}
	imap_tagged(s, cmd->tag, "OK", "Begin TLS negotiation now.");
	/* The reply above goes out in plaintext; everything after is TLS, and
	   anything the client pipelined behind STARTTLS is thrown away. */
	conn_starttls(&s->conn);
	/* A SASL session begun before TLS must not carry over. */
	auth_session_destroy(&s->auth);
}
