/*
 * Selecting a mailbox and the commands that only sync or end the
 * selection: SELECT, EXAMINE (RFC 3501 6.3.1-2), CHECK, CLOSE, EXPUNGE
 * (6.4.1-3), NOOP in the selected state (6.1.2).
 */
#include <stdlib.h>
#include <string.h>

#include "common/xalloc.h"
#include "imapd/imap_commands.h"
#include "imapd/imap_job.h"
#include "imapd/imap_mailbox_name.h"
#include "imapd/imap_sync.h"
#include "store/store.h"

/* Closes the selection from work() (the view is the job's now). */
static void close_view(struct imap_session *s)
{
	store_view_close(&s->view);
	free(s->selected);
	s->selected = NULL;
}

static void select_work(struct imap_job *j)
{
	struct imap_session *s = j->s;
	const char *name = j->state;
	bool readonly = s->readonly;
	if (s->view != NULL) {
		close_view(s);
		/* RFC 7162 3.2.11 (and what clients expect): tell a client
		   that asked nothing about the old mailbox any more. */
	}
	j->result = imap_job_user(j);
	if (j->result != STORE_OK) {
		imap_job_store_error(j, j->result, NULL);
		return;
	}
	struct store_view_status st;
	char *error = NULL;
	j->result = store_view_open(s->user, name,
				    readonly ? STORE_VIEW_READONLY : STORE_VIEW_CLAIM_RECENT,
				    &s->view, &st, &error);
	free(error);
	if (j->result != STORE_OK) {
		imap_job_store_error(j, j->result, "Mailbox doesn't exist.");
		return;
	}
	s->selected = xstrdup(store_view_mailbox(s->view));
	struct buf list = BUF_INIT;
	imap_flags_defined(&list, s->view, st.permanent_keywords);
	imap_job_untagged(j, "FLAGS (%s)", buf_cstr(&list));
	if (readonly)
		imap_job_untagged(j, "OK [PERMANENTFLAGS ()] Read-only mailbox.");
	else
		imap_job_untagged(j, "OK [PERMANENTFLAGS (%s \\*)] Flags permitted.", buf_cstr(&list));
	buf_free(&list);
	imap_job_untagged(j, "%u EXISTS", st.messages);
	imap_job_untagged(j, "%u RECENT", st.recent);
	if (st.first_unseen_seq != 0)
		imap_job_untagged(j, "OK [UNSEEN %u] First unseen.", st.first_unseen_seq);
	imap_job_untagged(j, "OK [UIDVALIDITY %u] UIDs valid", st.uidvalidity);
	imap_job_untagged(j, "OK [UIDNEXT %u] Predicted next UID", st.uidnext);
	imap_job_tagged(j, "OK", "[%s] %s completed.", readonly ? "READ-ONLY" : "READ-WRITE",
			readonly ? "Examine" : "Select");
}

static void select_finish(struct imap_job *j)
{
	struct imap_session *s = j->s;
	s->state = s->view != NULL ? IMAP_STATE_SELECTED : IMAP_STATE_AUTHENTICATED;
}

static void select_or_examine(struct imap_session *s, const struct imap_command_line *cmd,
			      bool readonly)
{
	const char *error;
	const char *name = cmd->count == 1 ? imap_mailbox_arg(&s->arena, &cmd->args[0], &error) : NULL;
	if (name == NULL) {
		imap_tagged(s, cmd->tag, "BAD", "%s",
			    cmd->count == 1 ? error : "Expected: SELECT mailbox.");
		imap_bad_command(s);
		return;
	}
	struct imap_job *j = imap_job_new(s, cmd->tag, select_work);
	j->state = xstrdup(name);
	j->state_free = free;
	j->finish = select_finish;
	s->readonly = readonly;
	imap_job_start(j);
}

void cmd_select(struct imap_session *s, const struct imap_command_line *cmd)
{
	select_or_examine(s, cmd, false);
}

void cmd_examine(struct imap_session *s, const struct imap_command_line *cmd)
{
	select_or_examine(s, cmd, true);
}

/* ------------------------------------------------ NOOP, CHECK, EXPUNGE */

static void sync_work(struct imap_job *j)
{
	const char *done = j->state;
	imap_sync(j, true, NULL, 0);
	imap_job_tagged(j, "OK", "%s completed.", done);
}

/* A command that only reports changes: NOOP and CHECK. */
static void start_sync(struct imap_session *s, const struct imap_command_line *cmd,
		       const char *name)
{
	struct imap_job *j = imap_job_new(s, cmd->tag, sync_work);
	j->state = (void *)name;
	imap_job_start(j);
}

void cmd_noop(struct imap_session *s, const struct imap_command_line *cmd)
{
	if (cmd->count != 0) {
		imap_tagged(s, cmd->tag, "BAD", "Unexpected arguments.");
		imap_bad_command(s);
		return;
	}
	if (s->state != IMAP_STATE_SELECTED) {
		imap_tagged(s, cmd->tag, "OK", "NOOP completed.");
		return;
	}
	start_sync(s, cmd, "NOOP");
}

void cmd_check(struct imap_session *s, const struct imap_command_line *cmd)
{
	if (cmd->count != 0) {
		imap_tagged(s, cmd->tag, "BAD", "Unexpected arguments.");
		imap_bad_command(s);
		return;
	}
	/* Every change is durable when its command completes; nothing to do
	   but report what others changed. */
	start_sync(s, cmd, "Check");
}

struct expunge_state {
	uint32_t *uids; /* UID EXPUNGE; NULL: every \Deleted message */
	size_t count;
};

static void expunge_state_free(void *p)
{
	struct expunge_state *st = p;
	free(st->uids);
	free(st);
}

static void expunge_work(struct imap_job *j)
{
	struct imap_session *s = j->s;
	struct expunge_state *st = j->state;
	if (s->readonly) {
		imap_sync(j, true, NULL, 0);
		imap_job_tagged(j, "NO", "[READ-ONLY] Mailbox is read-only.");
		return;
	}
	char *error = NULL;
	int ret = store_view_expunge(s->view, st->uids, st->count, &error);
	free(error);
	imap_sync(j, true, NULL, 0);
	if (ret != STORE_OK)
		imap_job_store_error(j, ret, NULL);
	else
		imap_job_tagged(j, "OK", "Expunge completed.");
}

void imap_expunge_start(struct imap_session *s, struct span tag, uint32_t *uids, size_t count)
{
	struct imap_job *j = imap_job_new(s, tag, expunge_work);
	struct expunge_state *st = xcalloc(1, sizeof(*st));
	st->uids = uids;
	st->count = count;
	j->state = st;
	j->state_free = expunge_state_free;
	imap_job_start(j);
}

void cmd_expunge(struct imap_session *s, const struct imap_command_line *cmd)
{
	if (cmd->count != 0) {
		imap_tagged(s, cmd->tag, "BAD", "Unexpected arguments.");
		imap_bad_command(s);
		return;
	}
	imap_expunge_start(s, cmd->tag, NULL, 0);
}

/* ----------------------------------------------------------------- CLOSE */

static void close_work(struct imap_job *j)
{
	struct imap_session *s = j->s;
	/* RFC 3501 6.4.2: silently expunge, no untagged EXPUNGE. */
	if (!s->readonly) {
		char *error = NULL;
		store_view_expunge(s->view, NULL, 0, &error);
		free(error);
	}
	close_view(s);
	imap_job_tagged(j, "OK", "Close completed.");
}

static void close_finish(struct imap_job *j)
{
	j->s->state = IMAP_STATE_AUTHENTICATED;
}

void cmd_close(struct imap_session *s, const struct imap_command_line *cmd)
{
	if (cmd->count != 0) {
		imap_tagged(s, cmd->tag, "BAD", "Unexpected arguments.");
		imap_bad_command(s);
		return;
	}
	struct imap_job *j = imap_job_new(s, cmd->tag, close_work);
	j->finish = close_finish;
	imap_job_start(j);
}
