/*
 * RETR and TOP (RFC 1939 5, 7): a message as a multi-line response,
 * streamed from its file.
 *
 * The job reads the file a chunk at a time on the thread pool and encodes
 * it (pop3_dotstuff.h) into about STEP_OUTPUT bytes per step; the next step
 * runs once the connection's output queue has drained below half its
 * high-water mark. A 50 MB message to a slow reader costs one step of
 * memory, not 50 MB.
 *
 * The message goes out with its stored bytes. If the file cannot be read
 * midway, the response stops without its terminating "." and the session
 * ends: the client sees an incomplete message as an error, never as a
 * shorter message.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/xalloc.h"
#include "pop3d/pop3_dotstuff.h"
#include "pop3d/pop3_job.h"
#include "pop3d/pop3_session.h"
#include "store/store.h"

#define READ_CHUNK (64 * 1024)
#define STEP_OUTPUT (256 * 1024)

struct retr_state {
	uint32_t number;	/* 1-based, for replies */
	uint32_t uid;
	uint64_t size;
	bool top;
	struct pop3_dotstuff enc;
	int fd;
	uint64_t offset;
	uint8_t *chunk;
};

static void retr_state_free(void *p)
{
	struct retr_state *st = p;
	if (st->fd >= 0)
		close(st->fd);
	free(st->chunk);
	free(st);
}

/* Whether the index still has the message (its file may not). */
static bool index_has(struct pop3_maildrop *md, uint32_t uid)
{
	struct store_reader *r;
	if (store_reader_begin(md->view, &r, NULL) != STORE_OK)
		return false;
	struct store_msg m;
	bool found = store_reader_get(r, uid, STORE_FETCH_FLAGS, &m) == STORE_OK;
	store_reader_end(&r);
	return found;
}

/* Opens the file and writes the first line. Returns false if the reply
   is an -ERR instead. */
static bool retr_start(struct pop3_job *j, struct retr_state *st)
{
	st->fd = store_view_open_message(j->s->drop->view, st->uid, &j->error);
	if (st->fd < 0) {
		j->result = st->fd;
		st->fd = -1;
		if (j->result == STORE_ERR_NOT_FOUND && index_has(j->s->drop, st->uid)) {
			/* The index has it but its file is gone: the store was
			   damaged behind our back; retrying will not help until
			   an admin runs `petrelctl store check`. */
			j->result = STORE_ERR_IO;
			pop3_job_err(j, "[SYS/PERM] Message %u cannot be read.", st->number);
		} else if (j->result == STORE_ERR_NOT_FOUND) {
			/* Expunged by an IMAP session since the snapshot. */
			pop3_job_err(j, "Message %u no longer exists.", st->number);
		} else {
			pop3_job_err(j, "[SYS/TEMP] Cannot read message %u now.", st->number);
		}
		return false;
	}
	st->chunk = xmalloc(READ_CHUNK);
	if (st->top)
		pop3_job_ok(j, "Top of message %u follows.", st->number);
	else
		pop3_job_ok(j, "%" PRIu64 " octets", st->size);
	return true;
}

static void retr_work(struct pop3_job *j)
{
	struct retr_state *st = j->state;
	if (st->fd < 0 && !retr_start(j, st))
		return;
	bool finished = false;
	while (!finished && j->out.len < STEP_OUTPUT) {
		ssize_t n = pread(st->fd, st->chunk, READ_CHUNK, (off_t)st->offset);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			j->result = STORE_ERR_IO;
			j->error = xasprintf("read: %s", strerror(errno));
			j->close_after = true; /* no terminator: see above */
			return;
		}
		st->offset += (uint64_t)n;
		pop3_dotstuff_feed(&st->enc, st->chunk, (size_t)n, &j->out);
		finished = n == 0 || pop3_dotstuff_done(&st->enc);
	}
	if (!finished) {
		j->more = true;
		return;
	}
	pop3_dotstuff_end(&st->enc, &j->out);
	j->result = STORE_OK;
}

static void retr_finish(struct pop3_job *j)
{
	struct pop3_session *s = j->s;
	struct retr_state *st = j->state;
	if (j->result == STORE_OK) {
		if (!st->top)
			s->drop->msgs[st->number - 1].marks |= POP3_MSG_RETRIEVED;
		return;
	}
	if (j->result == STORE_ERR_NOT_FOUND)
		log_info(&s->conn.log, "message_gone", "uid=%u", st->uid);
	else
		log_error(&s->conn.log, "store_error", "op=%s uid=%u error=\"%s\"",
			  st->top ? "top" : "retr", st->uid,
			  j->error != NULL ? j->error : store_strerror(j->result));
}

static void start(struct pop3_session *s, struct pop3_msg *m, bool top, uint64_t lines)
{
	struct retr_state *st = xcalloc(1, sizeof(*st));
	st->number = (uint32_t)(m - s->drop->msgs) + 1;
	st->uid = m->uid;
	st->size = m->size;
	st->top = top;
	st->fd = -1;
	pop3_dotstuff_init(&st->enc, top ? lines : POP3_DOTSTUFF_ALL);
	pop3_job_run(s, retr_work, retr_finish, st, retr_state_free);
}

void pop3_cmd_retr(struct pop3_session *s, struct span args)
{
	struct pop3_msg *m = pop3_msg_arg(s, "RETR", args, 1, NULL);
	if (m != NULL)
		start(s, m, false, 0);
}

void pop3_cmd_top(struct pop3_session *s, struct span args)
{
	uint64_t lines;
	struct pop3_msg *m = pop3_msg_arg(s, "TOP", args, 2, &lines);
	if (m != NULL)
		start(s, m, true, lines);
}
