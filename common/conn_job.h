/*
 * A command's slow work (store I/O) run on libuv's thread pool in steps,
 * with the connection busy meanwhile: work() fills `out` on a worker
 * thread; the loop queues it for the client and, when work() asked for
 * more, runs the next step once the client has read enough (so a large
 * answer streams at constant memory); then end() finishes the command.
 *
 * Protocols embed a struct conn_job in their own job (imapd's imap_job,
 * pop3d's pop3_job) and free that in end().
 */
#ifndef PETREL_COMMON_CONN_JOB_H
#define PETREL_COMMON_CONN_JOB_H

#include <stdbool.h>

#include "common/buf.h"
#include "common/conn.h"

struct conn_job {
	/* worker thread: one step's output appended to out; sets more to be
	   called again */
	void (*work)(struct conn_job *j);
	/* loop, once, after the last step's output was queued (answered), or
	   when the connection closed meanwhile (!answered: nobody to answer);
	   must free the job. The connection is still busy. */
	void (*end)(struct conn_job *j, bool answered);
	/* loop, optional: after end(), once the connection takes input again */
	void (*after)(struct conn *c);
	struct buf out;
	bool more;	  /* set by work(): another step follows */
	bool close_after; /* end the connection once the output is out */
};

/* Makes c busy and runs j's first step. */
void conn_job_start(struct conn *c, struct conn_job *j);

#endif
