#include "common/conn_job.h"

#include <stdlib.h>

static void step_work_cb(void *arg)
{
	struct conn_job *j = arg;
	j->more = false;
	j->work(j);
}

static void step_done_cb(struct conn *c, void *arg);

static void resume(struct conn *c, void *arg)
{
	conn_queue_work(c, step_work_cb, step_done_cb, arg);
}

static void step_done_cb(struct conn *c, void *arg)
{
	struct conn_job *j = arg;
	if (conn_is_closing(c)) {
		j->end(j, false);
		return;
	}
	if (j->out.len > 0)
		conn_write(c, j->out.data, j->out.len);
	/* A step's output can be large (a message body): do not keep the
	   memory between steps or after the command. */
	buf_free(&j->out);
	if (j->more) {
		if (conn_output_full(c))
			conn_when_drained(c, resume, j);
		else
			resume(c, j);
		return;
	}
	bool close_after = j->close_after;
	void (*after)(struct conn *c) = j->after;
	j->end(j, true);
	if (close_after) {
		conn_close(c);
		return;
	}
	conn_set_busy(c, false);
	if (after != NULL)
		after(c);
}

void conn_job_start(struct conn *c, struct conn_job *j)
{
	conn_set_busy(c, true);
	conn_queue_work(c, step_work_cb, step_done_cb, j);
}
