/*
 * Commands that touch the store run as jobs on libuv's thread pool: the
 * store may block on disk, the loop must not. The steps are
 * common/conn_job.c's, shared with imapd.
 *
 * A handler checks its arguments on the loop and starts a job. work() runs
 * on a worker thread and writes the response into job->step.out; it may use the
 * session's maildrop, which nothing else touches while the job runs (the
 * session is busy: no input is processed). Back on the loop, out is queued
 * on the connection. A streaming command (RETR of a large message) sets
 * job->step.more: once the output queue has room again, work() runs again and
 * continues where its state says, so memory stays bounded by one step.
 * finish() runs on the loop after the last step, for what only the loop
 * may change (session state, marks).
 *
 * Ownership: the job owns out and its state (freed with state_free); the
 * session holds at most one job at a time.
 */
#ifndef PETREL_POP3D_POP3_JOB_H
#define PETREL_POP3D_POP3_JOB_H

#include <stdbool.h>

#include "common/buf.h"
#include "common/conn_job.h"

struct pop3_session;
struct pop3_job;

typedef void pop3_job_fn(struct pop3_job *j);

struct pop3_job {
	struct conn_job step;	/* out, more, close_after: common/conn_job.h */
	struct pop3_session *s;
	pop3_job_fn *work;	/* worker thread */
	pop3_job_fn *finish;	/* loop, after the last output; may be NULL */
	void *state;
	void (*state_free)(void *state);
	/* Set by work(), read by finish(): a store result and its detail
	   (malloc'd) for the log. */
	int result;
	char *error;
};

/* Makes the session busy and runs work (then finish) with this state,
   which the job frees with state_free (either may be NULL). */
void pop3_job_run(struct pop3_session *s, pop3_job_fn *work, pop3_job_fn *finish, void *state,
		  void (*state_free)(void *state));
void pop3_job_free(struct pop3_job **j);

/* For work(): "+OK text\r\n" / "-ERR text\r\n" into j->out. */
void pop3_job_ok(struct pop3_job *j, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void pop3_job_err(struct pop3_job *j, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
