/*
 * LIST and LSUB (RFC 3501 6.3.8-9), with the attributes clients use to
 * draw the folder tree: \Noselect for levels that only hold others,
 * \HasChildren / \HasNoChildren (RFC 3348) and the special-use attributes
 * (RFC 6154) that tell Thunderbird and phones which folder is Sent.
 */
#include <stdlib.h>
#include <string.h>

#include "common/xalloc.h"
#include "imapd/imap_commands.h"
#include "imapd/imap_job.h"
#include "imapd/imap_list_match.h"
#include "imapd/imap_mailbox_name.h"
#include "imapd/imap_sync.h"
#include "store/store.h"

struct entry {
	char *name;
	bool exists, noselect, subscribed;
	bool implied; /* not in the store: a level above existing names */
	unsigned int special_use;
};

struct list_state {
	bool lsub;
	char *reference, *pattern;
	struct entry *entries;
	size_t count, cap;
};

static void list_state_free(void *p)
{
	struct list_state *st = p;
	for (size_t i = 0; i < st->count; i++)
		free(st->entries[i].name);
	free(st->entries);
	free(st->reference);
	free(st->pattern);
	free(st);
}

static struct entry *add(struct list_state *st, const char *name)
{
	if (st->count == st->cap) {
		st->cap = st->cap ? st->cap * 2 : 32;
		st->entries = xreallocarray(st->entries, st->cap, sizeof(*st->entries));
	}
	struct entry *e = &st->entries[st->count++];
	*e = (struct entry){ .name = xstrdup(name) };
	return e;
}

static void collect_cb(const struct store_mailbox_info *info, void *ctx)
{
	struct entry *e = add(ctx, info->name);
	e->exists = info->exists;
	e->noselect = info->noselect || !info->exists;
	e->subscribed = info->subscribed;
	e->special_use = info->special_use;
}

static int entry_cmp(const void *a, const void *b)
{
	return strcmp(((const struct entry *)a)->name, ((const struct entry *)b)->name);
}

static struct entry *find(struct list_state *st, const char *name)
{
	struct entry key = { .name = (char *)name };
	return bsearch(&key, st->entries, st->count, sizeof(key), entry_cmp);
}

static int entry_real_first_cmp(const void *a, const void *b)
{
	const struct entry *x = a, *y = b;
	int c = strcmp(x->name, y->name);
	return c != 0 ? c : (int)x->implied - (int)y->implied;
}

/* Levels that only exist as part of deeper names ("a" of "a/b") are
   listed as \Noselect: clients need them to draw the tree. Every level of
   every name is added, then duplicates go: O(n log n) in names. */
static void add_parents(struct list_state *st)
{
	size_t n = st->count;
	for (size_t i = 0; i < n; i++) {
		char *name = xstrdup(st->entries[i].name);
		for (char *slash = strrchr(name, '/'); slash != NULL; slash = strrchr(name, '/')) {
			*slash = '\0';
			struct entry *e = add(st, name);
			e->noselect = e->implied = true;
		}
		free(name);
	}
	/* Sorted, each name once: a real mailbox wins over an implied level. */
	qsort(st->entries, st->count, sizeof(*st->entries), entry_real_first_cmp);
	size_t kept = 0;
	for (size_t i = 0; i < st->count; i++) {
		if (kept > 0 && strcmp(st->entries[kept - 1].name, st->entries[i].name) == 0) {
			free(st->entries[i].name);
			continue;
		}
		st->entries[kept++] = st->entries[i];
	}
	st->count = kept;
}

static bool has_children(const struct list_state *st, size_t i)
{
	size_t len = strlen(st->entries[i].name);
	return i + 1 < st->count && strncmp(st->entries[i + 1].name, st->entries[i].name, len) == 0 &&
	       st->entries[i + 1].name[len] == '/';
}

static void attr(struct buf *out, bool *first, const char *name)
{
	if (!*first)
		buf_append_byte(out, ' ');
	buf_append_str(out, name);
	*first = false;
}

static void list_line(struct imap_job *j, const char *what, const struct entry *e, bool children,
		      bool lsub)
{
	struct buf *out = &j->step.out;
	bool first = true;
	buf_printf(out, "* %s (", what);
	if (e->noselect)
		attr(out, &first, "\\Noselect");
	if (!lsub) {
		attr(out, &first, children ? "\\HasChildren" : "\\HasNoChildren");
		static const struct {
			unsigned int bit;
			const char *name;
		} uses[] = { { STORE_USE_SENT, "\\Sent" },   { STORE_USE_DRAFTS, "\\Drafts" },
			     { STORE_USE_TRASH, "\\Trash" }, { STORE_USE_JUNK, "\\Junk" },
			     { STORE_USE_ARCHIVE, "\\Archive" } };
		for (size_t i = 0; i < sizeof(uses) / sizeof(uses[0]); i++)
			if (e->special_use & uses[i].bit)
				attr(out, &first, uses[i].name);
	}
	buf_append_str(out, ") \"/\" ");
	imap_mailbox_write(out, e->name);
	buf_append_str(out, "\r\n");
}

/* LSUB for a subscribed name the pattern does not match: its nearest
   matching level that is not itself subscribed, as \Noselect. */
static void lsub_parent(struct imap_job *j, struct list_state *st, const struct imap_list_match *m,
			const char *name, struct buf *shown)
{
	char *parent = xstrdup(name);
	for (char *slash = strrchr(parent, '/'); slash != NULL; slash = strrchr(parent, '/')) {
		*slash = '\0';
		const struct entry *p = find(st, parent);
		if (p != NULL && p->subscribed)
			break; /* listed on its own */
		if (imap_list_match(m, parent) != IMAP_MATCH_YES)
			continue;
		size_t len = strlen(parent);
		bool seen = false;
		for (size_t off = 0; off < shown->len && !seen; off += strlen((char *)shown->data + off) + 1)
			seen = strcmp((char *)shown->data + off, parent) == 0;
		if (!seen) {
			struct entry line = { .name = parent, .noselect = true };
			list_line(j, "LSUB", &line, false, true);
			buf_append(shown, parent, len + 1);
		}
		break;
	}
	free(parent);
}

static void list_work(struct imap_job *j)
{
	struct imap_session *s = j->s;
	struct list_state *st = j->state;
	const char *what = st->lsub ? "LSUB" : "LIST";
	int ret = imap_job_user(j);
	char *error = NULL;
	if (ret == STORE_OK)
		ret = store_mailbox_list(s->user, collect_cb, st, &error);
	free(error);
	if (ret != STORE_OK) {
		imap_job_store_error(j, ret, NULL);
		return;
	}
	struct imap_list_match *m = imap_list_match_new(st->reference, st->pattern);
	if (m == NULL) {
		imap_job_tagged(j, "BAD", "Pattern too long.");
		return;
	}
	if (st->lsub) {
		/* Subscribed names; a level above one that % cannot reach is
		   shown as \Noselect (RFC 3501 6.3.9), once. */
		qsort(st->entries, st->count, sizeof(*st->entries), entry_cmp);
		struct buf shown = BUF_INIT; /* parents listed so far, NUL-separated */
		for (size_t i = 0; i < st->count; i++) {
			const struct entry *e = &st->entries[i];
			if (!e->subscribed)
				continue;
			if (imap_list_match(m, e->name) == IMAP_MATCH_YES) {
				struct entry line = { .name = e->name, .noselect = e->noselect };
				list_line(j, what, &line, false, true);
				continue;
			}
			lsub_parent(j, st, m, e->name, &shown);
		}
		buf_free(&shown);
	} else {
		add_parents(st);
		for (size_t i = 0; i < st->count; i++)
			if (st->entries[i].exists || st->entries[i].noselect)
				if (imap_list_match(m, st->entries[i].name) == IMAP_MATCH_YES)
					list_line(j, what, &st->entries[i], has_children(st, i), false);
	}
	imap_list_match_free(&m);
	imap_sync(j, true, NULL, 0);
	imap_job_tagged(j, "OK", "%s completed.", st->lsub ? "Lsub" : "List");
}

static void list_or_lsub(struct imap_session *s, const struct imap_command_line *cmd, bool lsub)
{
	const char *error = "Expected: LIST reference pattern.";
	const char *ref = cmd->count == 2 ? imap_mailbox_arg(&s->arena, &cmd->args[0], &error) : NULL;
	const char *pattern = ref != NULL ? imap_mailbox_arg(&s->arena, &cmd->args[1], &error) : NULL;
	if (pattern == NULL) {
		imap_tagged(s, cmd->tag, "BAD", "%s", error);
		imap_bad_command(s);
		return;
	}
	if (!lsub && pattern[0] == '\0') {
		/* RFC 3501 6.3.8: the hierarchy delimiter and the root. */
		imap_untagged(s, "LIST (\\Noselect) \"/\" \"\"");
		imap_tagged(s, cmd->tag, "OK", "List completed.");
		return;
	}
	struct list_state *st = xcalloc(1, sizeof(*st));
	st->lsub = lsub;
	/* imap_mailbox_arg made a leading "inbox" upper case; the matcher
	   treats INBOX case-insensitively anyway. */
	st->reference = xstrdup(ref);
	st->pattern = xstrdup(pattern);
	imap_job_run(s, cmd->tag, list_work, st, list_state_free);
}

void cmd_list(struct imap_session *s, const struct imap_command_line *cmd)
{
	list_or_lsub(s, cmd, false);
}

void cmd_lsub(struct imap_session *s, const struct imap_command_line *cmd)
{
	list_or_lsub(s, cmd, true);
}
