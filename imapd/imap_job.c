#include "imapd/imap_job.h"

#include <stdarg.h>
#include <stdlib.h>

#include "common/xalloc.h"
#include "imapd/imap_session.h"
#include "store/store.h"

struct imap_job *imap_job_new(struct imap_session *s, struct span tag, imap_job_fn *work)
{
	struct imap_job *j = xcalloc(1, sizeof(*j));
	j->s = s;
	j->tag = tag.len > 0 ? span_strdup(tag) : NULL;
	j->work = work;
	buf_init(&j->out, 0);
	return j;
}

void imap_job_free(struct imap_job **jp)
{
	struct imap_job *j = *jp;
	if (j == NULL)
		return;
	*jp = NULL;
	if (j->state_free != NULL)
		j->state_free(j->state);
	buf_free(&j->out);
	free(j->tag);
	free(j);
}

static void job_work_cb(void *arg)
{
	struct imap_job *j = arg;
	j->more = false;
	j->work(j);
}

static void job_done_cb(struct conn *c, void *arg);

static void job_resume(struct conn *c)
{
	struct imap_session *s = imap_session(c);
	conn_queue_work(c, job_work_cb, job_done_cb, s->job);
}

static void job_done_cb(struct conn *c, void *arg)
{
	struct imap_job *j = arg;
	struct imap_session *s = j->s;
	if (conn_is_closing(c)) {
		/* Nobody to answer; the session's destroy closes what the
		   job left open. */
		s->job = NULL;
		imap_job_free(&j);
		return;
	}
	if (j->out.len > 0)
		conn_write(c, j->out.data, j->out.len);
	/* A step's output can be large (a message body): do not keep the
	   memory between steps or after the command. */
	buf_free(&j->out);
	if (j->more) {
		if (conn_output_full(c))
			conn_when_drained(c, job_resume);
		else
			conn_queue_work(c, job_work_cb, job_done_cb, j);
		return;
	}
	s->job = NULL;
	if (j->finish != NULL)
		j->finish(j);
	bool close_after = j->close_after;
	imap_job_free(&j);
	if (close_after) {
		conn_close(c);
		return;
	}
	conn_set_busy(c, false);
	imap_session_job_ended(s);
}

void imap_job_start(struct imap_job *j)
{
	struct imap_session *s = j->s;
	if (s->job != NULL)
		abort(); /* one command at a time: the session was busy */
	s->job = j;
	conn_set_busy(&s->conn, true);
	conn_queue_work(&s->conn, job_work_cb, job_done_cb, j);
}

void imap_job_run(struct imap_session *s, struct span tag, imap_job_fn *work, void *state,
		  void (*state_free)(void *state))
{
	struct imap_job *j = imap_job_new(s, tag, work);
	j->state = state;
	j->state_free = state_free;
	imap_job_start(j);
}

void imap_job_tagged(struct imap_job *j, const char *status, const char *fmt, ...)
{
	buf_printf(&j->out, "%s %s ", j->tag != NULL ? j->tag : "*", status);
	va_list ap;
	va_start(ap, fmt);
	buf_vprintf(&j->out, fmt, ap);
	va_end(ap);
	buf_append(&j->out, "\r\n", 2);
}

void imap_job_untagged(struct imap_job *j, const char *fmt, ...)
{
	buf_append(&j->out, "* ", 2);
	va_list ap;
	va_start(ap, fmt);
	buf_vprintf(&j->out, fmt, ap);
	va_end(ap);
	buf_append(&j->out, "\r\n", 2);
}

/* -------------------------------------------------- store helpers */

int imap_job_user(struct imap_job *j)
{
	struct imap_session *s = j->s;
	if (s->user != NULL)
		return STORE_OK;
	char *error = NULL;
	int ret = store_user_open(imapd_of(s)->store, s->user_name, &s->user, &error);
	if (ret != STORE_OK)
		log_error(&s->conn.log, "store_error", "op=user_open error=\"%s\"",
			  error != NULL ? error : store_strerror(ret));
	free(error);
	return ret;
}

void imap_job_store_error(struct imap_job *j, int error, const char *what)
{
	switch (error) {
	case STORE_ERR_NOT_FOUND:
		imap_job_tagged(j, "NO", "[NONEXISTENT] %s", what != NULL ? what : "No such mailbox.");
		break;
	case STORE_ERR_EXISTS:
		imap_job_tagged(j, "NO", "[ALREADYEXISTS] Mailbox already exists.");
		break;
	case STORE_ERR_INVALID:
		imap_job_tagged(j, "NO", "[CANNOT] Invalid mailbox name.");
		break;
	case STORE_ERR_QUOTA:
		imap_job_tagged(j, "NO", "[OVERQUOTA] Quota exceeded.");
		break;
	case STORE_ERR_LIMIT:
		imap_job_tagged(j, "NO", "[LIMIT] Too many keywords or names.");
		break;
	case STORE_ERR_NOT_ALLOWED:
		imap_job_tagged(j, "NO", "[CANNOT] %s", what != NULL ? what : "Not allowed.");
		break;
	case STORE_ERR_GONE:
		imap_job_tagged(j, "NO", "Mailbox was deleted meanwhile.");
		break;
	default:
		imap_job_tagged(j, "NO", "[SERVERBUG] Internal error occurred. Refer to server log for more information.");
		break;
	}
}
