/* AUTHENTICATE (RFC 3501 6.2.2) with SASL-IR (RFC 4959). */
#include <stdlib.h>
#include <string.h>

#include "common/login.h"
#include "common/xalloc.h"
#include "imapd/imap_commands.h"

static void finish(struct imap_session *s, enum sasl_exchange_result r)
{
	struct span tag = span_cstr(s->auth_tag);
	switch (r) {
	case SASL_EXCHANGE_CONTINUE:
		s->auth_waiting = true;
		return;
	case SASL_EXCHANGE_OK:
		s->auth_waiting = false;
		imap_login_done(s, tag, s->auth_mech);
		break;
	case SASL_EXCHANGE_FAILED: {
		s->auth_waiting = false;
		char *mech = s->auth_mech;
		s->auth_mech = NULL;
		/* imap_login_failed() keeps its own copy of the tag. */
		char *tag_copy = xstrdup(s->auth_tag);
		imap_login_failed(s, span_cstr(tag_copy), mech, NULL, auth_error_detail(s->auth));
		free(tag_copy);
		free(mech);
		return;
	}
	case SASL_EXCHANGE_CANCELLED:
		imap_tagged(s, tag, "BAD", "Authentication cancelled.");
		break;
	case SASL_EXCHANGE_BAD_BASE64:
		imap_tagged(s, tag, "BAD", "Invalid base64 data.");
		imap_bad_command(s);
		break;
	case SASL_EXCHANGE_BAD_MECH:
		imap_tagged(s, tag, "NO", "Unsupported authentication mechanism.");
		break;
	case SASL_EXCHANGE_PLAINTEXT_DISALLOWED:
		imap_tagged(s, tag, "NO",
			    "[PRIVACYREQUIRED] Plaintext authentication disallowed on non-secure "
			    "connections. Use STARTTLS or port 993.");
		break;
	case SASL_EXCHANGE_TEMPFAIL:
		log_error(&s->conn.log, "auth_error", "detail=\"%s\"", auth_error_detail(s->auth));
		imap_tagged(s, tag, "NO", "[UNAVAILABLE] Authentication is not available now.");
		break;
	}
	s->auth_waiting = false;
	free(s->auth_tag);
	s->auth_tag = NULL;
	free(s->auth_mech);
	s->auth_mech = NULL;
}

void cmd_authenticate(struct imap_session *s, const struct imap_command_line *cmd)
{
	if (cmd->count < 1 || cmd->count > 2 || cmd->args[0].type != IMAP_ARG_ATOM ||
	    (cmd->count == 2 && cmd->args[1].type != IMAP_ARG_ATOM)) {
		imap_tagged(s, cmd->tag, "BAD", "Expected: AUTHENTICATE mechanism [initial-response].");
		imap_bad_command(s);
		return;
	}
	if (login_auth_session(&s->conn, &s->auth, "imap") == NULL) {
		imap_tagged(s, cmd->tag, "NO", "[UNAVAILABLE] Authentication is not available now.");
		return;
	}
	free(s->auth_tag);
	free(s->auth_mech);
	s->auth_tag = span_strdup(cmd->tag);
	s->auth_mech = span_strdup(cmd->args[0].str);
	const struct span *initial = cmd->count == 2 ? &cmd->args[1].str : NULL;
	finish(s, sasl_exchange_start(&s->conn, s->auth, s->auth_mech, initial));
}

void imap_authenticate_continue(struct imap_session *s, struct span line)
{
	finish(s, sasl_exchange_continue(&s->conn, s->auth, line));
}
