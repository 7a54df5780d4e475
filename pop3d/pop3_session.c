#include "pop3d/pop3_session.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "common/login.h"
#include "common/xalloc.h"
#include "pop3d/pop3_ahead.h"
#include "pop3d/pop3_job.h"

#define IN_AUTHORIZATION (1u << POP3_STATE_AUTHORIZATION)
#define IN_TRANSACTION (1u << POP3_STATE_TRANSACTION)
#define IN_ANY (IN_AUTHORIZATION | IN_TRANSACTION)

static const struct pop3_command commands[] = {
	{ "CAPA", IN_ANY, pop3_cmd_capa },
	{ "QUIT", IN_ANY, pop3_cmd_quit },
	{ "STLS", IN_AUTHORIZATION, pop3_cmd_stls },
	{ "USER", IN_AUTHORIZATION, pop3_cmd_user },
	{ "PASS", IN_AUTHORIZATION, pop3_cmd_pass },
	{ "AUTH", IN_AUTHORIZATION, pop3_cmd_auth },
	{ "NOOP", IN_TRANSACTION, pop3_cmd_noop },
	{ "STAT", IN_TRANSACTION, pop3_cmd_stat },
	{ "LIST", IN_TRANSACTION, pop3_cmd_list },
	{ "RETR", IN_TRANSACTION, pop3_cmd_retr },
	{ "DELE", IN_TRANSACTION, pop3_cmd_dele },
	{ "RSET", IN_TRANSACTION, pop3_cmd_rset },
	{ "TOP", IN_TRANSACTION, pop3_cmd_top },
	{ "UIDL", IN_TRANSACTION, pop3_cmd_uidl },
};

const struct pop3_command *pop3_command_find(struct span name)
{
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (span_eq_ci(name, commands[i].name))
			return &commands[i];
	return NULL;
}

void pop3_ok(struct pop3_session *s, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	conn_vline(&s->conn, SPAN_LIT("+OK "), fmt, ap);
	va_end(ap);
}

void pop3_err(struct pop3_session *s, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	conn_vline(&s->conn, SPAN_LIT("-ERR "), fmt, ap);
	va_end(ap);
}

void pop3_bad_command(struct pop3_session *s)
{
	if (++s->bad_commands >= s->conn.srv->set.limits.max_bad_commands) {
		pop3_err(s, "Too many invalid commands.");
		log_info(&s->conn.log, "too_many_bad_commands", "count=%u", s->bad_commands);
		conn_close(&s->conn);
	}
}

static void dispatch(struct pop3_session *s, struct span line)
{
	struct span args = line;
	struct span verb = span_next_word(&args);
	const struct pop3_command *cmd = pop3_command_find(verb);
	if (cmd == NULL) {
		/* An HTTP client or a confused script: no point in a dialogue. */
		if (s->state == POP3_STATE_AUTHORIZATION && memmem(line.ptr, line.len, " HTTP/", 6)) {
			pop3_err(s, "This is a POP3 server.");
			conn_close(&s->conn);
			return;
		}
		pop3_err(s, "Unknown command.");
		pop3_bad_command(s);
		return;
	}
	if ((cmd->states & (1u << s->state)) == 0) {
		pop3_err(s, s->state == POP3_STATE_AUTHORIZATION ? "Log in first." :
								      "Already logged in.");
		pop3_bad_command(s);
		return;
	}
	/* A command that ran without a syntax error ends a run of bad ones;
	   one with bad arguments adds to it (pop3_bad_command). */
	unsigned int bad_before = s->bad_commands;
	cmd->run(s, args);
	if (s->bad_commands == bad_before)
		s->bad_commands = 0;
}

static void pop3_line(struct conn *c, struct span line)
{
	struct pop3_session *s = pop3_session(c);
	if (s->auth_waiting)
		pop3_auth_continue(s, line);
	else
		dispatch(s, line);
}

static void pop3_line_too_long(struct conn *c)
{
	pop3_err(pop3_session(c), "Line too long.");
	pop3_bad_command(pop3_session(c));
}

bool pop3_take_line(struct pop3_session *s, struct span *line_r)
{
	if (s->unread != NULL || s->unread_too_long)
		return false;
	struct reader_item item;
	switch (reader_next(&s->conn.reader, &item)) {
	case READER_LINE:
		*line_r = item.data;
		return true;
	case READER_LINE_TOO_LONG:
		s->unread_too_long = true; /* answered in its turn */
		return false;
	default:
		return false;
	}
}

void pop3_unread_line(struct pop3_session *s, struct span line)
{
	s->unread = xmalloc(line.len + 1);
	memcpy(s->unread, line.ptr, line.len);
	s->unread_len = line.len;
}

/* The line read ahead and handed back, in its turn. */
static void process_unread(struct pop3_session *s)
{
	if (s->unread_too_long) {
		s->unread_too_long = false;
		pop3_line_too_long(&s->conn);
	} else if (s->unread != NULL) {
		char *line = s->unread;
		s->unread = NULL;
		pop3_line(&s->conn, span_make(line, s->unread_len));
		free(line);
	}
}

static void pop3_ready(struct conn *c)
{
	struct pop3_session *s = pop3_session(c);
	/* A listing in progress goes first: its lines may not interleave
	   with the next command's answer. */
	if (s->listing != NULL && !s->listing(s))
		return;
	process_unread(s);
	if (c->busy || conn_is_closing(c) || s->listing != NULL)
		return;
	conn_process_lines(c, pop3_line, pop3_line_too_long);
}

static void pop3_open(struct conn *c)
{
	pop3_ok(pop3_session(c), "Petrel ready.");
}

/* Says why the session ends, unless that would land inside a multi-line
   response under way (a RETR to a client that stopped reading): that one
   stays without its terminator, which tells the client enough. */
static void end_session(struct pop3_session *s, const char *why)
{
	if (s->job == NULL && s->listing == NULL)
		pop3_err(s, "%s", why);
	conn_close(&s->conn);
}

static void pop3_timeout(struct conn *c)
{
	/* RFC 1939 3: an autologout does not enter the UPDATE state. */
	end_session(pop3_session(c), "Disconnected for inactivity.");
}

static void pop3_shutdown(struct conn *c)
{
	end_session(pop3_session(c), "[SYS/TEMP] Server shutting down.");
}

static void pop3_destroy(struct conn *c)
{
	struct pop3_session *s = pop3_session(c);
	/* No job runs any more: each holds a reference to the connection,
	   and destroy comes after the last one is dropped. */
	pop3_job_free(&s->job);
	pop3_ahead_free(&s->ahead);
	/* Ended without QUIT (or QUIT failed): nothing is deleted, but what
	   was retrieved still becomes \Seen, as with Dovecot. */
	pop3_maildrop_close_later(c->srv->loop, &s->drop, &pop3d_of(s)->policy);
	auth_session_destroy(&s->auth);
	free(s->user);
	free(s->auth_mech);
	free(s->user_name);
	free(s->unread);
}

const struct conn_handler pop3_handler = {
	.open = pop3_open,
	.ready = pop3_ready,
	.timeout = pop3_timeout,
	.shutdown = pop3_shutdown,
	.destroy = pop3_destroy,
};
