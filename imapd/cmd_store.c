/* STORE (RFC 3501 6.4.6) and COPY (6.4.7), plain and UID. */
#include <stdlib.h>
#include <string.h>

#include "common/xalloc.h"
#include "imapd/imap_commands.h"
#include "imapd/imap_job.h"
#include "imapd/imap_mailbox_name.h"
#include "imapd/imap_msgset.h"
#include "imapd/imap_sync.h"
#include "store/store.h"

/* Sets a message-set argument into uids; false after answering BAD. */
bool imap_msgset_arg(struct imap_session *s, const struct imap_command_line *cmd,
		     const struct imap_arg *arg, bool uid, uint32_t **uids_r, size_t *count_r)
{
	if (arg->type != IMAP_ARG_ATOM) {
		imap_tagged(s, cmd->tag, "BAD", "Invalid message set.");
		imap_bad_command(s);
		return false;
	}
	switch (imap_msgset_uids(&s->arena, s->view, arg->str, uid, uids_r, count_r)) {
	case IMAP_MSGSET_OK:
		return true;
	case IMAP_MSGSET_RANGE:
		imap_tagged(s, cmd->tag, "BAD", "Invalid message sequence number.");
		break;
	case IMAP_MSGSET_SYNTAX:
		imap_tagged(s, cmd->tag, "BAD", "Invalid message set.");
		break;
	}
	imap_bad_command(s);
	return false;
}

/* ----------------------------------------------------------------- STORE */

struct store_state {
	uint32_t *uids;
	size_t count;
	enum store_flag_op op;
	uint32_t flags;
	char **keywords; /* copied out of the arena: the job outlives the command's parse */
	size_t keyword_count;
	bool silent, uid;
};

static void store_state_free(void *p)
{
	struct store_state *st = p;
	for (size_t i = 0; i < st->keyword_count; i++)
		free(st->keywords[i]);
	free(st->keywords);
	free(st->uids);
	free(st);
}

/* After a non-silent STORE every message of the set gets one FETCH with
   its flags as they are now (RFC 3501 6.4.6), read back in batches so
   the read transaction stays short. */
static void report_flags(struct imap_job *j, const struct store_state *st)
{
	struct store_view *v = j->s->view;
	for (size_t i = 0; i < st->count;) {
		struct store_reader *r;
		char *error = NULL;
		if (store_reader_begin(v, &r, &error) != STORE_OK) {
			free(error);
			return;
		}
		for (size_t end = i + 256; i < st->count && i < end; i++) {
			struct store_msg m;
			uint32_t seq = store_view_seq(v, st->uids[i]);
			if (seq == 0 || store_reader_get(r, st->uids[i], STORE_FETCH_FLAGS, &m) != STORE_OK)
				continue;
			buf_printf(&j->step.out, "* %u FETCH (FLAGS ", seq);
			imap_flags_write(&j->step.out, v, seq, m.flags, m.keywords);
			if (st->uid)
				buf_printf(&j->step.out, " UID %u", st->uids[i]);
			buf_append_str(&j->step.out, ")\r\n");
		}
		store_reader_end(&r);
	}
}

static void store_work(struct imap_job *j)
{
	struct imap_session *s = j->s;
	struct store_state *st = j->state;
	if (s->readonly) {
		imap_sync(j, false, NULL, 0);
		imap_job_tagged(j, "NO", "[READ-ONLY] Mailbox is read-only.");
		return;
	}
	struct store_keywords kw = { (const char *const *)st->keywords, st->keyword_count };
	char *error = NULL;
	int ret = st->count == 0 ? STORE_OK :
				   store_view_set_flags(s->view, st->uids, st->count, st->op,
							st->flags, &kw, &error);
	free(error);
	/* Our own changes come back from the sync too: leave them to
	   report_flags (or to silence). */
	imap_sync(j, false, st->uids, st->count);
	if (ret != STORE_OK) {
		imap_job_store_error(j, ret, NULL);
		return;
	}
	if (!st->silent)
		report_flags(j, st);
	imap_job_tagged(j, "OK", "Store completed.");
}

void imap_store_run(struct imap_session *s, const struct imap_command_line *cmd,
		    const struct imap_arg *args, size_t count, bool uid)
{
	if (count < 3 || args[1].type != IMAP_ARG_ATOM) {
		imap_tagged(s, cmd->tag, "BAD", "Expected: STORE set FLAGS|+FLAGS|-FLAGS[.SILENT] (flags).");
		imap_bad_command(s);
		return;
	}
	struct span item = args[1].str;
	enum store_flag_op op = STORE_FLAGS_REPLACE;
	if (item.len > 0 && (item.ptr[0] == '+' || item.ptr[0] == '-')) {
		op = item.ptr[0] == '+' ? STORE_FLAGS_ADD : STORE_FLAGS_REMOVE;
		item = span_make(item.ptr + 1, item.len - 1);
	}
	bool silent = span_eq_ci(item, "FLAGS.SILENT");
	if (!silent && !span_eq_ci(item, "FLAGS")) {
		imap_tagged(s, cmd->tag, "BAD", "Unknown STORE item; expected FLAGS, +FLAGS or -FLAGS.");
		imap_bad_command(s);
		return;
	}
	uint32_t flags;
	struct store_keywords kw;
	const char *error;
	if (imap_flags_parse(&s->arena, args + 2, count - 2, &flags, &kw, &error) < 0) {
		imap_tagged(s, cmd->tag, "BAD", "%s", error);
		imap_bad_command(s);
		return;
	}
	uint32_t *uids;
	size_t n;
	if (!imap_msgset_arg(s, cmd, &args[0], uid, &uids, &n))
		return;
	struct store_state *st = xcalloc(1, sizeof(*st));
	st->uids = uids;
	st->count = n;
	st->op = op;
	st->flags = flags;
	st->silent = silent;
	st->uid = uid;
	st->keywords = xcalloc(kw.count + 1, sizeof(*st->keywords));
	for (size_t i = 0; i < kw.count; i++)
		st->keywords[i] = xstrdup(kw.names[i]);
	st->keyword_count = kw.count;
	imap_job_run(s, cmd->tag, store_work, st, store_state_free);
}

void cmd_store(struct imap_session *s, const struct imap_command_line *cmd)
{
	imap_store_run(s, cmd, cmd->args, cmd->count, false);
}

/* ------------------------------------------------------------------ COPY */

struct copy_state {
	uint32_t *uids;
	size_t count;
	char *dest;
};

static void copy_state_free(void *p)
{
	struct copy_state *st = p;
	free(st->uids);
	free(st->dest);
	free(st);
}

static void copy_work(struct imap_job *j)
{
	struct imap_session *s = j->s;
	struct copy_state *st = j->state;
	uint32_t uidvalidity = 0, *dest_uids = NULL;
	char *error = NULL;
	int ret = st->count == 0 ? STORE_OK :
				   store_view_copy(s->view, st->uids, st->count, st->dest, false,
						   &uidvalidity, &dest_uids, &error);
	free(error);
	imap_sync(j, false, NULL, 0);
	if (ret == STORE_ERR_NOT_FOUND) {
		imap_job_tagged(j, "NO", "[TRYCREATE] Mailbox doesn't exist.");
	} else if (ret != STORE_OK) {
		imap_job_store_error(j, ret, NULL);
	} else if (st->count == 0) {
		imap_job_tagged(j, "OK", "No messages found.");
	} else {
		/* COPYUID (RFC 4315) lists the pairs that were copied; a
		   message expunged meanwhile has a 0 destination and is left
		   out of both sets. */
		uint32_t *src = xcalloc(st->count, sizeof(*src)), *dst = xcalloc(st->count, sizeof(*dst));
		size_t n = 0;
		for (size_t i = 0; i < st->count; i++) {
			if (dest_uids[i] == 0)
				continue;
			src[n] = st->uids[i];
			dst[n++] = dest_uids[i];
		}
		if (n == 0) {
			imap_job_tagged(j, "OK", "Copy completed.");
		} else {
			buf_printf(&j->step.out, "%s OK [COPYUID %u ", j->tag, uidvalidity);
			imap_uidset_write(&j->step.out, src, n);
			buf_append_byte(&j->step.out, ' ');
			imap_uidset_write(&j->step.out, dst, n);
			buf_append_str(&j->step.out, "] Copy completed.\r\n");
		}
		free(src);
		free(dst);
	}
	free(dest_uids);
}

void imap_copy_run(struct imap_session *s, const struct imap_command_line *cmd,
		   const struct imap_arg *args, size_t count, bool uid)
{
	const char *error;
	const char *dest = count == 2 ? imap_mailbox_arg(&s->arena, &args[1], &error) : NULL;
	if (dest == NULL) {
		imap_tagged(s, cmd->tag, "BAD", "%s", count == 2 ? error : "Expected: COPY set mailbox.");
		imap_bad_command(s);
		return;
	}
	uint32_t *uids;
	size_t n;
	if (!imap_msgset_arg(s, cmd, &args[0], uid, &uids, &n))
		return;
	struct copy_state *st = xcalloc(1, sizeof(*st));
	st->uids = uids;
	st->count = n;
	st->dest = xstrdup(dest);
	imap_job_run(s, cmd->tag, copy_work, st, copy_state_free);
}

void cmd_copy(struct imap_session *s, const struct imap_command_line *cmd)
{
	imap_copy_run(s, cmd, cmd->args, cmd->count, false);
}
