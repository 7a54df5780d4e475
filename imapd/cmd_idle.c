/*
 * IDLE (RFC 2177). The session waits for DONE with nothing running; a
 * change to the selected mailbox (imap_notify.c) starts a sync job that
 * writes the untagged updates at once. The line after DONE may already be
 * in the same packet (iOS Mail): it is simply the next command.
 */
#include <stdlib.h>

#include "imapd/imap_commands.h"
#include "imapd/imap_job.h"
#include "imapd/imap_sync.h"

static void idle_sync_work(struct imap_job *j)
{
	imap_sync(j, true, NULL, 0);
}

static void start_idle_sync(struct imap_session *s)
{
	s->idle_changed = false;
	imap_job_start(imap_job_new(s, SPAN_LIT(""), idle_sync_work));
}

void cmd_idle(struct imap_session *s, const struct imap_command_line *cmd)
{
	if (cmd->count != 0) {
		imap_tagged(s, cmd->tag, "BAD", "Unexpected arguments.");
		imap_bad_command(s);
		return;
	}
	s->idle_tag = span_strdup(cmd->tag);
	conn_write_str(&s->conn, "+ idling\r\n");
	/* What changed since the last command goes out now. */
	if (s->state == IMAP_STATE_SELECTED)
		start_idle_sync(s);
}

void imap_idle_line(struct imap_session *s, struct span line)
{
	struct span tag = span_cstr(s->idle_tag);
	if (span_eq_ci(line, "DONE")) {
		imap_tagged(s, tag, "OK", "Idle completed.");
	} else {
		imap_tagged(s, tag, "BAD", "Expected DONE.");
		imap_bad_command(s);
	}
	free(s->idle_tag);
	s->idle_tag = NULL;
}

void imap_session_changed(struct imap_session *s)
{
	if (s->idle_tag == NULL || s->state != IMAP_STATE_SELECTED || conn_is_closing(&s->conn))
		return;
	if (s->job != NULL) {
		s->idle_changed = true; /* synced once the job is done */
		return;
	}
	start_idle_sync(s);
}

void imap_session_job_ended(struct imap_session *s)
{
	if (s->idle_changed)
		imap_session_changed(s);
	/* Nothing more to read right now: the client waits or idles, perhaps
	   for hours, so the view drops to its compact form (a 10,000-message
	   map takes 40 KB as an array, a few bytes as runs). A pipelined next
	   command keeps the array. */
	const struct reader *in = &s->conn.reader;
	if (s->view != NULL && s->job == NULL && in->pos + in->consume >= in->in.len)
		store_view_compact(s->view);
}
