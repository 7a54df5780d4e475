/*
 * TRANSACTION-state commands answered from the snapshot in memory (RFC
 * 1939 5, 7): STAT, LIST, UIDL, DELE, RSET, NOOP. Nothing here touches the
 * disk: DELE only marks, the store changes at QUIT (cmd_quit.c).
 *
 * As Dovecot does (RFC 1939 leaves it open): STAT and LIST count every
 * message of the snapshot not marked deleted, sizes are the stored sizes
 * (CRLF line ends, before dot-stuffing), and RSET also forgets what RETR
 * would have marked \Seen.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "pop3d/pop3_args.h"
#include "pop3d/pop3_session.h"

#define LISTING_BATCH 16384 /* bytes of lines per write */

enum pop3_msg_lookup pop3_msg_find(struct pop3_maildrop *md, struct span args,
				    unsigned int args_wanted, struct pop3_msg **m_r, uint64_t *number_r,
				    uint64_t *n_r)
{
	struct span words[2];
	int count = pop3_args_split(args, words, args_wanted);
	if (count < 0)
		return POP3_MSG_TOO_MANY_ARGS;
	if ((unsigned int)count < args_wanted)
		return POP3_MSG_MISSING;
	switch (pop3_number_parse(words[0], UINT32_MAX, number_r)) {
	case POP3_NUMBER_OK:
		break;
	case POP3_NUMBER_TOO_LARGE:
		return POP3_MSG_TOO_LARGE;
	case POP3_NUMBER_INVALID:
		return POP3_MSG_INVALID;
	}
	if (args_wanted == 2 && pop3_number_parse(words[1], UINT64_MAX, n_r) != POP3_NUMBER_OK)
		return POP3_MSG_BAD_LINES;
	struct pop3_msg *m = pop3_maildrop_msg(md, *number_r);
	if (m == NULL)
		return POP3_MSG_NO_SUCH;
	if (m->marks & POP3_MSG_DELETED)
		return POP3_MSG_DELETED_ALREADY;
	*m_r = m;
	return POP3_MSG_FOUND;
}

struct pop3_msg *pop3_msg_arg(struct pop3_session *s, const char *command, struct span args,
			      unsigned int args_wanted, uint64_t *n_r)
{
	const char *usage = args_wanted == 1 ? "msg" : "msg n";
	struct pop3_msg *m = NULL;
	uint64_t number = 0, lines = 0;
	switch (pop3_msg_find(s->drop, args, args_wanted, &m, &number, &lines)) {
	case POP3_MSG_FOUND:
		if (n_r != NULL)
			*n_r = lines;
		return m;
	case POP3_MSG_TOO_MANY_ARGS:
		pop3_err(s, "Too many arguments; expected: %s %s.", command, usage);
		break;
	case POP3_MSG_MISSING:
		pop3_err(s, "Expected: %s %s.", command, usage);
		break;
	case POP3_MSG_INVALID:
		pop3_err(s, "Invalid message number.");
		break;
	case POP3_MSG_BAD_LINES:
		pop3_err(s, "Invalid number of lines.");
		break;
	/* Well-formed, but not there: no syntax error. */
	case POP3_MSG_TOO_LARGE:
		pop3_err(s, "No such message.");
		return NULL;
	case POP3_MSG_NO_SUCH:
		pop3_err(s, "There is no message %" PRIu64 ".", number);
		return NULL;
	case POP3_MSG_DELETED_ALREADY:
		pop3_err(s, "Message %" PRIu64 " is deleted.", number);
		return NULL;
	}
	pop3_bad_command(s);
	return NULL;
}

static bool no_args(struct pop3_session *s, const char *command, struct span args)
{
	struct span words[1];
	if (pop3_args_split(args, words, 0) == 0)
		return true;
	pop3_err(s, "%s takes no arguments.", command);
	pop3_bad_command(s);
	return false;
}

static uint32_t msg_number(const struct pop3_session *s, const struct pop3_msg *m)
{
	return (uint32_t)(m - s->drop->msgs) + 1;
}

void pop3_cmd_stat(struct pop3_session *s, struct span args)
{
	if (!no_args(s, "STAT", args))
		return;
	const struct pop3_maildrop *md = s->drop;
	pop3_ok(s, "%u %" PRIu64, md->count - md->deleted_count, md->total_size - md->deleted_size);
}

/* UIDL (RFC 1939 7): unique within the mailbox and the same in every
   session, so from UIDVALIDITY and UID, which together never name another
   message, and both survive an index rebuild (store/README.md). */
static int uidl_format(char *out, size_t outlen, uint32_t uidvalidity, uint32_t uid)
{
	return snprintf(out, outlen, "%08x%08x", uidvalidity, uid);
}

/* Writes "n size" or "n uidl" lines until the output queue is full. */
static bool listing_step(struct pop3_session *s, bool uidl)
{
	struct pop3_maildrop *md = s->drop;
	struct buf batch = BUF_INIT;
	while (s->listing_next < md->count && !conn_output_full(&s->conn)) {
		const struct pop3_msg *m = &md->msgs[s->listing_next++];
		if (m->marks & POP3_MSG_DELETED)
			continue;
		char line[64];
		int len;
		if (uidl) {
			char id[24];
			uidl_format(id, sizeof(id), md->uidvalidity, m->uid);
			len = snprintf(line, sizeof(line), "%u %s\r\n", s->listing_next, id);
		} else {
			len = snprintf(line, sizeof(line), "%u %" PRIu64 "\r\n", s->listing_next, m->size);
		}
		buf_append(&batch, line, (size_t)len);
		if (batch.len >= LISTING_BATCH) {
			conn_write(&s->conn, batch.data, batch.len);
			buf_clear(&batch);
		}
	}
	bool done = s->listing_next >= md->count;
	if (done)
		buf_append_str(&batch, ".\r\n");
	if (batch.len > 0)
		conn_write(&s->conn, batch.data, batch.len);
	buf_free(&batch);
	if (done)
		s->listing = NULL;
	return done;
}

static bool list_step(struct pop3_session *s)
{
	return listing_step(s, false);
}

static bool uidl_step(struct pop3_session *s)
{
	return listing_step(s, true);
}

void pop3_cmd_list(struct pop3_session *s, struct span args)
{
	struct span words[1];
	if (pop3_args_split(args, words, 0) != 0) {
		struct pop3_msg *m = pop3_msg_arg(s, "LIST", args, 1, NULL);
		if (m != NULL)
			pop3_ok(s, "%u %" PRIu64, msg_number(s, m), m->size);
		return;
	}
	const struct pop3_maildrop *md = s->drop;
	pop3_ok(s, "%u messages (%" PRIu64 " octets)", md->count - md->deleted_count,
		md->total_size - md->deleted_size);
	s->listing = list_step;
	s->listing_next = 0;
	list_step(s);
}

void pop3_cmd_uidl(struct pop3_session *s, struct span args)
{
	struct span words[1];
	if (pop3_args_split(args, words, 0) != 0) {
		struct pop3_msg *m = pop3_msg_arg(s, "UIDL", args, 1, NULL);
		if (m != NULL) {
			char id[24];
			uidl_format(id, sizeof(id), s->drop->uidvalidity, m->uid);
			pop3_ok(s, "%u %s", msg_number(s, m), id);
		}
		return;
	}
	pop3_ok(s, "Unique-ID listing follows");
	s->listing = uidl_step;
	s->listing_next = 0;
	uidl_step(s);
}

void pop3_cmd_dele(struct pop3_session *s, struct span args)
{
	struct pop3_msg *m = pop3_msg_arg(s, "DELE", args, 1, NULL);
	if (m == NULL)
		return;
	m->marks |= POP3_MSG_DELETED;
	s->drop->deleted_count++;
	s->drop->deleted_size += m->size;
	pop3_ok(s, "Marked to be deleted.");
}

void pop3_cmd_rset(struct pop3_session *s, struct span args)
{
	if (!no_args(s, "RSET", args))
		return;
	struct pop3_maildrop *md = s->drop;
	for (uint32_t i = 0; i < md->count; i++)
		md->msgs[i].marks = 0;
	md->deleted_count = 0;
	md->deleted_size = 0;
	pop3_ok(s, "Maildrop has %u messages (%" PRIu64 " octets).", md->count, md->total_size);
}

void pop3_cmd_noop(struct pop3_session *s, struct span args)
{
	if (no_args(s, "NOOP", args))
		pop3_ok(s, "NOOP");
}
