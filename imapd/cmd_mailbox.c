/*
 * Mailbox commands of the authenticated state: CREATE, DELETE, RENAME,
 * SUBSCRIBE, UNSUBSCRIBE (RFC 3501 6.3.3-7) and STATUS (6.3.10).
 */
#include <stdlib.h>
#include <string.h>

#include "common/xalloc.h"
#include "imapd/imap_commands.h"
#include "imapd/imap_job.h"
#include "imapd/imap_mailbox_name.h"
#include "imapd/imap_sync.h"
#include "store/store.h"

enum mailbox_op { OP_CREATE, OP_DELETE, OP_RENAME, OP_SUBSCRIBE, OP_UNSUBSCRIBE, OP_STATUS };

enum status_item { ST_MESSAGES, ST_RECENT, ST_UIDNEXT, ST_UIDVALIDITY, ST_UNSEEN, ST_SIZE };
static const char *const status_names[] = { "MESSAGES", "RECENT", "UIDNEXT", "UIDVALIDITY",
					     "UNSEEN", "SIZE" };
#define STATUS_MAX 16

struct mailbox_state {
	enum mailbox_op op;
	char *name, *to;
	enum status_item items[STATUS_MAX];
	size_t item_count;
};

static void mailbox_state_free(void *p)
{
	struct mailbox_state *st = p;
	free(st->name);
	free(st->to);
	free(st);
}

static void status_line(struct imap_job *j, const struct mailbox_state *st,
			const struct store_mailbox_info *info)
{
	buf_append_str(&j->step.out, "* STATUS ");
	imap_mailbox_write(&j->step.out, st->name);
	buf_append_str(&j->step.out, " (");
	for (size_t i = 0; i < st->item_count; i++) {
		uint64_t value = 0;
		switch (st->items[i]) {
		case ST_MESSAGES: value = info->messages; break;
		case ST_RECENT: value = info->recent; break;
		case ST_UIDNEXT: value = info->uidnext; break;
		case ST_UIDVALIDITY: value = info->uidvalidity; break;
		case ST_UNSEEN: value = info->unseen; break;
		case ST_SIZE: value = info->size; break;
		}
		buf_printf(&j->step.out, "%s%s %llu", i > 0 ? " " : "", status_names[st->items[i]],
			   (unsigned long long)value);
	}
	buf_append_str(&j->step.out, ")\r\n");
}

static void mailbox_work(struct imap_job *j)
{
	struct imap_session *s = j->s;
	struct mailbox_state *st = j->state;
	int ret = imap_job_user(j);
	char *error = NULL;
	struct store_mailbox_info info;
	const char *done = "";
	if (ret == STORE_OK) {
		switch (st->op) {
		case OP_CREATE:
			ret = store_mailbox_create(s->user, st->name, 0, &error);
			done = "Create";
			break;
		case OP_DELETE:
			ret = store_mailbox_delete(s->user, st->name, &error);
			if (ret == STORE_ERR_HAS_CHILDREN)
				ret = STORE_OK; /* RFC 3501 6.3.4: it stays as \Noselect */
			done = "Delete";
			break;
		case OP_RENAME:
			ret = store_mailbox_rename(s->user, st->name, st->to, &error);
			done = "Rename";
			break;
		case OP_SUBSCRIBE:
		case OP_UNSUBSCRIBE:
			ret = store_mailbox_subscribe(s->user, st->name, st->op == OP_SUBSCRIBE, &error);
			done = st->op == OP_SUBSCRIBE ? "Subscribe" : "Unsubscribe";
			break;
		case OP_STATUS: {
			/* The selected mailbox as this session sees it: its
			   EXISTS and EXPUNGE first, and \Recent the messages it
			   holds as recent, so the numbers agree with what it was
			   told (RFC 3501 6.3.10, 2.3.2). */
			bool selected = s->view != NULL && strcmp(st->name, s->selected) == 0;
			if (selected)
				imap_sync(j, true, NULL, 0);
			ret = store_mailbox_status(s->user, st->name, &info, &error);
			if (ret == STORE_OK && (!info.exists || info.noselect))
				ret = STORE_ERR_NOT_FOUND;
			if (ret == STORE_OK && selected && s->view != NULL) {
				info.messages = store_view_count(s->view);
				info.recent = 0;
				for (uint32_t seq = 1; seq <= info.messages; seq++)
					info.recent += store_view_recent(s->view, seq);
			}
			if (ret == STORE_OK)
				status_line(j, st, &info);
			done = "Status";
			break;
		}
		}
	}
	free(error);
	/* The selected mailbox may have changed (RENAME of it, DELETE). */
	imap_sync(j, true, NULL, 0);
	if (ret == STORE_OK)
		imap_job_tagged(j, "OK", "%s completed.", done);
	else if (ret == STORE_ERR_NOT_ALLOWED && st->op == OP_DELETE)
		imap_job_store_error(j, ret, "INBOX can't be deleted.");
	else if (ret == STORE_ERR_NOT_FOUND && st->op == OP_DELETE)
		imap_job_store_error(j, ret, "Mailbox doesn't exist.");
	else
		imap_job_store_error(j, ret, NULL);
}

static void start(struct imap_session *s, const struct imap_command_line *cmd,
		  struct mailbox_state *st)
{
	imap_job_run(s, cmd->tag, mailbox_work, st, mailbox_state_free);
}

/* The single mailbox argument of CREATE, DELETE, SUBSCRIBE, UNSUBSCRIBE. */
static const char *one_name(struct imap_session *s, const struct imap_command_line *cmd,
			    size_t expected)
{
	const char *error = "Missing mailbox name.";
	const char *name = cmd->count == expected ? imap_mailbox_arg(&s->arena, &cmd->args[0], &error)
						  : NULL;
	if (name == NULL) {
		imap_tagged(s, cmd->tag, "BAD", "%s", error);
		imap_bad_command(s);
	}
	return name;
}

static void simple(struct imap_session *s, const struct imap_command_line *cmd, enum mailbox_op op)
{
	const char *name = one_name(s, cmd, 1);
	if (name == NULL)
		return;
	struct mailbox_state *st = xcalloc(1, sizeof(*st));
	st->op = op;
	st->name = xstrdup(name);
	/* CREATE "a/b/": the trailing separator only says children will
	   follow (RFC 3501 6.3.3). */
	size_t len = strlen(st->name);
	if (op == OP_CREATE && len > 1 && st->name[len - 1] == '/')
		st->name[len - 1] = '\0';
	start(s, cmd, st);
}

void cmd_create(struct imap_session *s, const struct imap_command_line *cmd)
{
	simple(s, cmd, OP_CREATE);
}

void cmd_delete(struct imap_session *s, const struct imap_command_line *cmd)
{
	simple(s, cmd, OP_DELETE);
}

void cmd_subscribe(struct imap_session *s, const struct imap_command_line *cmd)
{
	simple(s, cmd, OP_SUBSCRIBE);
}

void cmd_unsubscribe(struct imap_session *s, const struct imap_command_line *cmd)
{
	simple(s, cmd, OP_UNSUBSCRIBE);
}

void cmd_rename(struct imap_session *s, const struct imap_command_line *cmd)
{
	const char *error = "Expected: RENAME old new.";
	const char *from = cmd->count == 2 ? imap_mailbox_arg(&s->arena, &cmd->args[0], &error) : NULL;
	const char *to = from != NULL ? imap_mailbox_arg(&s->arena, &cmd->args[1], &error) : NULL;
	if (to == NULL) {
		imap_tagged(s, cmd->tag, "BAD", "%s", error);
		imap_bad_command(s);
		return;
	}
	struct mailbox_state *st = xcalloc(1, sizeof(*st));
	st->op = OP_RENAME;
	st->name = xstrdup(from);
	st->to = xstrdup(to);
	start(s, cmd, st);
}

void cmd_status(struct imap_session *s, const struct imap_command_line *cmd)
{
	const char *error = "Expected: STATUS mailbox (items).";
	const char *name = cmd->count == 2 ? imap_mailbox_arg(&s->arena, &cmd->args[0], &error) : NULL;
	const struct imap_arg *items = cmd->count == 2 ? &cmd->args[1] : NULL;
	if (name != NULL && (items->type != IMAP_ARG_LIST || items->count == 0 ||
			     items->count > STATUS_MAX)) {
		error = "Expected: STATUS mailbox (items).";
		name = NULL;
	}
	if (name == NULL) {
		/* The mailbox's own problem (not modified UTF-7, ...) when
		   that is what is wrong. */
		imap_tagged(s, cmd->tag, "BAD", "%s", error);
		imap_bad_command(s);
		return;
	}
	struct mailbox_state *st = xcalloc(1, sizeof(*st));
	st->op = OP_STATUS;
	for (size_t i = 0; i < items->count; i++) {
		const struct imap_arg *a = &items->list[i];
		size_t k = 0;
		while (k < sizeof(status_names) / sizeof(status_names[0]) &&
		       !(a->type == IMAP_ARG_ATOM && span_eq_ci(a->str, status_names[k])))
			k++;
		if (k == sizeof(status_names) / sizeof(status_names[0])) {
			free(st);
			imap_tagged(s, cmd->tag, "BAD", "Unknown STATUS item.");
			imap_bad_command(s);
			return;
		}
		st->items[st->item_count++] = (enum status_item)k;
	}
	st->name = xstrdup(name);
	start(s, cmd, st);
}
