/* MAIL FROM and RCPT TO (RFC 5321 4.1.1.2-3, RFC 2033 4.2). */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/xalloc.h"
#include "lmtpd/lmtp_session.h"
#include "lmtpd/message.h"
#include "mailauth/mailauth.h"
#include "store/store.h"

void lmtp_txn_reset(struct lmtp_session *s)
{
	struct lmtp_txn *t = &s->txn;
	lmtp_checks_cancel(s);
	for (unsigned i = 0; i < t->rcpt_count; i++) {
		struct lmtp_rcpt *r = &t->rcpts[i];
		smtp_path_free(&r->path);
		free(r->user);
		free(r->mailbox);
		free(r->reply);
		store_user_close(&r->store_user);
	}
	free(t->rcpts);
	smtp_path_free(&t->from);
	lmtp_message_free(t->msg);
	buf_free(&t->scratch);
	memset(t, 0, sizeof(*t));
}

static bool parse_uint64(struct span v, uint64_t *out)
{
	if (v.len == 0 || v.len > 20)
		return false;
	uint64_t n = 0;
	for (size_t i = 0; i < v.len; i++) {
		if (!isdigit(v.ptr[i]))
			return false;
		unsigned d = (unsigned)(v.ptr[i] - '0');
		if (n > (UINT64_MAX - d) / 10)
			return false;
		n = n * 10 + d;
	}
	*out = n;
	return true;
}

void lmtp_cmd_mail(struct lmtp_session *s, struct span args)
{
	const struct settings *set = &s->conn.srv->set;
	if (s->txn.active) {
		lmtp_reply(s, "503 5.5.1", "MAIL already given.");
		return;
	}
	if (!span_has_prefix_ci(args, "FROM:")) {
		lmtp_reply(s, "501 5.5.4", "Syntax: MAIL FROM:<address>");
		lmtp_bad_command(s);
		return;
	}
	args.ptr += 5;
	args.len -= 5;
	/* SMTPUTF8 decides whether UTF-8 is allowed in the path, and it comes
	   after it: look for it first. */
	bool utf8 = false;
	for (size_t i = 0; i + 8 <= args.len; i++)
		if (span_eq_ci(span_make(args.ptr + i, 8), "SMTPUTF8") &&
		    (i + 8 == args.len || args.ptr[i + 8] == ' ') && i > 0 && args.ptr[i - 1] == ' ')
			utf8 = true;
	struct smtp_path from;
	const char *error;
	if (smtp_path_parse(&args, true, utf8, &from, &error) < 0) {
		lmtp_reply(s, "501 5.1.7", "Bad sender address: %s.", error);
		lmtp_bad_command(s);
		return;
	}
	struct span key, value;
	int ret;
	uint64_t size = 0;
	while ((ret = smtp_param_next(&args, &key, &value)) > 0) {
		if (span_eq_ci(key, "SIZE")) {
			if (!parse_uint64(value, &size)) {
				ret = -1;
				break;
			}
		} else if (span_eq_ci(key, "BODY")) {
			if (!span_eq_ci(value, "7BIT") && !span_eq_ci(value, "8BITMIME")) {
				smtp_path_free(&from);
				lmtp_reply(s, "555 5.5.4", "Unsupported BODY type.");
				return;
			}
		} else if (span_eq_ci(key, "SMTPUTF8")) {
			if (value.len != 0) {
				ret = -1;
				break;
			}
		} else if (span_eq_ci(key, "AUTH")) {
			/* RFC 4954 5: the submitter identity; we do not use it. */
		} else {
			smtp_path_free(&from);
			lmtp_reply(s, "555 5.5.4", "Unsupported parameter.");
			return;
		}
	}
	if (ret < 0) {
		smtp_path_free(&from);
		lmtp_reply(s, "501 5.5.4", "Invalid MAIL parameters.");
		lmtp_bad_command(s);
		return;
	}
	if (size > set->delivery.max_message_size) {
		smtp_path_free(&from);
		lmtp_reply(s, "552 5.3.4", "Message size exceeds fixed maximum message size.");
		return;
	}
	s->txn.active = true;
	s->txn.from = from;
	s->txn.declared_size = size;
	s->txn.smtputf8 = utf8;
	s->txn_count++;
	lmtp_checks_start(s);
	lmtp_reply(s, "250 2.1.0", "Ok");
}

/* ------------------------------------------------------------------ RCPT */

struct rcpt_job {
	struct lmtp_session *s;
	struct store *store;
	struct smtp_path path;
	char *user;	/* candidate store user, lowercase */
	char *detail;	/* after the delimiter, or NULL */
	size_t delim_off; /* where the delimiter starts in user */
	uint64_t size;	/* declared message size, 0 if unknown */
	/* results */
	enum { RCPT_OK, RCPT_UNKNOWN, RCPT_QUOTA, RCPT_TEMPFAIL } result;
	struct store_user *u;
	char *mailbox;
};

static char *lowercase(const char *s)
{
	char *out = xstrdup(s);
	for (char *c = out; *c; c++)
		*c = (char)tolower((unsigned char)*c);
	return out;
}

static void rcpt_work(void *arg)
{
	struct rcpt_job *j = arg;
	char *error = NULL;
	int ret = store_user_open(j->store, j->user, &j->u, &error);
	if (ret == STORE_ERR_NOT_FOUND && j->detail != NULL) {
		/* "a+b@x": try "a@x" with folder "b"; the whole address wins
		   when it is a user of its own. */
		char *at = strrchr(j->user, '@');
		char *base = xasprintf("%.*s%s", (int)j->delim_off, j->user, at);
		free(j->user);
		j->user = base;
		free(error);
		error = NULL;
		ret = store_user_open(j->store, j->user, &j->u, &error);
	} else if (ret == STORE_OK) {
		free(j->detail);
		j->detail = NULL;
	}
	free(error);
	error = NULL;
	if (ret == STORE_ERR_NOT_FOUND || ret == STORE_ERR_INVALID) {
		j->result = RCPT_UNKNOWN;
		return;
	}
	if (ret < 0) {
		j->result = RCPT_TEMPFAIL;
		return;
	}
	struct store_quota q;
	if (store_quota_get(j->u, &q) == STORE_OK &&
	    ((q.limit_bytes != 0 && q.used_bytes + j->size > q.limit_bytes) ||
	     (q.limit_bytes != 0 && q.used_bytes >= q.limit_bytes) ||
	     (q.limit_messages != 0 && q.used_messages >= q.limit_messages))) {
		j->result = RCPT_QUOTA;
		store_user_close(&j->u);
		return;
	}
	j->mailbox = xstrdup("INBOX");
	if (j->detail != NULL && j->detail[0] != '\0') {
		struct store_mailbox_info info;
		if (store_mailbox_status(j->u, j->detail, &info, &error) == STORE_OK && info.exists &&
		    !info.noselect) {
			free(j->mailbox);
			j->mailbox = xstrdup(j->detail);
		}
		free(error);
	}
	j->result = RCPT_OK;
}

static void rcpt_job_free(struct rcpt_job *j)
{
	smtp_path_free(&j->path);
	free(j->user);
	free(j->detail);
	free(j->mailbox);
	store_user_close(&j->u);
	free(j);
}

static void rcpt_done(struct conn *c, void *arg)
{
	struct rcpt_job *j = arg;
	struct lmtp_session *s = lmtp_session(c);
	if (conn_is_closing(c)) {
		rcpt_job_free(j);
		return;
	}
	const struct settings *set = &c->srv->set;
	struct lmtp_txn *t = &s->txn;
	switch (j->result) {
	case RCPT_UNKNOWN:
		t->rcpt_refused++;
		lmtp_reply(s, "550 5.1.1", "<%s> User doesn't exist.", j->path.address);
		break;
	case RCPT_QUOTA:
		t->rcpt_refused++;
		if (set->delivery.quota_full_tempfail)
			lmtp_reply(s, "452 4.2.2", "<%s> Mailbox is full.", j->path.address);
		else
			lmtp_reply(s, "552 5.2.2", "<%s> Mailbox is full.", j->path.address);
		break;
	case RCPT_TEMPFAIL:
		t->rcpt_refused++;
		lmtp_reply(s, "451 4.3.0", "<%s> Temporary user lookup failure.", j->path.address);
		break;
	case RCPT_OK: {
		if (t->rcpt_count == t->rcpt_alloc) {
			t->rcpt_alloc = t->rcpt_alloc ? t->rcpt_alloc * 2 : 4;
			t->rcpts = xreallocarray(t->rcpts, t->rcpt_alloc, sizeof(*t->rcpts));
		}
		struct lmtp_rcpt *r = &t->rcpts[t->rcpt_count++];
		memset(r, 0, sizeof(*r));
		r->path = j->path;
		memset(&j->path, 0, sizeof(j->path));
		r->user = j->user;
		j->user = NULL;
		r->mailbox = j->mailbox;
		j->mailbox = NULL;
		r->store_user = j->u;
		j->u = NULL;
		lmtp_reply(s, "250 2.1.5", "<%s> Ok", r->path.address);
		break;
	}
	}
	rcpt_job_free(j);
	conn_set_busy(c, false);
}

void lmtp_cmd_rcpt(struct lmtp_session *s, struct span args)
{
	const struct settings *set = &s->conn.srv->set;
	struct lmtp_txn *t = &s->txn;
	if (!t->active) {
		lmtp_reply(s, "503 5.5.1", "MAIL needed first.");
		return;
	}
	if (t->msg != NULL) {
		lmtp_reply(s, "503 5.5.1", "RCPT not allowed during BDAT.");
		return;
	}
	if (!span_has_prefix_ci(args, "TO:")) {
		lmtp_reply(s, "501 5.5.4", "Syntax: RCPT TO:<address>");
		lmtp_bad_command(s);
		return;
	}
	args.ptr += 3;
	args.len -= 3;
	/* Accepted recipients are limited by max_recipients; refused ones too,
	   more loosely, so a client cannot make us look up names forever. */
	if (t->rcpt_count >= set->delivery.max_recipients ||
	    t->rcpt_refused >= 10 * set->delivery.max_recipients) {
		lmtp_reply(s, "452 4.5.3", "Too many recipients.");
		return;
	}
	struct smtp_path path;
	const char *error;
	if (smtp_path_parse(&args, false, t->smtputf8, &path, &error) < 0) {
		lmtp_reply(s, "501 5.1.3", "Bad recipient address: %s.", error);
		lmtp_bad_command(s);
		return;
	}
	struct span key, value;
	int ret;
	while ((ret = smtp_param_next(&args, &key, &value)) > 0) {
		/* No RCPT parameters are advertised (no DSN). */
		smtp_path_free(&path);
		lmtp_reply(s, "555 5.5.4", "Unsupported parameter.");
		return;
	}
	if (ret < 0) {
		smtp_path_free(&path);
		lmtp_reply(s, "501 5.5.4", "Invalid RCPT parameters.");
		lmtp_bad_command(s);
		return;
	}
	struct rcpt_job *j = xcalloc(1, sizeof(*j));
	j->s = s;
	j->store = lmtpd_of(s)->store;
	j->size = t->declared_size;
	j->user = xasprintf("%s@%s", path.local, path.domain);
	char *lower = lowercase(j->user);
	free(j->user);
	j->user = lower;
	const char *delim = set->delivery.recipient_delimiter;
	if (delim[0] != '\0') {
		char *at = strrchr(j->user, '@');
		char *d = strstr(j->user, delim);
		if (d != NULL && d < at) {
			/* The folder name keeps the case it was written in. */
			j->delim_off = (size_t)(d - j->user);
			size_t off = j->delim_off + strlen(delim);
			j->detail = xstrndup(path.local + off, (size_t)(at - j->user) - off);
		}
	}
	j->path = path;
	conn_set_busy(&s->conn, true);
	if (j->detail == NULL && user_cache_holds(&lmtpd_of(s)->users, j->user)) {
		/* Open already (delivered to a moment ago): the lookup and the
		   quota check read its mapped index and the user directory,
		   which is quicker here than two trips through the pool. */
		rcpt_work(j);
		rcpt_done(&s->conn, j);
		return;
	}
	conn_queue_work(&s->conn, rcpt_work, rcpt_done, j);
}
