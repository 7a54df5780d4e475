#include "imapd/imap_job.h"

#include <stdarg.h>
#include <stdlib.h>

#include "common/xalloc.h"
#include "imapd/imap_session.h"
#include "store/store.h"

static void job_work(struct conn_job *step)
{
	struct imap_job *j = (struct imap_job *)step;
	j->work(j);
}

static void job_end(struct conn_job *step, bool answered)
{
	struct imap_job *j = (struct imap_job *)step;
	/* Not answered: the connection is closing, and the session's destroy
	   closes what the job left open. */
	j->s->job = NULL;
	if (answered && j->finish != NULL)
		j->finish(j);
	imap_job_free(&j);
}

static void job_after(struct conn *c)
{
	imap_session_job_ended(imap_session(c));
}

struct imap_job *imap_job_new(struct imap_session *s, struct span tag, imap_job_fn *work)
{
	struct imap_job *j = xcalloc(1, sizeof(*j));
	j->step.work = job_work;
	j->step.end = job_end;
	j->step.after = job_after;
	buf_init(&j->step.out, 0);
	j->s = s;
	j->tag = tag.len > 0 ? span_strdup(tag) : NULL;
	j->work = work;
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
	buf_free(&j->step.out);
	free(j->tag);
	free(j);
}

void imap_job_start(struct imap_job *j)
{
	struct imap_session *s = j->s;
	if (s->job != NULL)
		abort(); /* one command at a time: the session was busy */
	s->job = j;
	conn_job_start(&s->conn, &j->step);
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
	buf_printf(&j->step.out, "%s %s ", j->tag != NULL ? j->tag : "*", status);
	va_list ap;
	va_start(ap, fmt);
	buf_vprintf(&j->step.out, fmt, ap);
	va_end(ap);
	buf_append(&j->step.out, "\r\n", 2);
}

void imap_job_untagged(struct imap_job *j, const char *fmt, ...)
{
	buf_append(&j->step.out, "* ", 2);
	va_list ap;
	va_start(ap, fmt);
	buf_vprintf(&j->step.out, fmt, ap);
	va_end(ap);
	buf_append(&j->step.out, "\r\n", 2);
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
