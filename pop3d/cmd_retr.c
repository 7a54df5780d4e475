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
 * A client that retrieves in order (this RETR follows its last one, or it
 * pipelined several) gets the messages after them read ahead
 * (pop3_ahead.h): in a last step of the job, after its answers went out,
 * so while the client takes them in. Their RETRs are then answered from
 * memory, without a job; the one that uses the read-ahead up starts a job
 * that only reads the next ones.
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
#include "pop3d/pop3_ahead.h"
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
	uint64_t offset, size;	/* read so far, and its size in the index */
	uint8_t *chunk;
	struct pop3_ahead *ahead; /* to read after the items, or NULL */
	bool ahead_read;
};

static void retr_state_free(void *p)
{
	struct retr_state *st = p;
	if (st->fd >= 0)
		close(st->fd);
	for (size_t i = 0; i < st->count; i++)
		free(st->items[i].error);
	free(st->chunk);
	pop3_ahead_free(&st->ahead);
	free(st);
}

/* Opens a message file through the step's reader, begun on first use. */
static int open_message(struct pop3_job *j, struct store_reader **r, uint32_t uid,
			char **error_r)
{
	int ret = *r == NULL ? store_reader_begin(j->s->drop->view, r, error_r) : STORE_OK;
	return ret == STORE_OK ? store_reader_open(*r, uid, error_r) : ret;
}

/* Reads the open file on from st->offset and encodes it into out, until
   the message is complete (1: the file is closed), out reaches limit (0),
   or a read fails (-1, errno). */
static int stream_file(struct retr_state *st, struct buf *out, size_t limit)
{
	while (out->len < limit) {
		/* Straight into the response: a stored message rarely needs a
		   byte added, so most pieces are not copied again. */
		if (buf_reserve(out, READ_CHUNK) < 0)
			abort(); /* out has no maximum */
		uint8_t *at = out->data + out->len;
		ssize_t n = pread(st->fd, at, READ_CHUNK, (off_t)st->offset);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		st->offset += (uint64_t)n;
		if (pop3_dotstuff_verbatim(&st->enc, at, (size_t)n)) {
			out->len += (size_t)n;
			out->data[out->len] = '\0'; /* struct buf's terminator */
		} else {
			memcpy(st->chunk, at, (size_t)n);
			pop3_dotstuff_feed(&st->enc, st->chunk, (size_t)n, out);
		}
		/* A short read of the size the index gives is the end: no
		   second read to see 0. (Short of that size, read on: an I/O
		   error must not pass for the end of the message.) */
		bool end = n == 0 || (n < READ_CHUNK && st->offset == st->size);
		if (end || pop3_dotstuff_done(&st->enc)) {
			pop3_dotstuff_end(&st->enc, out);
			close(st->fd);
			st->fd = -1;
			return 1;
		}
	}
	return 0;
}

/* Opens the item's file (through the step's reader, begun on first use)
   and writes its first line. Returns false if the reply is an -ERR
   instead. */
static bool item_start(struct pop3_job *j, struct retr_state *st, struct store_reader **r,
		       struct retr_item *it)
{
	int fd = open_message(j, r, it->uid, &it->error);
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
	st->size = it->size;
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
	int ret = stream_file(st, &j->step.out, STEP_OUTPUT);
	if (ret < 0) {
		it->result = STORE_ERR_IO;
		it->error = xasprintf("read: %s", strerror(errno));
		j->step.close_after = true; /* no terminator */
	} else if (ret > 0) {
		it->result = STORE_OK;
	}
	return ret > 0;
}

static void answer_items(struct pop3_job *j, struct retr_state *st, struct store_reader **r)
{
	while (st->current < st->count && j->step.out.len < STEP_OUTPUT) {
		struct retr_item *it = &st->items[st->current];
		if (st->fd < 0 && !item_start(j, st, r, it)) {
			st->current++;
			continue;
		}
		if (!item_stream(j, st, it))
			return;
		st->current++;
	}
}

/* Reads the planned messages with the answers RETR would give, up to the
   first that cannot be read: that one and those after it are left to
   RETR, which says why. */
static void read_ahead(struct pop3_job *j, struct retr_state *st, struct store_reader **r)
{
	struct pop3_ahead *a = st->ahead;
	/* Room for all of it at once (stuffing aside): no copies on growth. */
	size_t room = READ_CHUNK;
	for (size_t i = 0; i < a->count; i++)
		room += (size_t)a->msgs[i].size + 32;
	if (buf_reserve(&a->data, room) < 0)
		abort(); /* no maximum */
	for (size_t i = 0; i < a->count; i++) {
		struct pop3_ahead_msg *m = &a->msgs[i];
		char *error = NULL;
		int fd = open_message(j, r, m->uid, &error);
		free(error);
		if (fd < 0)
			return;
		st->fd = fd;
		st->offset = 0;
		st->size = m->size;
		pop3_dotstuff_init(&st->enc, POP3_DOTSTUFF_ALL);
		m->start = a->data.len;
		buf_printf(&a->data, "+OK %" PRIu64 " octets\r\n", m->size);
		if (stream_file(st, &a->data, SIZE_MAX) < 0) {
			close(st->fd);
			st->fd = -1;
			return;
		}
		m->len = a->data.len - m->start;
		a->read = i + 1;
	}
}

static void retr_work(struct pop3_job *j)
{
	struct retr_state *st = j->state;
	if (st->chunk == NULL)
		st->chunk = xmalloc(READ_CHUNK);
	/* One reader for the files this step opens: a step is short (its
	   output is bounded), and no reader outlives it (store.h). */
	struct store_reader *r = NULL;
	if (st->current < st->count) {
		answer_items(j, st, &r);
	} else if (st->ahead != NULL) {
		read_ahead(j, st, &r);
		st->ahead_read = true;
	}
	store_reader_end(&r);
	/* The answers go out before the read-ahead step: it runs while the
	   client takes them in. */
	j->step.more = !j->step.close_after &&
		       (st->current < st->count || (st->ahead != NULL && !st->ahead_read));
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
	if (st->ahead != NULL && st->ahead->read > 0) {
		pop3_ahead_free(&s->ahead);
		s->ahead = st->ahead;
		st->ahead = NULL;
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

/* Plans the read-ahead after the items when the client retrieves in
   order. */
static void plan_ahead(struct pop3_session *s, struct retr_state *st)
{
	const struct retr_item *last = &st->items[st->count - 1];
	if (last->top)
		return;
	bool in_order = st->count > 1 || last->number == s->retr_next;
	s->retr_next = last->number + 1;
	if (in_order)
		st->ahead = pop3_ahead_plan(s, last->number + 1);
}

static void start(struct pop3_session *s, struct pop3_msg *m, bool top, uint64_t lines)
{
	struct retr_state *st = xcalloc(1, sizeof(*st));
	st->fd = -1;
	add_item(st, m, (uint64_t)(m - s->drop->msgs) + 1, top, lines);
	take_pipelined(s, st);
	plan_ahead(s, st);
	pop3_job_run(s, retr_work, retr_finish, st, retr_state_free);
}

/* A job that only reads ahead, from message first on. */
static void start_read_ahead(struct pop3_session *s, uint32_t first)
{
	struct pop3_ahead *a = pop3_ahead_plan(s, first);
	if (a == NULL)
		return;
	struct retr_state *st = xcalloc(1, sizeof(*st));
	st->fd = -1;
	st->ahead = a;
	pop3_job_run(s, retr_work, retr_finish, st, retr_state_free);
}

void pop3_cmd_retr(struct pop3_session *s, struct span args)
{
	struct pop3_msg *m = pop3_msg_arg(s, "RETR", args, 1, NULL);
	if (m == NULL)
		return;
	uint32_t number = (uint32_t)(m - s->drop->msgs) + 1;
	const uint8_t *answer;
	size_t len;
	if (s->ahead == NULL || !pop3_ahead_take(s->ahead, number, &answer, &len)) {
		pop3_ahead_free(&s->ahead); /* not in order any more */
		start(s, m, false, 0);
		return;
	}
	conn_write(&s->conn, answer, len);
	m->marks |= POP3_MSG_RETRIEVED;
	s->retr_next = number + 1;
	if (pop3_ahead_used_up(s->ahead)) {
		pop3_ahead_free(&s->ahead);
		start_read_ahead(s, number + 1);
	}
}

void pop3_cmd_top(struct pop3_session *s, struct span args)
{
	uint64_t lines;
	struct pop3_msg *m = pop3_msg_arg(s, "TOP", args, 2, &lines);
	if (m != NULL)
		start(s, m, true, lines);
}
