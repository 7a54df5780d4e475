/* SEARCH and UID SEARCH (RFC 3501 6.4.4), answered from the store's index. */
#include <stdlib.h>

#include "common/xalloc.h"
#include "imapd/imap_commands.h"
#include "imapd/imap_job.h"
#include "imapd/imap_search.h"
#include "imapd/imap_sync.h"
#include "store/store.h"

struct search_state {
	struct arena arena; /* the criteria tree: parsed on the loop, used by the job */
	struct store_search *criteria;
	bool uid;
};

static void search_state_free(void *p)
{
	struct search_state *st = p;
	arena_free(&st->arena);
	free(st);
}

static void search_work(struct imap_job *j)
{
	struct imap_session *s = j->s;
	struct search_state *st = j->state;
	uint32_t *uids = NULL;
	size_t count = 0;
	char *error = NULL;
	int ret = store_view_search(s->view, st->criteria, &uids, &count, &error);
	free(error);
	if (ret != STORE_OK) {
		imap_sync(j, false, NULL, 0);
		imap_job_store_error(j, ret, NULL);
		return;
	}
	/* Numbers of the view as the client knows it: before this command's
	   own sync, which may add messages (and never removes any here). */
	buf_append_str(&j->step.out, "* SEARCH");
	for (size_t i = 0; i < count; i++) {
		uint32_t n = st->uid ? uids[i] : store_view_seq(s->view, uids[i]);
		if (n != 0)
			buf_printf(&j->step.out, " %u", n);
	}
	buf_append_str(&j->step.out, "\r\n");
	free(uids);
	imap_sync(j, false, NULL, 0);
	imap_job_tagged(j, "OK", "Search completed.");
}

static uint32_t view_seq_to_uid(void *ctx, uint32_t seq)
{
	return store_view_uid(ctx, seq);
}

void imap_search_run(struct imap_session *s, const struct imap_command_line *cmd,
		     const struct imap_arg *args, size_t count, bool uid)
{
	struct search_state *st = xcalloc(1, sizeof(*st));
	arena_init(&st->arena, 1024);
	st->uid = uid;
	uint32_t messages = store_view_count(s->view);
	struct imap_search_context ctx = {
		.messages = messages,
		.max_uid = messages > 0 ? store_view_uid(s->view, messages) : 0,
		.seq_to_uid = view_seq_to_uid,
		.ctx = s->view,
	};
	const char *error = NULL;
	switch (imap_search_parse(&st->arena, args, count, &ctx, &st->criteria, &error)) {
	case IMAP_SEARCH_OK:
		break;
	case IMAP_SEARCH_BADCHARSET:
		search_state_free(st);
		imap_tagged(s, cmd->tag, "NO", "[BADCHARSET (UTF-8 US-ASCII)] Unsupported charset.");
		return;
	case IMAP_SEARCH_BAD:
		/* The text may name the key: it lives in the arena. */
		imap_tagged(s, cmd->tag, "BAD", "%s", error != NULL ? error : "Invalid search.");
		search_state_free(st);
		imap_bad_command(s);
		return;
	}
	imap_job_run(s, cmd->tag, search_work, st, search_state_free);
}

void cmd_search(struct imap_session *s, const struct imap_command_line *cmd)
{
	imap_search_run(s, cmd, cmd->args, cmd->count, false);
}
