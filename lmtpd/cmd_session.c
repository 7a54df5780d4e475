/* LHLO, NOOP, RSET, QUIT (RFC 2033, RFC 5321 4.1.1). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lmtpd/lmtp_session.h"

/* A host name or address literal as it may appear in our Received field:
   printable, no spaces or control bytes (a bare CR would let a client
   start a header line of its own), at most a domain's length. */
static bool valid_lhlo_name(struct span name)
{
	if (name.len == 0 || name.len > 255)
		return false;
	for (size_t i = 0; i < name.len; i++)
		if (name.ptr[i] <= ' ' || name.ptr[i] == 0x7f)
			return false;
	return true;
}

void lmtp_cmd_lhlo(struct lmtp_session *s, struct span args)
{
	if (!valid_lhlo_name(args)) {
		lmtp_reply(s, "501 5.5.4", "Syntax: LHLO hostname");
		lmtp_bad_command(s);
		return;
	}
	free(s->lhlo_name);
	s->lhlo_name = span_strdup(args);
	/* LHLO starts over, like RSET (RFC 5321 4.1.4). */
	lmtp_txn_reset(s);
	const struct settings *set = &s->conn.srv->set;
	struct buf out = BUF_INIT;
	char size[40];
	snprintf(size, sizeof(size), "SIZE %llu",
		 (unsigned long long)set->delivery.max_message_size);
	const char *ext[10];
	size_t n = 0;
	ext[n++] = set->server.hostname;
	ext[n++] = "PIPELINING";
	ext[n++] = "ENHANCEDSTATUSCODES";
	ext[n++] = "8BITMIME";
	ext[n++] = "SMTPUTF8";
	ext[n++] = "CHUNKING";
	ext[n++] = size;
	/* Offered only to clients allowed to use them. */
	if (lmtp_client_trusted(s)) {
		ext[n++] = "XFORWARD NAME ADDR PROTO HELO";
		ext[n++] = "XCLIENT ADDR NAME HELO PROTO";
	}
	for (size_t i = 0; i < n; i++)
		buf_printf(&out, "250%c%s\r\n", i + 1 < n ? '-' : ' ', ext[i]);
	conn_write(&s->conn, out.data, out.len);
	buf_free(&out);
}

void lmtp_cmd_helo(struct lmtp_session *s, struct span args)
{
	/* RFC 2033 4.1: an LMTP server must not accept HELO or EHLO. */
	lmtp_reply(s, "500 5.5.1", "This is LMTP: use LHLO.");
	lmtp_bad_command(s);
}

void lmtp_cmd_noop(struct lmtp_session *s, struct span args)
{
	lmtp_reply(s, "250 2.0.0", "OK");
}

void lmtp_cmd_rset(struct lmtp_session *s, struct span args)
{
	if (args.len != 0) {
		lmtp_reply(s, "501 5.5.4", "RSET takes no arguments.");
		lmtp_bad_command(s);
		return;
	}
	lmtp_txn_reset(s);
	lmtp_reply(s, "250 2.0.0", "OK");
}

void lmtp_cmd_vrfy(struct lmtp_session *s, struct span args)
{
	/* RFC 5321 3.5.3: do not confirm addresses to whoever asks. */
	lmtp_reply(s, "252 2.5.2", "Cannot VRFY user, but will accept message and attempt delivery.");
}

void lmtp_cmd_quit(struct lmtp_session *s, struct span args)
{
	lmtp_reply(s, "221 2.0.0", "%s closing connection", s->conn.srv->set.server.hostname);
	conn_close(&s->conn);
}
