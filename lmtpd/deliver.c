/*
 * Each recipient's copy: our trace fields, the message's header (minus
 * Authentication-Results claiming our id), the body from the spool, all
 * into a store draft and committed with store_deliver() (durable, group
 * commit with other deliveries). One job per recipient on the thread pool;
 * replies go out in recipient order, each only once its copy is durable.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/xalloc.h"
#include "lmtpd/lmtp_session.h"
#include "lmtpd/message.h"
#include "store/store.h"

struct deliver_job {
	struct lmtp_session *s;
	unsigned int index;
	const struct lmtp_message *msg; /* shared, read-only during the jobs */
	struct store_user *u;		/* borrowed from the recipient */
	char *header;			/* our fields, CRLF-terminated */
	char *mailbox;
	bool to_junk;
	/* results */
	int result;
	uint32_t uid;
	char *error;
};

struct junk_search {
	char *name;
};

static void find_junk(const struct store_mailbox_info *info, void *ctx)
{
	struct junk_search *js = ctx;
	if (js->name == NULL && info->exists && (info->special_use & STORE_USE_JUNK))
		js->name = xstrdup(info->name);
}

static int write_message(struct deliver_job *j, struct store_draft *d, char **error_r)
{
	const struct lmtp_message *m = j->msg;
	if (store_draft_write(d, j->header, strlen(j->header), error_r) < 0)
		return -1;
	for (size_t i = 0; i < m->field_count; i++) {
		const struct header_field *f = &m->fields[i];
		if (f->drop)
			continue;
		if (store_draft_write(d, m->header.data + f->offset, f->len, error_r) < 0 ||
		    store_draft_write(d, "\r\n", 2, error_r) < 0)
			return -1;
	}
	if (store_draft_write(d, "\r\n", 2, error_r) < 0)
		return -1;
	uint8_t chunk[65536];
	for (uint64_t off = 0; off < m->body_size;) {
		ssize_t n = lmtp_message_read_body(m, off, chunk, sizeof(chunk));
		if (n <= 0) {
			*error_r = xstrdup("cannot read the spooled message");
			return STORE_ERR_IO;
		}
		if (store_draft_write(d, chunk, (size_t)n, error_r) < 0)
			return -1;
		off += (uint64_t)n;
	}
	return store_draft_finish(d, error_r);
}

static void deliver_work(void *arg)
{
	struct deliver_job *j = arg;
	char *error = NULL;
	if (j->to_junk) {
		struct junk_search js = { NULL };
		if (store_mailbox_list(j->u, find_junk, &js, &error) == STORE_OK && js.name != NULL) {
			free(j->mailbox);
			j->mailbox = js.name;
		} else {
			free(js.name);
		}
		free(error);
		error = NULL;
	}
	struct store_draft *d = NULL;
	int ret = store_draft_begin(j->u, &d, &error);
	if (ret == STORE_OK) {
		ret = write_message(j, d, &error);
		if (ret < 0) {
			store_draft_abort(&d);
			if (ret != STORE_ERR_QUOTA)
				ret = STORE_ERR_IO;
		}
	}
	if (ret == STORE_OK) {
		struct store_append item = { .draft = d, .mailbox = j->mailbox };
		ret = store_deliver(j->u, &item, &error);
		j->uid = item.uid;
	}
	j->result = ret;
	j->error = error;
}

/* Sends the replies that are due: in recipient order, up to the first one
   still being delivered. */
static void send_replies(struct lmtp_session *s)
{
	struct lmtp_txn *t = &s->txn;
	while (t->replies_sent < t->rcpt_count && t->rcpts[t->replies_sent].done) {
		conn_printf(&s->conn, "%s\r\n", t->rcpts[t->replies_sent].reply);
		t->replies_sent++;
	}
}

static void deliver_done(struct conn *c, void *arg)
{
	struct deliver_job *j = arg;
	struct lmtp_session *s = lmtp_session(c);
	struct lmtp_txn *t = &s->txn;
	struct lmtp_rcpt *r = &t->rcpts[j->index];
	const struct settings *set = &c->srv->set;

	if (j->result == STORE_OK) {
		r->reply = xasprintf("250 2.0.0 <%s> Saved (uid %u)", r->path.address, j->uid);
		log_info(&c->log, "delivered", "rcpt=%s mailbox=%s uid=%u size=%llu", r->user,
			 j->mailbox, j->uid, (unsigned long long)t->msg->size);
	} else if (j->result == STORE_ERR_QUOTA) {
		r->reply = xasprintf(set->delivery.quota_full_tempfail
					     ? "452 4.2.2 <%s> Mailbox is full"
					     : "552 5.2.2 <%s> Mailbox is full",
				     r->path.address);
		log_info(&c->log, "delivery_refused", "rcpt=%s reason=quota", r->user);
	} else {
		r->reply = xasprintf("451 4.3.0 <%s> Temporary failure storing the message",
				     r->path.address);
		log_error(&c->log, "delivery_failed", "rcpt=%s error=\"%s\"", r->user,
			  j->error != NULL ? j->error : store_strerror(j->result));
	}
	r->done = true;
	/* The user was opened by RCPT; the copy is in. The next message is
	   likely for the same user: keep it open a while. */
	user_cache_put(&lmtpd_of(s)->users, &r->store_user);
	free(j->header);
	free(j->mailbox);
	free(j->error);
	free(j);

	if (!conn_is_closing(c))
		send_replies(s);
	if (--t->jobs_pending == 0) {
		lmtp_txn_reset(s);
		conn_set_busy(c, false);
	}
}

void lmtp_deliver_start(struct lmtp_session *s, const char *authres, bool to_junk)
{
	struct lmtp_txn *t = &s->txn;
	t->delivering = true;
	t->jobs_pending = t->rcpt_count;
	for (unsigned i = 0; i < t->rcpt_count; i++) {
		struct lmtp_rcpt *r = &t->rcpts[i];
		struct deliver_job *j = xcalloc(1, sizeof(*j));
		j->s = s;
		j->index = i;
		j->msg = t->msg;
		j->u = r->store_user;
		j->mailbox = xstrdup(r->mailbox);
		j->to_junk = to_junk;
		char *received = lmtp_received_field(s, r->path.address);
		struct buf h = BUF_INIT;
		buf_printf(&h, "Return-Path: <%s>\r\nDelivered-To: %s\r\n%s\r\n", t->from.address,
			   r->path.address, received);
		if (authres != NULL)
			buf_printf(&h, "%s\r\n", authres);
		j->header = span_strdup(buf_span(&h));
		buf_free(&h);
		free(received);
		conn_queue_work(&s->conn, deliver_work, deliver_done, j);
	}
}
