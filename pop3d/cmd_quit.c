/*
 * QUIT (RFC 1939 4, 6). Before login it just ends the session. After
 * login it is the UPDATE state: the session's marks go to the store
 * (pop3_maildrop_update: \Seen, then the deletions, so IMAP sessions see
 * EXPUNGE) and the maildrop is released - all before "+OK" goes out, so a
 * client that reconnects at once finds the lock free. The files of the
 * deleted messages are removed just after (store/graveyard.c).
 */
#include <stdlib.h>
#include <time.h>

#include "common/xalloc.h"
#include "pop3d/pop3_job.h"
#include "pop3d/pop3_session.h"
#include "store/store.h"

struct update_state {
	uint32_t messages, retrieved, deleted;
};

static void update_work(struct pop3_job *j)
{
	struct pop3_session *s = j->s;
	struct update_state *st = j->state;
	uint32_t deleted = 0;
	st->messages = s->drop->count;
	for (uint32_t i = 0; i < s->drop->count; i++)
		st->retrieved += (s->drop->msgs[i].marks & POP3_MSG_RETRIEVED) != 0;
	j->result = pop3_maildrop_update(s->drop, &pop3d_of(s)->policy, true, (int64_t)time(NULL),
					 &deleted, &j->error);
	st->deleted = deleted;
	/* The job owns the maildrop while it runs (pop3_session.h). */
	pop3_maildrop_close(&s->drop);
	if (j->result < 0)
		pop3_job_err(j, "[SYS/TEMP] Some deleted messages were not removed.");
	else if (deleted > 0)
		pop3_job_ok(j, "Logging out, messages deleted.");
	else
		pop3_job_ok(j, "Logging out.");
	j->step.close_after = true;
}

static void update_finish(struct pop3_job *j)
{
	struct update_state *st = j->state;
	if (j->result < 0)
		log_error(&j->s->conn.log, "store_error", "op=pop3_update error=\"%s\"",
			  j->error != NULL ? j->error : store_strerror(j->result));
	else
		log_info(&j->s->conn.log, "pop3_update", "messages=%u retrieved=%u deleted=%u",
			 st->messages, st->retrieved, st->deleted);
}

void pop3_cmd_quit(struct pop3_session *s, struct span args)
{
	if (s->state == POP3_STATE_AUTHORIZATION) {
		pop3_ok(s, "Logging out.");
		conn_close(&s->conn);
		return;
	}
	s->state = POP3_STATE_UPDATE;
	pop3_job_run(s, update_work, update_finish, xcalloc(1, sizeof(struct update_state)), free);
}
