/*
 * APPEND (RFC 3501 6.3.11) with the message streamed into the store.
 *
 * The session recognises "tag APPEND mailbox [flags] [date-time] {n}"
 * when the literal is announced and hands it here instead of assembling
 * the command: a first job checks the mailbox and quota and begins a
 * draft (so a missing mailbox gets NO [TRYCREATE] before the client sends
 * anything), literal pieces are collected and written to the draft by
 * jobs of up to APPEND_CHUNK bytes (the session is busy meanwhile, which
 * is the backpressure), and the line that ends the command commits the
 * message and answers with APPENDUID (RFC 4315).
 */
#include <stdlib.h>
#include <string.h>

#include "common/xalloc.h"
#include "imapd/imap_commands.h"
#include "imapd/imap_date.h"
#include "imapd/imap_job.h"
#include "imapd/imap_mailbox_name.h"
#include "imapd/imap_sync.h"
#include "store/store.h"

#define APPEND_CHUNK (256 * 1024)

struct imap_append {
	char *tag;
	char *mailbox;
	uint32_t flags;
	char **keywords;
	size_t keyword_count;
	int64_t internaldate;
	uint64_t size;		/* announced */
	bool nonsync;
	struct store_draft *draft;
	struct buf pending;	/* literal bytes not yet written to the draft */
	uint64_t received;
	bool literal_accepted;
	int error;		/* a store error from a write: answered at the end */
	uint32_t uidvalidity, uid;
};

void imap_append_free(struct imap_append **ap)
{
	struct imap_append *a = *ap;
	if (a == NULL)
		return;
	*ap = NULL;
	store_draft_abort(&a->draft);
	for (size_t i = 0; i < a->keyword_count; i++)
		free(a->keywords[i]);
	free(a->keywords);
	free(a->tag);
	free(a->mailbox);
	buf_free(&a->pending);
	free(a);
}

/* ------------------------------------------------------------ first step */

static void open_work(struct imap_job *j)
{
	struct imap_session *s = j->s;
	struct imap_append *a = s->append;
	char *error = NULL;
	int ret = imap_job_user(j);
	struct store_mailbox_info info;
	if (ret == STORE_OK)
		ret = store_mailbox_status(s->user, a->mailbox, &info, &error);
	if (ret == STORE_OK && (!info.exists || info.noselect))
		ret = STORE_ERR_NOT_FOUND;
	struct store_quota q;
	if (ret == STORE_OK && store_quota_get(s->user, &q) == STORE_OK &&
	    ((q.limit_bytes != 0 && q.used_bytes + a->size > q.limit_bytes) ||
	     (q.limit_messages != 0 && q.used_messages + 1 > q.limit_messages)))
		ret = STORE_ERR_QUOTA;
	if (ret == STORE_OK)
		ret = store_draft_begin(s->user, &a->draft, &error);
	free(error);
	j->result = ret;
	if (ret == STORE_ERR_NOT_FOUND)
		imap_job_tagged(j, "NO", "[TRYCREATE] Mailbox doesn't exist.");
	else if (ret != STORE_OK)
		imap_job_store_error(j, ret, NULL);
}

static void open_finish(struct imap_job *j)
{
	struct imap_session *s = j->s;
	struct reader *r = &s->conn.reader;
	if (j->result == STORE_OK) {
		/* The reader already checked the size against the limit we
		   gave when the command arrived. */
		reader_literal_accept(r, s->append->size);
		s->append->literal_accepted = true;
		if (!s->append->nonsync)
			conn_write_str(&s->conn, "+ OK\r\n");
		return;
	}
	/* Refused: the tagged NO is out; the client does not send a
	   synchronising literal, and the bytes of a non-synchronising one
	   are dropped, with the rest of the command line. */
	imap_refuse_literal(s, s->append->nonsync);
	imap_append_free(&s->append);
}

/* --------------------------------------------------------------- writing */

static void write_pending(struct imap_job *j)
{
	struct imap_append *a = j->s->append;
	if (a->error != STORE_OK || a->pending.len == 0)
		return;
	char *error = NULL;
	a->error = store_draft_write(a->draft, a->pending.data, a->pending.len, &error);
	free(error);
	buf_clear(&a->pending);
}

static void write_work(struct imap_job *j)
{
	write_pending(j);
}

void imap_append_literal(struct imap_session *s, struct span data)
{
	struct imap_append *a = s->append;
	buf_append(&a->pending, data.ptr, data.len);
	a->received += data.len;
	if (a->pending.len >= APPEND_CHUNK)
		imap_job_start(imap_job_new(s, SPAN_LIT(""), write_work));
}

/* ---------------------------------------------------------------- commit */

static void commit_work(struct imap_job *j)
{
	struct imap_session *s = j->s;
	struct imap_append *a = s->append;
	write_pending(j);
	char *error = NULL;
	int ret = a->error;
	if (ret == STORE_OK)
		ret = store_draft_finish(a->draft, &error);
	if (ret == STORE_OK) {
		struct store_append item = {
			.draft = a->draft,
			.mailbox = a->mailbox,
			.flags = a->flags,
			.keywords = { (const char *const *)a->keywords, a->keyword_count },
			.internaldate = a->internaldate,
		};
		a->draft = NULL; /* the commit takes it */
		free(error);
		error = NULL;
		ret = store_append(s->user, &item, 1, &error);
		if (ret == STORE_OK)
			ret = item.result;
		a->uidvalidity = item.uidvalidity;
		a->uid = item.uid;
	}
	free(error);
	/* An append to the selected mailbox shows up as EXISTS first. */
	imap_sync(j, false, NULL, 0);
	if (ret == STORE_ERR_NOT_FOUND)
		imap_job_tagged(j, "NO", "[TRYCREATE] Mailbox doesn't exist.");
	else if (ret != STORE_OK)
		imap_job_store_error(j, ret, NULL);
	else
		imap_job_tagged(j, "OK", "[APPENDUID %u %u] Append completed.", a->uidvalidity, a->uid);
}

static void commit_finish(struct imap_job *j)
{
	imap_append_free(&j->s->append);
}

void imap_append_end(struct imap_session *s, struct span rest)
{
	struct span tag = span_cstr(s->append->tag);
	if (rest.len > 0) {
		/* MULTIAPPEND (RFC 3502) is not offered. */
		imap_tagged(s, tag, "BAD", "Unexpected arguments after the message.");
		imap_append_free(&s->append);
		imap_bad_command(s);
		s->cmd_discard = false;
		return;
	}
	struct imap_job *j = imap_job_new(s, tag, commit_work);
	j->finish = commit_finish;
	imap_job_start(j);
}

/* ----------------------------------------------------------------- start */

static int parse_args(struct imap_session *s, const struct imap_command_line *cmd,
		      struct imap_append *a, const char **error_r)
{
	const struct imap_arg *args = cmd->args;
	size_t count = cmd->count;
	const char *name = count >= 1 ? imap_mailbox_arg(&s->arena, &args[0], error_r) : NULL;
	if (name == NULL) {
		if (count == 0)
			*error_r = "Expected: APPEND mailbox [(flags)] [date-time] {size}.";
		return -1;
	}
	a->mailbox = xstrdup(name);
	size_t i = 1;
	if (i < count && args[i].type == IMAP_ARG_LIST) {
		struct store_keywords kw;
		if (imap_flags_parse(&s->arena, &args[i], 1, &a->flags, &kw, error_r) < 0)
			return -1;
		a->keywords = xcalloc(kw.count + 1, sizeof(*a->keywords));
		for (size_t k = 0; k < kw.count; k++)
			a->keywords[k] = xstrdup(kw.names[k]);
		a->keyword_count = kw.count;
		i++;
	}
	if (i < count) {
		if (args[i].type != IMAP_ARG_QUOTED || !imap_datetime_parse(args[i].str, &a->internaldate)) {
			*error_r = "Invalid date-time.";
			return -1;
		}
		i++;
	}
	if (i != count) {
		*error_r = "Expected: APPEND mailbox [(flags)] [date-time] {size}.";
		return -1;
	}
	return 0;
}

bool imap_append_begin(struct imap_session *s, const struct imap_command_line *cmd,
		       const struct reader_item *item)
{
	struct imap_append *a = xcalloc(1, sizeof(*a));
	buf_init(&a->pending, 0);
	const char *error;
	uint64_t max = s->conn.srv->set.delivery.max_message_size;
	if (parse_args(s, cmd, a, &error) < 0) {
		imap_append_free(&a);
		imap_tagged(s, cmd->tag, "BAD", "%s", error);
		imap_bad_command(s);
		imap_refuse_literal(s, item->literal_nonsync);
		return true;
	}
	a->size = item->literal_size;
	a->nonsync = item->literal_nonsync;
	s->append = a;
	if (a->size == 0 || a->size > max) {
		/* Answer now; the literal is refused like any other. */
		if (a->size == 0)
			imap_tagged(s, cmd->tag, "NO", "Can't save a zero byte message.");
		else
			imap_tagged(s, cmd->tag, "NO", "[TOOBIG] Message too large (limit %llu bytes).",
				    (unsigned long long)max);
		if (a->nonsync && a->size > max) {
			/* RFC 7888 4: rather than swallow it, end the session. */
			imap_untagged(s, "BYE Literal too large.");
			reader_literal_skip(&s->conn.reader);
			imap_append_free(&s->append);
			conn_close(&s->conn);
			return true;
		}
		imap_refuse_literal(s, a->nonsync);
		imap_append_free(&s->append);
		return true;
	}
	a->tag = span_strdup(cmd->tag);
	struct imap_job *j = imap_job_new(s, cmd->tag, open_work);
	j->finish = open_finish;
	imap_job_start(j);
	return true;
}

/* Reached only when no literal came: the message must be one. */
void cmd_append(struct imap_session *s, const struct imap_command_line *cmd)
{
	imap_tagged(s, cmd->tag, "BAD", "Expected: APPEND mailbox [(flags)] [date-time] {size}.");
	imap_bad_command(s);
}
