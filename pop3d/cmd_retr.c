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
 * A client that pipelines (RFC 2449 6.6) sends RETR after RETR. The job
 * takes along the RETR and TOP commands already waiting in the input, up
 * to BATCH at a time, and answers them in order in as few steps as their
 * size allows: one trip to the thread pool and one write for a run of
 * small messages, instead of one each. The first other command ends the
 * run; it is answered after the job, in its turn.
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
#define BATCH 64 /* pipelined RETR/TOP commands per job */

struct retr_item {
	uint32_t number;	/* 1-based, for replies */
	uint32_t uid;
	uint64_t size;
	bool top;
	uint64_t lines;		/* TOP */
	int result;		/* STORE_OK once sent; else why not */
	char *error;		/* detail for the log */
};

struct retr_state {
	struct retr_item items[BATCH];
	size_t count;
	size_t current;		/* the item being sent */
	struct pop3_dotstuff enc;
	int fd;			/* the current item's file, once open */
	uint64_t offset;
	uint8_t *chunk;
};

static void retr_state_free(void *p)
{
	struct retr_state *st = p;
	if (st->fd >= 0)
		close(st->fd);
	for (size_t i = 0; i < st->count; i++)
		free(st->items[i].error);
	free(st->chunk);
	free(st);
}

/* Opens the item's file (through the step's reader, begun on first use)
   and writes its first line. Returns false if the reply is an -ERR
   instead. */
static bool item_start(struct pop3_job *j, struct retr_state *st, struct store_reader **r,
		       struct retr_item *it)
{
	int fd = *r == NULL ? store_reader_begin(j->s->drop->view, r, &it->error) : STORE_OK;
	if (fd == STORE_OK)
		fd = store_reader_open(*r, it->uid, &it->error);
	if (fd < 0) {
		it->result = fd;
		struct store_msg m;
		bool indexed = fd == STORE_ERR_NOT_FOUND && *r != NULL &&
			       store_reader_get(*r, it->uid, STORE_FETCH_FLAGS, &m) == STORE_OK;
		if (indexed) {
			/* The index has it but its file is gone: the store was
			   damaged behind our back; retrying will not help until
			   an admin runs `petrelctl store check`. */
			it->result = STORE_ERR_IO;
			pop3_job_err(j, "[SYS/PERM] Message %u cannot be read.", it->number);
		} else if (fd == STORE_ERR_NOT_FOUND) {
			/* Expunged by an IMAP session since the snapshot. */
			pop3_job_err(j, "Message %u no longer exists.", it->number);
		} else {
			pop3_job_err(j, "[SYS/TEMP] Cannot read message %u now.", it->number);
		}
		return false;
	}
	st->fd = fd;
	st->offset = 0;
	pop3_dotstuff_init(&st->enc, it->top ? it->lines : POP3_DOTSTUFF_ALL);
	if (it->top)
		pop3_job_ok(j, "Top of message %u follows.", it->number);
	else
		pop3_job_ok(j, "%" PRIu64 " octets", it->size);
	return true;
}

/* Streams the open item until it is complete (true) or the step is full
   (false). A read error ends the session (see the top). */
static bool item_stream(struct pop3_job *j, struct retr_state *st, struct retr_item *it)
{
	while (j->step.out.len < STEP_OUTPUT) {
		ssize_t n = pread(st->fd, st->chunk, READ_CHUNK, (off_t)st->offset);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			it->result = STORE_ERR_IO;
			it->error = xasprintf("read: %s", strerror(errno));
			j->step.close_after = true; /* no terminator */
			return false;
		}
		st->offset += (uint64_t)n;
		pop3_dotstuff_feed(&st->enc, st->chunk, (size_t)n, &j->step.out);
		if (n == 0 || pop3_dotstuff_done(&st->enc)) {
			pop3_dotstuff_end(&st->enc, &j->step.out);
			close(st->fd);
			st->fd = -1;
			it->result = STORE_OK;
			return true;
		}
	}
	return false;
}

static void retr_work(struct pop3_job *j)
{
	struct retr_state *st = j->state;
	if (st->chunk == NULL)
		st->chunk = xmalloc(READ_CHUNK);
	/* One reader for the files this step opens: a step is short (its
	   output is bounded), and no reader outlives it (store.h). */
	struct store_reader *r = NULL;
	while (st->current < st->count && j->step.out.len < STEP_OUTPUT) {
		struct retr_item *it = &st->items[st->current];
		if (st->fd < 0 && !item_start(j, st, &r, it)) {
			st->current++;
			continue;
		}
		if (!item_stream(j, st, it)) {
			if (!j->step.close_after)
				j->step.more = true;
			store_reader_end(&r);
			return;
		}
		st->current++;
	}
	store_reader_end(&r);
	j->step.more = st->current < st->count;
}

static void retr_finish(struct pop3_job *j)
{
	struct pop3_session *s = j->s;
	struct retr_state *st = j->state;
	for (size_t i = 0; i < st->count; i++) {
		struct retr_item *it = &st->items[i];
		if (it->result == STORE_OK) {
			if (!it->top)
				s->drop->msgs[it->number - 1].marks |= POP3_MSG_RETRIEVED;
		} else if (it->result == STORE_ERR_NOT_FOUND) {
			log_info(&s->conn.log, "message_gone", "uid=%u", it->uid);
		} else if (i <= st->current) { /* later ones were never tried */
			log_error(&s->conn.log, "store_error", "op=%s uid=%u error=\"%s\"",
				  it->top ? "top" : "retr", it->uid,
				  it->error != NULL ? it->error : store_strerror(it->result));
		}
	}
}

static void add_item(struct retr_state *st, struct pop3_msg *m, uint64_t number, bool top,
		     uint64_t lines)
{
	st->items[st->count++] = (struct retr_item){
		.number = (uint32_t)number, .uid = m->uid, .size = m->size, .top = top,
		.lines = lines, .result = STORE_ERR_IO,
	};
}

/* Takes along the RETR and TOP lines already buffered behind this one
   whose message is there to send; stops at the first other line. */
static void take_pipelined(struct pop3_session *s, struct retr_state *st)
{
	struct span line;
	while (st->count < BATCH && pop3_take_line(s, &line)) {
		struct span args = line;
		struct span verb = span_next_word(&args);
		bool top = span_eq_ci(verb, "TOP");
		struct pop3_msg *m = NULL;
		uint64_t number, lines = 0;
		if ((!top && !span_eq_ci(verb, "RETR")) ||
		    pop3_msg_find(s->drop, args, top ? 2 : 1, &m, &number, &lines) != POP3_MSG_FOUND) {
			pop3_unread_line(s, line);
			return;
		}
		add_item(st, m, number, top, lines);
	}
}

static void start(struct pop3_session *s, struct pop3_msg *m, bool top, uint64_t lines)
{
	struct retr_state *st = xcalloc(1, sizeof(*st));
	st->fd = -1;
	add_item(st, m, (uint64_t)(m - s->drop->msgs) + 1, top, lines);
	take_pipelined(s, st);
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
