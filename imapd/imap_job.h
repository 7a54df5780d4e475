/*
 * Commands that touch the store run as jobs on libuv's thread pool: the
 * store may block on disk, the loop must not. The steps are
 * common/conn_job.c's, shared with pop3d.
 *
 * A handler parses its arguments on the loop, fills a job and starts it.
 * work() runs on a worker thread and writes the whole response (untagged
 * lines and the tagged reply) into job->step.out; it may use the session's
 * store user and view, which no one else touches while the job runs (the
 * session is busy: no input is processed). Back on the loop, out is
 * queued on the connection. A streaming command (FETCH of many or large
 * messages) sets job->step.more: once the output queue has room again, work()
 * runs again and continues where its state says. Memory stays bounded by
 * what one step produces.
 *
 * Ownership: the job owns its tag copy, out and state (freed with
 * state_free); the session holds at most one job at a time.
 */
#ifndef PETREL_IMAPD_IMAP_JOB_H
#define PETREL_IMAPD_IMAP_JOB_H

#include <stdbool.h>

#include "common/buf.h"
#include "common/conn_job.h"

struct imap_session;
struct imap_job;

typedef void imap_job_fn(struct imap_job *j);

struct imap_job {
	struct conn_job step;	/* out, more, close_after: common/conn_job.h */
	struct imap_session *s;
	char *tag;		/* NULL for an untagged job (IDLE updates) */
	imap_job_fn *work;	/* worker thread */
	imap_job_fn *finish;	/* loop, after the last output; may be NULL */
	void *state;
	void (*state_free)(void *state);
	/* Set by work(): the loop's part of the result. */
	int result;
};

struct imap_job *imap_job_new(struct imap_session *s, struct span tag, imap_job_fn *work);
void imap_job_free(struct imap_job **j);
/* Makes the session busy and runs the job. */
void imap_job_start(struct imap_job *j);
/* imap_job_new + state (freed with state_free, may be NULL) + start. */
void imap_job_run(struct imap_session *s, struct span tag, imap_job_fn *work, void *state,
		  void (*state_free)(void *state));

/* For work(): "tag STATUS text\r\n" and "* text\r\n" into j->out. */
void imap_job_tagged(struct imap_job *j, const char *status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void imap_job_untagged(struct imap_job *j, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* From work(): opens the session's store user if not yet open. */
int imap_job_user(struct imap_job *j);
/* From work(): the tagged NO for a store error, with a response code
   (what: the text for NOT_FOUND / NOT_ALLOWED, NULL for the default). */
void imap_job_store_error(struct imap_job *j, int error, const char *what);

#endif
