/*
 * RETR answers read ahead. A client that drains the maildrop asks for
 * message n+1 as soon as it has n. Each RETR used to be a trip to the
 * thread pool and back (two thread wake-ups, more than reading a 16 KB
 * message costs), and the loop idled meanwhile. So once a client retrieves
 * in order, the RETR job (cmd_retr.c) also reads the next messages while
 * the client takes in its answer, and their RETRs are answered here, on
 * the loop, from memory.
 *
 * What is kept is exactly what RETR would send ("+OK n octets", the
 * dot-stuffed message, "."), read a moment before the client asks: the
 * same as if it had asked sooner. A message the client deletes, or skips,
 * is passed over; a message that could not be read ahead is left to the
 * RETR job, which reports why.
 *
 * Bounded: a read-ahead plans whole messages of at most POP3_AHEAD_BYTES
 * together (one RETR step's worth; dot-stuffing adds at most as much
 * again), and the sessions of a process hold at most POP3_AHEAD_SESSIONS
 * of them at a time, so sessions that stop midway cannot pile memory up.
 * A larger message is never read ahead: RETR streams it as before.
 *
 * Threads: planned and handed out on the loop; filled by the job on a
 * worker thread while it owns the session (pop3_job.h).
 */
#ifndef PETREL_POP3D_POP3_AHEAD_H
#define PETREL_POP3D_POP3_AHEAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

#define POP3_AHEAD_BYTES (256 * 1024)
#define POP3_AHEAD_MAX 64	 /* messages */
#define POP3_AHEAD_SESSIONS 64 /* read-aheads held at once, per process */

struct pop3_session;

struct pop3_ahead_msg {
	uint32_t number; /* 1-based */
	uint32_t uid;
	uint64_t size;	   /* as LIST says it */
	size_t start, len; /* its answer in data, once read */
};

struct pop3_ahead {
	struct pop3_ahead_msg msgs[POP3_AHEAD_MAX];
	size_t count; /* planned: consecutive numbers */
	size_t read;  /* msgs[0..read) have their answer in data */
	size_t next;  /* the next one to hand out */
	struct buf data;
	unsigned int *held; /* the process's count of read-aheads */
};

/*
 * Loop: plans reading the messages from number `first` on (consecutive,
 * up to the first one marked deleted, POP3_AHEAD_BYTES in all). NULL if
 * there is nothing to read or the process holds its maximum already.
 */
struct pop3_ahead *pop3_ahead_plan(struct pop3_session *s, uint32_t first);

/* Loop: the answer to "RETR number" if it was read ahead (borrowed until
   the next call or pop3_ahead_free); answers before it are dropped. */
bool pop3_ahead_take(struct pop3_ahead *a, uint32_t number, const uint8_t **answer_r,
		     size_t *len_r);

/* Loop: every answer read has been handed out. */
static inline bool pop3_ahead_used_up(const struct pop3_ahead *a)
{
	return a->next >= a->read;
}

/* Loop. NULL is fine. */
void pop3_ahead_free(struct pop3_ahead **a);

#endif
