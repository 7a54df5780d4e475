#include "lmtpd/lmtp_session.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const struct lmtp_command commands[] = {
	{ "LHLO", false, lmtp_cmd_lhlo },
	{ "HELO", false, lmtp_cmd_helo },
	{ "EHLO", false, lmtp_cmd_helo },
	{ "NOOP", false, lmtp_cmd_noop },
	{ "RSET", false, lmtp_cmd_rset },
	{ "QUIT", false, lmtp_cmd_quit },
	{ "MAIL", true, lmtp_cmd_mail },
	{ "RCPT", true, lmtp_cmd_rcpt },
	{ "DATA", true, lmtp_cmd_data },
	{ "BDAT", true, lmtp_cmd_bdat },
	{ "VRFY", false, lmtp_cmd_vrfy },
	{ "XFORWARD", true, lmtp_cmd_xforward },
	{ "XCLIENT", false, lmtp_cmd_xclient },
};

const struct lmtp_command *lmtp_command_find(struct span name)
{
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (span_eq_ci(name, commands[i].name))
			return &commands[i];
	return NULL;
}

void lmtp_reply(struct lmtp_session *s, const char *codes, const char *fmt, ...)
{
	char prefix[32];
	int n = snprintf(prefix, sizeof(prefix), "%s ", codes);
	va_list ap;
	va_start(ap, fmt);
	conn_vline(&s->conn, span_make(prefix, (size_t)n), fmt, ap);
	va_end(ap);
}

void lmtp_bad_command(struct lmtp_session *s)
{
	if (++s->bad_commands >= s->conn.srv->set.limits.max_bad_commands) {
		lmtp_reply(s, "421 4.7.0", "%s Too many invalid commands, closing.",
			   s->conn.srv->set.server.hostname);
		log_info(&s->conn.log, "too_many_bad_commands", "count=%u", s->bad_commands);
		conn_close(&s->conn);
	}
}

static void dispatch(struct lmtp_session *s, struct span line)
{
	struct span args = line;
	struct span verb = span_next_word(&args);
	const struct lmtp_command *cmd = lmtp_command_find(verb);
	if (cmd == NULL) {
		lmtp_reply(s, "500 5.5.2", "Unknown command.");
		lmtp_bad_command(s);
		return;
	}
	if (cmd->needs_lhlo && s->lhlo_name == NULL) {
		lmtp_reply(s, "503 5.5.1", "Send LHLO first.");
		lmtp_bad_command(s);
		return;
	}
	s->bad_commands = 0;
	cmd->run(s, args);
}

static void lmtp_line_too_long(struct lmtp_session *s)
{
	/* RFC 5321 4.5.3.1.4 */
	lmtp_reply(s, "500 5.5.2", "Line too long.");
	lmtp_bad_command(s);
}

/* Hands input to the command parser, or as raw bytes to DATA/BDAT, until
   the reader needs more, the output is full or a command waits. */
static void lmtp_ready(struct conn *c)
{
	struct lmtp_session *s = lmtp_session(c);
	struct reader_item item;
	while (!c->busy && !conn_is_closing(c) && !conn_output_full(c)) {
		switch (reader_next(&c->reader, &item)) {
		case READER_NEED_MORE:
			return;
		case READER_LINE_TOO_LONG:
			lmtp_line_too_long(s);
			break;
		case READER_LINE:
			if (item.data.len > 0 && memchr(item.data.ptr, '\0', item.data.len) != NULL) {
				lmtp_reply(s, "500 5.5.2", "NUL byte in command.");
				lmtp_bad_command(s);
				break;
			}
			dispatch(s, item.data);
			break;
		case READER_LITERAL: {
			size_t used = lmtp_data_input(s, item.data.ptr, item.data.len);
			/* DATA's end is found by us, not the reader: hand back what
			   follows the final dot and return to commands. */
			if (!s->txn.in_data && !s->txn.bdat_in_chunk)
				reader_raw_stop(&c->reader, item.data.len - used);
			break;
		}
		}
	}
}

static void lmtp_open(struct conn *c)
{
	struct lmtp_session *s = lmtp_session(c);
	s->spare_spool_fd = -1;
	/* A short id for Received: and the logs, unique enough per host. */
	static uint64_t counter;
	snprintf(s->session_id, sizeof(s->session_id), "%08llx%04llx",
		 (unsigned long long)time(NULL) & 0xffffffffULL,
		 (unsigned long long)(++counter ^ (uint64_t)getpid()) & 0xffffULL);
	/* An MTA connection has no login step: the idle timeout applies from
	   the start, reset by every command. */
	conn_set_timeout(c, c->srv->set.lmtp.idle_timeout_ms, false);
	lmtp_reply(lmtp_session(c), "220", "%s Petrel LMTP ready", c->srv->set.server.hostname);
}

static void lmtp_timeout(struct conn *c)
{
	lmtp_reply(lmtp_session(c), "421 4.4.2", "%s Timeout, closing connection.",
		   c->srv->set.server.hostname);
	conn_close(c);
}

static void lmtp_shutdown(struct conn *c)
{
	lmtp_reply(lmtp_session(c), "421 4.3.2", "%s Server shutting down.",
		   c->srv->set.server.hostname);
	conn_close(c);
}

static void lmtp_destroy(struct conn *c)
{
	struct lmtp_session *s = lmtp_session(c);
	lmtp_txn_reset(s);
	lmtp_client_info_clear(&s->client);
	free(s->lhlo_name);
	if (s->spare_spool_fd >= 0)
		close(s->spare_spool_fd);
}

const struct conn_handler lmtp_handler = {
	.open = lmtp_open,
	.ready = lmtp_ready,
	.timeout = lmtp_timeout,
	.shutdown = lmtp_shutdown,
	.destroy = lmtp_destroy,
};
