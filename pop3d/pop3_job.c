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
	buf_free(&j->out);
	free(j->error);
	free(j);
}

static void job_work_cb(void *arg)
{
	struct pop3_job *j = arg;
	j->more = false;
	j->work(j);
}

static void job_done_cb(struct conn *c, void *arg);

static void job_resume(struct conn *c)
{
	conn_queue_work(c, job_work_cb, job_done_cb, pop3_session(c)->job);
}

static void job_done_cb(struct conn *c, void *arg)
{
	struct pop3_job *j = arg;
	struct pop3_session *s = j->s;
	if (conn_is_closing(c)) {
		/* Nobody to answer; the session's destroy closes the maildrop. */
		s->job = NULL;
		pop3_job_free(&j);
		return;
	}
	if (j->out.len > 0)
		conn_write(c, j->out.data, j->out.len);
	/* A step's output can be large (a message): do not keep the memory
	   between steps or after the command. */
	buf_free(&j->out);
	if (j->more && !j->close_after) {
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
	pop3_job_free(&j);
	if (close_after) {
		conn_close(c);
		return;
	}
	conn_set_busy(c, false);
}

void pop3_job_run(struct pop3_session *s, pop3_job_fn *work, pop3_job_fn *finish, void *state,
		  void (*state_free)(void *state))
{
	if (s->job != NULL)
		abort(); /* one command at a time: the session was busy */
	struct pop3_job *j = xcalloc(1, sizeof(*j));
	j->s = s;
	j->work = work;
	j->finish = finish;
	j->state = state;
	j->state_free = state_free;
	buf_init(&j->out, 0);
	s->job = j;
	conn_set_busy(&s->conn, true);
	conn_queue_work(&s->conn, job_work_cb, job_done_cb, j);
}

static void job_line(struct pop3_job *j, const char *status, const char *fmt, va_list ap)
{
	buf_append_str(&j->out, status);
	buf_vprintf(&j->out, fmt, ap);
	buf_append(&j->out, "\r\n", 2);
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
