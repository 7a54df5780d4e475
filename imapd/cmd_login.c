/* LOGIN (RFC 3501 6.2.3), and what every successful or failed login does. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "common/login.h"
#include "common/server.h"
#include "common/xalloc.h"
#include "imapd/imap_commands.h"
#include "imapd/imap_notify.h"
#include "store/store.h"

void imap_login_done(struct imap_session *s, struct span tag, const char *mech)
{
	const char *user = auth_user(s->auth);
	/* The password database and the user directory are kept in step by
	   petrelctl; a user missing from the directory has no mail to serve. */
	if (store_user_exists(imapd_of(s)->store, user) != STORE_OK) {
		imap_login_failed(s, tag, mech, user, "not in the user directory");
		return;
	}
	if (login_success(&s->conn, user, mech) < 0) {
		imap_tagged(s, tag, "NO", "[LIMIT] Too many connections for this user.");
		return;
	}
	/* Logged in for good: the SASL session has done its job. */
	s->user_name = xstrdup(user);
	auth_session_destroy(&s->auth);
	imap_notify_add(imapd_of(s)->notify, s);
	const struct settings *set = &s->conn.srv->set;
	s->state = IMAP_STATE_AUTHENTICATED;
	s->auth_failures = 0;
	struct reader_limits limits = { .max_line = set->limits.max_line_length, .literals = true };
	reader_set_limits(&s->conn.reader, &limits);
	conn_set_timeout(&s->conn, set->imap.idle_timeout_ms, false);
	struct buf caps = BUF_INIT;
	imap_capability(s, &caps);
	imap_tagged(s, tag, "OK", "[CAPABILITY %s] Logged in.", buf_cstr(&caps));
	buf_free(&caps);
}

static void failed_reply_cb(struct conn *c)
{
	struct imap_session *s = imap_session(c);
	imap_tagged(s, span_cstr(s->auth_tag), "NO",
		    "[AUTHENTICATIONFAILED] Authentication failed.");
	free(s->auth_tag);
	s->auth_tag = NULL;
	if (s->auth_failures >= c->srv->set.auth.max_failures) {
		imap_untagged(s, "BYE Too many authentication failures.");
		conn_close(c);
	}
}

void imap_login_failed(struct imap_session *s, struct span tag, const char *mech,
		       const char *user, const char *detail)
{
	uint64_t delay = login_failure(&s->conn, mech, user, detail);
	s->auth_failures++;
	free(s->auth_tag);
	s->auth_tag = span_strdup(tag);
	/* The reply waits; so does every later command from this client. */
	conn_delay(&s->conn, delay, failed_reply_cb);
}

void cmd_login(struct imap_session *s, const struct imap_command_line *cmd)
{
	if (cmd->count != 2 || !imap_arg_is_astring(&cmd->args[0]) ||
	    !imap_arg_is_astring(&cmd->args[1])) {
		imap_tagged(s, cmd->tag, "BAD", "Expected: LOGIN user password.");
		imap_bad_command(s);
		return;
	}
	if (!auth_plaintext_allowed(conn_is_secure(&s->conn))) {
		/* RFC 3501 6.2.3: LOGINDISABLED means a tagged NO. */
		imap_tagged(s, cmd->tag, "NO",
			    "[PRIVACYREQUIRED] Plaintext authentication disallowed on non-secure "
			    "connections. Use STARTTLS or port 993.");
		return;
	}
	const char *user = imap_arg_cstr(&s->arena, &cmd->args[0]);
	const struct imap_arg *pass = &cmd->args[1];
	if (user == NULL || memchr(pass->str.ptr, '\0', pass->str.len) != NULL) {
		imap_tagged(s, cmd->tag, "BAD", "NUL in user name or password.");
		imap_bad_command(s);
		return;
	}
	if (login_auth_session(&s->conn, &s->auth, "imap") == NULL) {
		imap_tagged(s, cmd->tag, "NO", "[UNAVAILABLE] Authentication is not available now.");
		return;
	}
	char *lower = xstrdup(user);
	for (char *p = lower; *p != '\0'; p++)
		*p = (char)tolower((unsigned char)*p);
	enum auth_result r = auth_check_password(s->auth, lower, pass->str);
	if (r == AUTH_OK)
		imap_login_done(s, cmd->tag, "LOGIN");
	else if (r == AUTH_TEMPFAIL) {
		log_error(&s->conn.log, "auth_error", "detail=\"%s\"", auth_error_detail(s->auth));
		imap_tagged(s, cmd->tag, "NO", "[UNAVAILABLE] Authentication is not available now.");
	} else
		imap_login_failed(s, cmd->tag, "LOGIN", lower, auth_error_detail(s->auth));
	free(lower);
}
