/*
 * The AUTHORIZATION-state commands: STLS (RFC 2595), USER and PASS (RFC
 * 1939), AUTH (RFC 5034); and the end of a login, which opens the maildrop
 * (RFC 1939 4: the session enters TRANSACTION only once it holds it).
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "common/login.h"
#include "common/xalloc.h"
#include "pop3d/pop3_job.h"
#include "pop3d/pop3_session.h"
#include "store/store.h"

#define PLAINTEXT_REFUSED \
	"[AUTH] Plaintext authentication disallowed on non-secure connections. " \
	"Use STLS or port 995."

void pop3_cmd_stls(struct pop3_session *s, struct span args)
{
	if (args.len != 0) {
		pop3_err(s, "STLS takes no arguments.");
		pop3_bad_command(s);
		return;
	}
	if (conn_is_secure(&s->conn) || s->conn.tls != NULL) {
		pop3_err(s, "TLS is already active.");
		return;
	}
	if (!conn_tls_available(&s->conn)) {
		pop3_err(s, "TLS is not configured on this server.");
		return;
	}
	pop3_ok(s, "Begin TLS negotiation now.");
	/* RFC 2595 4: forget what was said before; a USER given in plaintext
	   must not carry over. */
	free(s->user);
	s->user = NULL;
	conn_starttls(&s->conn);
	auth_session_destroy(&s->auth);
}

void pop3_cmd_user(struct pop3_session *s, struct span args)
{
	if (!auth_plaintext_allowed(conn_is_secure(&s->conn))) {
		pop3_err(s, PLAINTEXT_REFUSED);
		return;
	}
	if (args.len == 0 || memchr(args.ptr, '\0', args.len) != NULL ||
	    memchr(args.ptr, ' ', args.len) != NULL) {
		pop3_err(s, "Expected: USER name.");
		pop3_bad_command(s);
		return;
	}
	free(s->user);
	s->user = span_strdup(args);
	for (char *p = s->user; *p != '\0'; p++)
		*p = (char)tolower((unsigned char)*p);
	pop3_ok(s, "Send PASS now.");
}

/* ------------------------------------------------- opening the maildrop */

struct open_state {
	uint64_t wait; /* POP3_MAILDROP_TOO_SOON: seconds left */
	struct pop3_maildrop *drop;
};

static void open_state_free(void *p)
{
	struct open_state *st = p;
	pop3_maildrop_close(&st->drop);
	free(st);
}

static void open_work(struct pop3_job *j)
{
	struct pop3_session *s = j->s;
	struct open_state *st = j->state;
	j->result = pop3_maildrop_open(pop3d_of(s)->store, s->user_name, &pop3d_of(s)->policy,
				       &st->drop, &st->wait, &j->error);
	switch (j->result) {
	case STORE_OK:
		pop3_job_ok(j, "Logged in.");
		return;
	case STORE_ERR_IN_USE:
		pop3_job_err(j, "[IN-USE] Mailbox is locked by another POP3 session.");
		break;
	case POP3_MAILDROP_TOO_SOON:
		pop3_job_err(j, "[LOGIN-DELAY] Logged in too recently; wait %llu seconds.",
			     (unsigned long long)st->wait);
		break;
	case STORE_ERR_IO:
		pop3_job_err(j, "[SYS/TEMP] Cannot open the mailbox now.");
		break;
	default:
		/* Not a passing disk or index failure: it will fail again
		   until an admin looks (RFC 3206 4). */
		pop3_job_err(j, "[SYS/PERM] Cannot open the mailbox.");
		break;
	}
	/* RFC 1939 4: after the -ERR the server may close; the login was
	   counted against the user's connections, so a retry needs a new
	   connection anyway. */
	j->step.close_after = true;
}

static void open_finish(struct pop3_job *j)
{
	struct pop3_session *s = j->s;
	struct open_state *st = j->state;
	if (j->result == STORE_OK) {
		s->drop = st->drop;
		st->drop = NULL;
		s->state = POP3_STATE_TRANSACTION;
		log_debug(&s->conn.log, "maildrop_open", "messages=%u size=%llu", s->drop->count,
			  (unsigned long long)s->drop->total_size);
		return;
	}
	if (j->result == STORE_ERR_IN_USE || j->result == POP3_MAILDROP_TOO_SOON)
		log_info(&s->conn.log, "maildrop_refused", "reason=%s",
			 j->result == STORE_ERR_IN_USE ? "in_use" : "login_delay");
	else
		log_error(&s->conn.log, "store_error", "op=maildrop_open error=\"%s\"",
			  j->error != NULL ? j->error : store_strerror(j->result));
}

void pop3_login_done(struct pop3_session *s, const char *mech)
{
	const char *user = auth_user(s->auth);
	if (store_user_exists(pop3d_of(s)->store, user) != STORE_OK) {
		pop3_login_failed(s, mech, user, "not in the user directory");
		return;
	}
	if (login_success(&s->conn, user, mech) < 0) {
		pop3_err(s, "[SYS/TEMP] Too many connections for this user.");
		return;
	}
	s->user_name = xstrdup(user);
	auth_session_destroy(&s->auth);
	s->auth_failures = 0;
	conn_set_timeout(&s->conn, s->conn.srv->set.pop3.idle_timeout_ms, false);
	pop3_job_run(s, open_work, open_finish, xcalloc(1, sizeof(struct open_state)),
		     open_state_free);
}

static void failed_reply_cb(struct conn *c)
{
	struct pop3_session *s = pop3_session(c);
	pop3_err(s, "[AUTH] Authentication failed.");
	if (s->auth_failures >= c->srv->set.auth.max_failures) {
		pop3_err(s, "Too many authentication failures.");
		conn_close(c);
	}
}

void pop3_login_failed(struct pop3_session *s, const char *mech, const char *user,
		       const char *detail)
{
	uint64_t delay = login_failure(&s->conn, mech, user, detail);
	s->auth_failures++;
	conn_delay(&s->conn, delay, failed_reply_cb);
}

void pop3_cmd_pass(struct pop3_session *s, struct span args)
{
	if (!auth_plaintext_allowed(conn_is_secure(&s->conn))) {
		pop3_err(s, PLAINTEXT_REFUSED);
		return;
	}
	if (s->user == NULL) {
		pop3_err(s, "Send USER first.");
		pop3_bad_command(s);
		return;
	}
	if (login_auth_session(&s->conn, &s->auth, "pop") == NULL) {
		pop3_err(s, "[SYS/TEMP] Authentication is not available now.");
		return;
	}
	/* RFC 1939: the password is the rest of the line, spaces included. */
	char *user = s->user;
	s->user = NULL;
	enum auth_result r = auth_check_password(s->auth, user, args);
	if (r == AUTH_OK) {
		pop3_login_done(s, "USER");
	} else if (r == AUTH_TEMPFAIL) {
		log_error(&s->conn.log, "auth_error", "detail=\"%s\"", auth_error_detail(s->auth));
		pop3_err(s, "[SYS/TEMP] Authentication is not available now.");
	} else {
		pop3_login_failed(s, "USER", user, auth_error_detail(s->auth));
	}
	free(user);
}

static void finish(struct pop3_session *s, enum sasl_exchange_result r)
{
	s->auth_waiting = r == SASL_EXCHANGE_CONTINUE;
	switch (r) {
	case SASL_EXCHANGE_CONTINUE:
		return;
	case SASL_EXCHANGE_OK:
		pop3_login_done(s, s->auth_mech);
		break;
	case SASL_EXCHANGE_FAILED:
		pop3_login_failed(s, s->auth_mech, NULL, auth_error_detail(s->auth));
		break;
	case SASL_EXCHANGE_CANCELLED:
		pop3_err(s, "Authentication cancelled.");
		break;
	case SASL_EXCHANGE_BAD_BASE64:
		pop3_err(s, "Invalid base64 data.");
		pop3_bad_command(s);
		break;
	case SASL_EXCHANGE_BAD_MECH:
		pop3_err(s, "Unsupported authentication mechanism.");
		break;
	case SASL_EXCHANGE_PLAINTEXT_DISALLOWED:
		pop3_err(s, PLAINTEXT_REFUSED);
		break;
	case SASL_EXCHANGE_TEMPFAIL:
		log_error(&s->conn.log, "auth_error", "detail=\"%s\"", auth_error_detail(s->auth));
		pop3_err(s, "[SYS/TEMP] Authentication is not available now.");
		break;
	}
	free(s->auth_mech);
	s->auth_mech = NULL;
}

void pop3_cmd_auth(struct pop3_session *s, struct span args)
{
	if (args.len == 0) {
		/* Pre-RFC 5034 clients ask for the list this way. */
		struct buf mechs = BUF_INIT;
		auth_mechanisms(conn_is_secure(&s->conn), &mechs, "", "\r\n");
		struct buf out = BUF_INIT;
		buf_append_str(&out, "+OK\r\n");
		if (mechs.len > 0)
			buf_printf(&out, "%s\r\n", buf_cstr(&mechs));
		buf_append_str(&out, ".\r\n");
		conn_write(&s->conn, out.data, out.len);
		buf_free(&out);
		buf_free(&mechs);
		return;
	}
	struct span mech = span_next_word(&args);
	if (memchr(args.ptr, ' ', args.len) != NULL || memchr(mech.ptr, '\0', mech.len) != NULL) {
		pop3_err(s, "Expected: AUTH mechanism [initial-response].");
		pop3_bad_command(s);
		return;
	}
	if (login_auth_session(&s->conn, &s->auth, "pop") == NULL) {
		pop3_err(s, "[SYS/TEMP] Authentication is not available now.");
		return;
	}
	free(s->auth_mech);
	s->auth_mech = span_strdup(mech);
	finish(s, sasl_exchange_start(&s->conn, s->auth, s->auth_mech, args.len ? &args : NULL));
}

void pop3_auth_continue(struct pop3_session *s, struct span line)
{
	finish(s, sasl_exchange_continue(&s->conn, s->auth, line));
}
