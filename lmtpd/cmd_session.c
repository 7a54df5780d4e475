/* LHLO, NOOP, RSET, QUIT (RFC 2033, RFC 5321 4.1.1). */
#include <stdlib.h>
#include <string.h>

#include "lmtpd/lmtp_session.h"

void lmtp_cmd_lhlo(struct lmtp_session *s, struct span args)
{
	if (args.len == 0 || memchr(args.ptr, ' ', args.len) != NULL ||
	    memchr(args.ptr, '\0', args.len) != NULL) {
		lmtp_reply(s, "501 5.5.4", "Syntax: LHLO hostname");
		lmtp_bad_command(s);
		return;
	}
	free(s->lhlo_name);
	s->lhlo_name = span_strdup(args);
	/* Only what this build does: pipelined commands are answered in
	   order, and every reply carries an RFC 3463 code. */
	struct buf out = BUF_INIT;
	buf_printf(&out, "250-%s\r\n250-PIPELINING\r\n250 ENHANCEDSTATUSCODES\r\n",
		   s->conn.srv->set.server.hostname);
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
	lmtp_reply(s, "250 2.0.0", "OK");
}

void lmtp_cmd_quit(struct lmtp_session *s, struct span args)
{
	lmtp_reply(s, "221 2.0.0", "%s closing connection", s->conn.srv->set.server.hostname);
	conn_close(&s->conn);
}
