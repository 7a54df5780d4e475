/*
 * DATA and BDAT (RFC 5321 4.1.1.4, RFC 3030), and what follows the end of
 * the message: the checks, then one reply per recipient (RFC 2033 4.2).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/xalloc.h"
#include "lmtpd/lmtp_session.h"
#include "lmtpd/message.h"
#include "mailauth/mailauth.h"
#include "store/store.h"

static const char *spool_dir(const struct lmtp_session *s)
{
	return lmtpd_of(s)->spool_dir;
}

static void message_begin(struct lmtp_session *s)
{
	const struct settings *set = &s->conn.srv->set;
	s->txn.msg = lmtp_message_new(set->delivery.max_message_size, set->delivery.max_header_size,
				      spool_dir(s), &s->spare_spool_fd, set->delivery.authserv_id,
				      s->txn.auth);
}

/* Every recipient gets the same reply (a failure of the message itself). */
static void reply_all(struct lmtp_session *s, const char *codes, const char *text)
{
	for (unsigned i = 0; i < s->txn.rcpt_count; i++)
		lmtp_reply(s, codes, "<%s> %s", s->txn.rcpts[i].path.address, text);
}

static bool transaction_ready(struct lmtp_session *s)
{
	if (!s->txn.active) {
		lmtp_reply(s, "503 5.5.1", "MAIL needed first.");
		return false;
	}
	if (s->txn.rcpt_count == 0) {
		lmtp_reply(s, "503 5.5.1", "No valid recipients.");
		return false;
	}
	return true;
}

void lmtp_cmd_data(struct lmtp_session *s, struct span args)
{
	if (args.len != 0) {
		lmtp_reply(s, "501 5.5.4", "DATA takes no arguments.");
		lmtp_bad_command(s);
		return;
	}
	if (!transaction_ready(s))
		return;
	if (s->txn.msg != NULL) {
		lmtp_reply(s, "503 5.5.1", "DATA not allowed after BDAT.");
		return;
	}
	message_begin(s);
	dot_stream_init(&s->txn.dot, true);
	s->txn.in_data = true;
	reader_raw_begin(&s->conn.reader, UINT64_MAX);
	lmtp_reply(s, "354", "Start mail input; end with <CRLF>.<CRLF>");
}

static void message_complete(struct lmtp_session *s);

void lmtp_cmd_bdat(struct lmtp_session *s, struct span args)
{
	struct span size_arg = span_next_word(&args);
	struct span last = span_next_word(&args);
	uint64_t size = 0;
	bool ok = size_arg.len > 0 && size_arg.len <= 20 && args.len == 0 &&
		  (last.len == 0 || span_eq_ci(last, "LAST"));
	for (size_t i = 0; ok && i < size_arg.len; i++) {
		unsigned d = (unsigned)(size_arg.ptr[i] - '0');
		if (d > 9 || size > (UINT64_MAX - d) / 10)
			ok = false;
		else
			size = size * 10 + d;
	}
	if (!ok) {
		/* Without a size we cannot know where the chunk ends: the rest of
		   the connection is unusable (RFC 3030 2). */
		lmtp_reply(s, "501 5.5.4", "Syntax: BDAT size [LAST]; closing.");
		conn_close(&s->conn);
		return;
	}
	struct lmtp_txn *t = &s->txn;
	/* The chunk's bytes come whatever we answer: read them either way. */
	t->bdat_in_chunk = true;
	t->bdat_left = size;
	t->bdat_last = last.len > 0;
	if (!t->active || t->rcpt_count == 0 || t->bdat_failed) {
		t->bdat_failed = true;
	} else if (t->msg == NULL) {
		message_begin(s);
		dot_stream_init(&t->dot, false);
	}
	if (size > 0)
		reader_raw_begin(&s->conn.reader, size);
	else
		(void)lmtp_data_input(s, NULL, 0);
}

static void bdat_chunk_end(struct lmtp_session *s)
{
	struct lmtp_txn *t = &s->txn;
	t->bdat_in_chunk = false;
	if (t->bdat_failed) {
		if (!t->active)
			lmtp_reply(s, "503 5.5.1", "MAIL needed first.");
		else if (t->rcpt_count == 0)
			lmtp_reply(s, "503 5.5.1", "No valid recipients.");
		else
			lmtp_reply(s, "503 5.5.1", "Earlier chunk refused.");
		if (t->bdat_last) {
			/* The failed transaction ends with its last chunk. */
			lmtp_txn_reset(s);
		}
		return;
	}
	if (!t->bdat_last) {
		lmtp_reply(s, "250 2.0.0", "%llu octets received.",
			   (unsigned long long)t->msg->size);
		return;
	}
	dot_stream_finish(&t->dot, &t->scratch);
	lmtp_message_write(t->msg, t->scratch.data, t->scratch.len);
	buf_clear(&t->scratch);
	message_complete(s);
}

size_t lmtp_data_input(struct lmtp_session *s, const uint8_t *data, size_t len)
{
	struct lmtp_txn *t = &s->txn;
	if (t->bdat_in_chunk) {
		size_t n = len < t->bdat_left ? len : (size_t)t->bdat_left;
		if (!t->bdat_failed) {
			(void)dot_stream_feed(&t->dot, data, n, &t->scratch);
			lmtp_message_write(t->msg, t->scratch.data, t->scratch.len);
			buf_clear(&t->scratch);
		}
		t->bdat_left -= n;
		if (t->bdat_left == 0)
			bdat_chunk_end(s);
		return n;
	}
	if (!t->in_data)
		return len; /* cannot happen: raw mode only in DATA/BDAT */
	size_t used = dot_stream_feed(&t->dot, data, len, &t->scratch);
	lmtp_message_write(t->msg, t->scratch.data, t->scratch.len);
	buf_clear(&t->scratch);
	if (dot_stream_done(&t->dot)) {
		t->in_data = false;
		message_complete(s);
	}
	return used;
}

/* The whole message is here: check it, then deliver. */
static void message_complete(struct lmtp_session *s)
{
	struct lmtp_txn *t = &s->txn;
	buf_free(&t->scratch);
	lmtp_message_finish(t->msg);
	switch (t->msg->error) {
	case MESSAGE_OK:
		break;
	case MESSAGE_TOO_BIG:
		reply_all(s, "552 5.3.4", "Message size exceeds fixed maximum message size.");
		lmtp_txn_reset(s);
		return;
	case MESSAGE_HEADER_TOO_BIG:
		reply_all(s, "552 5.3.4", "Message header too large.");
		lmtp_txn_reset(s);
		return;
	case MESSAGE_SPOOL_FAILED:
		reply_all(s, "451 4.3.0", "Temporary failure writing the message.");
		lmtp_txn_reset(s);
		return;
	}
	/* From here until the last reply, the next commands wait. */
	conn_set_busy(&s->conn, true);
	lmtp_checks_finish(s);
}

static void append_date(struct buf *b, time_t now)
{
	struct tm tm;
	localtime_r(&now, &tm);
	char date[64];
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S %z", &tm);
	buf_append_str(b, date);
}

char *lmtp_received_field(const struct lmtp_session *s, const char *rcpt)
{
	struct buf b = BUF_INIT;
	char peer[NETADDR_STRLEN];
	netaddr_format((const struct sockaddr *)&s->conn.peer, peer);
	buf_printf(&b, "Received: from %s", s->lhlo_name != NULL ? s->lhlo_name : "unknown");
	if (s->conn.peer.ss_family == AF_UNIX)
		buf_append_str(&b, " (unix socket)");
	else
		buf_printf(&b, " ([%s])", peer);
	buf_printf(&b, "\r\n\tby %s (Petrel) with %s id %s-%llu",
		   s->conn.srv->set.server.hostname, s->txn.smtputf8 ? "UTF8LMTP" : "LMTP",
		   s->session_id, (unsigned long long)s->txn_count);
	buf_printf(&b, "\r\n\t(envelope-from <%s>)\r\n\tfor <%s>; ", s->txn.from.address, rcpt);
	append_date(&b, time(NULL));
	char *out = span_strdup(buf_span(&b));
	buf_free(&b);
	return out;
}

void lmtp_data_checked(struct lmtp_session *s)
{
	struct lmtp_txn *t = &s->txn;
	const struct settings *set = &s->conn.srv->set;
	const struct dmarc_outcome *dmarc = t->auth != NULL ? mailauth_msg_dmarc(t->auth) : NULL;
	bool junk = false;
	if (dmarc != NULL && dmarc->result == MAILAUTH_FAIL &&
	    (dmarc->disposition == DMARC_POLICY_QUARANTINE ||
	     dmarc->disposition == DMARC_POLICY_REJECT)) {
		int action = dmarc->disposition == DMARC_POLICY_REJECT
				     ? set->delivery.dmarc_reject_action
				     : set->delivery.dmarc_quarantine_action;
		log_info(&s->conn.log, "dmarc_fail", "from_domain=%s policy=%s action=%s",
			 dmarc->header_from, dmarc_policy_name(dmarc->disposition),
			 action == DMARC_ACTION_REJECT ? "reject" :
			 action == DMARC_ACTION_JUNK   ? "junk" : "tag");
		if (action == DMARC_ACTION_REJECT) {
			char text[400];
			snprintf(text, sizeof(text), "Message rejected: DMARC policy of %s.",
				 dmarc->header_from);
			reply_all(s, "550 5.7.1", text);
			lmtp_txn_reset(s);
			conn_set_busy(&s->conn, false);
			return;
		}
		if (action == DMARC_ACTION_JUNK)
			junk = true;
	}
	char *authres = t->auth != NULL ? mailauth_msg_authres(t->auth) : NULL;
	lmtp_deliver_start(s, authres, junk);
	free(authres);
}
