#include "pop3d/pop3_job.h"

#include <stdarg.h>
#include <stdlib.h>

#include "common/xalloc.h"
#include "pop3d/pop3_session.h"

void pop3_job_free(struct pop3_job **jp)
{
	struct pop3_job *j = *jp;
	if (j == NULL)
		return;
	*jp = NULL;
	if (j->state_free != NULL)
		j->state_free(j->state);
	buf_free(&j->step.out);
	free(j->error);
	free(j);
}

static void job_work(struct conn_job *step)
{
	struct pop3_job *j = (struct pop3_job *)step;
	j->work(j);
}

static void job_end(struct conn_job *step, bool answered)
{
	struct pop3_job *j = (struct pop3_job *)step;
	/* Not answered: the connection is closing; the session's destroy
	   closes the maildrop. */
	j->s->job = NULL;
	if (answered && j->finish != NULL)
		j->finish(j);
	pop3_job_free(&j);
}

void pop3_job_run(struct pop3_session *s, pop3_job_fn *work, pop3_job_fn *finish, void *state,
		  void (*state_free)(void *state))
{
	if (s->job != NULL)
		abort(); /* one command at a time: the session was busy */
	struct pop3_job *j = xcalloc(1, sizeof(*j));
	j->step.work = job_work;
	j->step.end = job_end;
	buf_init(&j->step.out, 0);
	j->s = s;
	j->work = work;
	j->finish = finish;
	j->state = state;
	j->state_free = state_free;
	s->job = j;
	conn_job_start(&s->conn, &j->step);
}

static void job_line(struct pop3_job *j, const char *status, const char *fmt, va_list ap)
{
	buf_append_str(&j->step.out, status);
	buf_vprintf(&j->step.out, fmt, ap);
	buf_append(&j->step.out, "\r\n", 2);
}

void pop3_job_ok(struct pop3_job *j, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	job_line(j, "+OK ", fmt, ap);
	va_end(ap);
}

void pop3_job_err(struct pop3_job *j, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	job_line(j, "-ERR ", fmt, ap);
	va_end(ap);
}
