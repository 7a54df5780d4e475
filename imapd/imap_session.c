#include "imapd/imap_session.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/login.h"
#include "common/server.h"
#include "imapd/imap_commands.h"
#include "imapd/imap_job.h"
#include "imapd/imap_notify.h"
#include "store/store.h"

/* Tokenizer budgets. Before login a client needs nothing nested. */
static const struct imap_parse_limits preauth_parse_limits = { .max_depth = 2, .max_args = 16 };
static const struct imap_parse_limits parse_limits = { .max_depth = 100, .max_args = 10000 };

void imap_tagged(struct imap_session *s, struct span tag, const char *status, const char *fmt, ...)
{
	struct buf prefix = BUF_INIT;
	buf_append(&prefix, tag.ptr, tag.len);
	buf_printf(&prefix, " %s ", status);
	va_list ap;
	va_start(ap, fmt);
	conn_vline(&s->conn, buf_span(&prefix), fmt, ap);
	va_end(ap);
	buf_free(&prefix);
}

void imap_untagged(struct imap_session *s, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	conn_vline(&s->conn, SPAN_LIT("* "), fmt, ap);
	va_end(ap);
}

void imap_bad_command(struct imap_session *s)
{
	if (++s->bad_commands >= s->conn.srv->set.limits.max_bad_commands) {
		imap_untagged(s, "BYE Too many invalid commands.");
		log_info(&s->conn.log, "too_many_bad_commands", "count=%u", s->bad_commands);
		conn_close(&s->conn);
	}
}

/* What a command (all its lines and literals) may add up to now. */
static size_t command_limit(const struct imap_session *s)
{
	const struct settings *set = &s->conn.srv->set;
	if (s->state == IMAP_STATE_NOT_AUTHENTICATED)
		return set->limits.max_preauth_line_length;
	return set->limits.max_line_length + set->limits.max_literal_size;
}

static uint64_t literal_limit(const struct imap_session *s)
{
	const struct settings *set = &s->conn.srv->set;
	if (s->state == IMAP_STATE_NOT_AUTHENTICATED)
		return set->limits.max_preauth_line_length;
	return set->limits.max_literal_size;
}

/* A browser or HTTP client that found our port: nothing it sends is IMAP. */
static bool looks_like_http(struct span line)
{
	static const char *const verbs[] = { "GET ", "POST ", "HEAD ", "PUT ", "OPTIONS ",
					     "CONNECT ", "DELETE " };
	for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
		if (span_has_prefix_ci(line, verbs[i]))
			return memmem(line.ptr, line.len, " HTTP/", 6) != NULL;
	return false;
}

static void dispatch(struct imap_session *s)
{
	struct span wire = buf_span(&s->cmd);
	struct imap_command_line cmd;
	const char *error;
	const struct imap_parse_limits *limits =
		s->state == IMAP_STATE_NOT_AUTHENTICATED ? &preauth_parse_limits : &parse_limits;

	if (imap_parse_command(&s->arena, wire, limits, &cmd, &error) < 0) {
		struct span tag;
		if (imap_parse_tag(wire, &tag) < 0)
			imap_untagged(s, "BAD %s", error);
		else
			imap_tagged(s, tag, "BAD", "%s", error);
		imap_bad_command(s);
		return;
	}
	const struct imap_command *def = imap_command_find(cmd.name);
	if (def == NULL) {
		imap_tagged(s, cmd.tag, "BAD", "Unknown command.");
		imap_bad_command(s);
		return;
	}
	if ((def->states & (1u << s->state)) == 0) {
		const char *why = s->state == IMAP_STATE_NOT_AUTHENTICATED ? "Log in first." :
				  (def->states & IMAP_IN_NOT_AUTHENTICATED) ? "Already logged in." :
									      "No mailbox selected.";
		imap_tagged(s, cmd.tag, "BAD", "%s", why);
		imap_bad_command(s);
		return;
	}
	if (def->run == NULL) {
		imap_tagged(s, cmd.tag, "NO", "%s is not supported by this server yet.", def->name);
		return;
	}
	s->bad_commands = 0;
	def->run(s, &cmd);
}

/* The client announced a literal: accept it (sending "+" if it waits for
   one) or refuse the whole command. */
static void handle_literal_announce(struct imap_session *s, const struct reader_item *item)
{
	struct reader *r = &s->conn.reader;
	uint64_t room = command_limit(s) > s->cmd.len ? command_limit(s) - s->cmd.len : 0;
	uint64_t max = literal_limit(s) < room ? literal_limit(s) : room;
	if (reader_literal_accept(r, max) == 0) {
		if (!item->literal_nonsync)
			conn_write_str(&s->conn, "+ OK\r\n");
		return;
	}
	struct span tag;
	bool tagged = imap_parse_tag(buf_span(&s->cmd), &tag) == 0;
	if (item->literal_nonsync) {
		/* RFC 7888 section 4: the client sends the bytes anyway; rather
		   than swallow an unbounded amount, end the session. */
		if (tagged)
			imap_tagged(s, tag, "BAD", "Literal too large.");
		imap_untagged(s, "BYE Literal too large.");
		reader_literal_skip(r);
		conn_close(&s->conn);
	} else {
		if (tagged)
			imap_tagged(s, tag, "BAD", "Literal too large.");
		else
			imap_untagged(s, "BAD Literal too large.");
		reader_literal_reject(r);
		imap_bad_command(s);
	}
	buf_clear(&s->cmd);
}

void imap_refuse_literal(struct imap_session *s, bool nonsync)
{
	if (nonsync)
		reader_literal_skip(&s->conn.reader);
	else
		reader_literal_reject(&s->conn.reader);
	/* Skipped bytes are followed by the rest of the command line. */
	s->cmd_discard = nonsync;
}

/* "tag APPEND mailbox ... {n}": the literal is the message, which goes to
   the store as it arrives instead of into the command buffer. s->cmd
   holds the command so far, this line included. */
static bool try_append(struct imap_session *s, const struct reader_item *item)
{
	if (s->state == IMAP_STATE_NOT_AUTHENTICATED)
		return false;
	/* Only an APPEND is worth parsing here: any other command would be
	   parsed again from its start at each of its literals, quadratic
	   on the event loop for a command of thousands of literals. */
	struct span tag;
	if (imap_parse_tag(buf_span(&s->cmd), &tag) < 0 ||
	    !span_has_prefix_ci(span_make(s->cmd.data + tag.len + 1, s->cmd.len - tag.len - 1),
				"APPEND "))
		return false;
	/* The command without its final literal announcement. */
	size_t end = s->cmd.len - 2;
	while (end > 0 && s->cmd.data[end - 1] != '{')
		end--;
	if (end == 0)
		return false;
	end--;
	while (end > 0 && s->cmd.data[end - 1] == ' ')
		end--;
	struct buf wire = BUF_INIT;
	buf_append(&wire, s->cmd.data, end);
	buf_append_str(&wire, "\r\n");
	struct imap_command_line cmd;
	const char *error;
	bool taken = false;
	if (imap_parse_command(&s->arena, buf_span(&wire), &parse_limits, &cmd, &error) == 0 &&
	    span_eq_ci(cmd.name, "APPEND") && cmd.count >= 1) {
		s->bad_commands = 0;
		taken = imap_append_begin(s, &cmd, item);
	}
	/* The parse tree points into wire; the append keeps copies. */
	buf_free(&wire);
	if (taken) {
		buf_free(&s->cmd);
		arena_reset(&s->arena);
	}
	return taken;
}

static void handle_line(struct imap_session *s, const struct reader_item *item)
{
	if (s->cmd_discard) {
		/* The rest of a command whose literal we refused. */
		if (item->has_literal && item->literal_nonsync) {
			reader_literal_skip(&s->conn.reader);
			return;
		}
		if (item->has_literal)
			reader_literal_reject(&s->conn.reader);
		s->cmd_discard = false;
		return;
	}
	if (s->append != NULL) {
		imap_append_end(s, item->data);
		if (item->has_literal) {
			/* MULTIAPPEND's next message: refused with the command. */
			imap_refuse_literal(s, item->literal_nonsync);
		}
		return;
	}
	if (s->idle_tag != NULL) {
		if (item->has_literal) {
			imap_refuse_literal(s, item->literal_nonsync);
		}
		imap_idle_line(s, item->data);
		return;
	}
	if (s->auth_waiting) {
		if (item->has_literal) {
			/* A SASL response is one base64 line; this is not one. */
			if (item->literal_nonsync)
				reader_literal_skip(&s->conn.reader);
			else
				reader_literal_reject(&s->conn.reader);
			imap_authenticate_continue(s, SPAN_LIT("#"));
			return;
		}
		imap_authenticate_continue(s, item->data);
		return;
	}
	if (s->cmd.len == 0 && s->state == IMAP_STATE_NOT_AUTHENTICATED && looks_like_http(item->data)) {
		imap_untagged(s, "BYE This is an IMAP server.");
		log_info(&s->conn.log, "http_request", "%s", "");
		conn_close(&s->conn);
		return;
	}
	if (s->cmd.len + item->data.len + 2 > command_limit(s)) {
		struct span tag;
		if (imap_parse_tag(buf_span(&s->cmd), &tag) == 0 ||
		    imap_parse_tag(item->data, &tag) == 0)
			imap_tagged(s, tag, "BAD", "Command too long.");
		imap_untagged(s, "BYE Command too long.");
		conn_close(&s->conn);
		return;
	}
	buf_append(&s->cmd, item->data.ptr, item->data.len);
	buf_append_str(&s->cmd, "\r\n");
	if (item->has_literal) {
		if (!try_append(s, item))
			handle_literal_announce(s, item);
		return;
	}
	dispatch(s);
	buf_free(&s->cmd);
	arena_reset(&s->arena);
}

static void imap_ready(struct conn *c)
{
	struct imap_session *s = imap_session(c);
	struct reader_item item;
	while (!c->busy && !conn_is_closing(c) && !conn_output_full(c)) {
		switch (reader_next(&c->reader, &item)) {
		case READER_NEED_MORE:
			return;
		case READER_LINE_TOO_LONG:
			imap_untagged(s, "BYE Line too long.");
			log_info(&c->log, "line_too_long", "%s", "");
			conn_close(c);
			return;
		case READER_LITERAL:
			if (s->append != NULL)
				imap_append_literal(s, item.data);
			else
				buf_append(&s->cmd, item.data.ptr, item.data.len);
			break;
		case READER_LINE:
			handle_line(s, &item);
			break;
		}
	}
}

static void imap_open(struct conn *c)
{
	struct imap_session *s = imap_session(c);
	buf_init(&s->cmd, 0);
	arena_init(&s->arena, 1024);
	struct buf caps = BUF_INIT;
	imap_capability(s, &caps);
	imap_untagged(s, "OK [CAPABILITY %s] Petrel ready.", buf_cstr(&caps));
	buf_free(&caps);
}

static void imap_timeout(struct conn *c)
{
	imap_untagged(imap_session(c), "BYE Autologout; idle for too long.");
	conn_close(c);
}

static void imap_shutdown(struct conn *c)
{
	imap_untagged(imap_session(c), "BYE Server shutting down.");
	conn_close(c);
}

static void imap_destroy(struct conn *c)
{
	struct imap_session *s = imap_session(c);
	/* No job is running any more: every conn_queue_work holds a
	   reference, and destroy comes after the last one is dropped. */
	imap_job_free(&s->job);
	imap_append_free(&s->append);
	imap_notify_remove(imapd_of(s)->notify, s);
	store_view_close(&s->view);
	store_user_close(&s->user);
	free(s->selected);
	free(s->user_name);
	free(s->idle_tag);
	auth_session_destroy(&s->auth);
	buf_free(&s->cmd);
	arena_free(&s->arena);
	free(s->auth_tag);
	free(s->auth_mech);
}

const struct conn_handler imap_handler = {
	.open = imap_open,
	.ready = imap_ready,
	.timeout = imap_timeout,
	.shutdown = imap_shutdown,
	.destroy = imap_destroy,
};
