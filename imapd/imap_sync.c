#include "imapd/imap_sync.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "imapd/imap_job.h"
#include "imapd/imap_session.h"

static const struct {
	uint32_t bit;
	const char *name;
} system_flags[] = {
	{ STORE_FLAG_SEEN, "\\Seen" },	     { STORE_FLAG_ANSWERED, "\\Answered" },
	{ STORE_FLAG_FLAGGED, "\\Flagged" }, { STORE_FLAG_DELETED, "\\Deleted" },
	{ STORE_FLAG_DRAFT, "\\Draft" },
};
#define SYSTEM_FLAG_COUNT (sizeof(system_flags) / sizeof(system_flags[0]))

void imap_flags_write(struct buf *out, struct store_view *v, uint32_t seq, uint32_t flags,
		      uint64_t keywords)
{
	bool first = true;
	buf_append_byte(out, '(');
	for (size_t i = 0; i < SYSTEM_FLAG_COUNT; i++) {
		if ((flags & system_flags[i].bit) == 0)
			continue;
		if (!first)
			buf_append_byte(out, ' ');
		buf_append_str(out, system_flags[i].name);
		first = false;
	}
	for (unsigned id = 0; id < STORE_MAX_KEYWORDS && keywords != 0; id++) {
		if ((keywords & (1ull << id)) == 0)
			continue;
		keywords &= ~(1ull << id);
		const char *name = store_keyword_name(v, id);
		if (name == NULL)
			continue;
		if (!first)
			buf_append_byte(out, ' ');
		buf_append_str(out, name);
		first = false;
	}
	if (seq != 0 && store_view_recent(v, seq)) {
		if (!first)
			buf_append_byte(out, ' ');
		buf_append_str(out, "\\Recent");
	}
	buf_append_byte(out, ')');
}

void imap_flags_defined(struct buf *list, struct store_view *v, uint64_t keyword_ids)
{
	buf_append_str(list, "\\Answered \\Flagged \\Deleted \\Seen \\Draft");
	for (unsigned id = 0; id < STORE_MAX_KEYWORDS; id++) {
		if ((keyword_ids & (1ull << id)) == 0)
			continue;
		const char *name = store_keyword_name(v, id);
		if (name != NULL)
			buf_printf(list, " %s", name);
	}
}

/* flag-keyword = atom: no list, quoted or resp-specials characters. */
static bool valid_keyword(struct span s)
{
	if (s.len == 0 || s.len > 200)
		return false;
	for (size_t i = 0; i < s.len; i++) {
		uint8_t c = s.ptr[i];
		if (c <= 0x20 || c >= 0x7f || strchr("(){%*\"\\]", c) != NULL)
			return false;
	}
	return true;
}

static int parse_one(struct arena *a, const struct imap_arg *arg, uint32_t *flags,
		     const char **names, size_t *count, const char **error_r)
{
	if (arg->type != IMAP_ARG_ATOM) {
		*error_r = "Flags must be atoms.";
		return -1;
	}
	if (arg->str.len > 0 && arg->str.ptr[0] == '\\') {
		for (size_t i = 0; i < SYSTEM_FLAG_COUNT; i++) {
			if (span_eq_ci(arg->str, system_flags[i].name)) {
				*flags |= system_flags[i].bit;
				return 0;
			}
		}
		*error_r = span_eq_ci(arg->str, "\\Recent") ? "\\Recent cannot be set." :
							      "Unknown system flag.";
		return -1;
	}
	if (!valid_keyword(arg->str)) {
		*error_r = "Invalid keyword.";
		return -1;
	}
	for (size_t i = 0; i < *count; i++)
		if (strlen(names[i]) == arg->str.len &&
		    strncasecmp(names[i], (const char *)arg->str.ptr, arg->str.len) == 0)
			return 0; /* the same keyword twice */
	if (*count >= STORE_MAX_KEYWORDS) {
		*error_r = "Too many keywords.";
		return -1;
	}
	char *name = arena_alloc(a, arg->str.len + 1);
	memcpy(name, arg->str.ptr, arg->str.len);
	name[arg->str.len] = '\0';
	names[(*count)++] = name;
	return 0;
}

int imap_flags_parse(struct arena *a, const struct imap_arg *args, size_t count, uint32_t *flags_r,
		     struct store_keywords *keywords_r, const char **error_r)
{
	if (count == 1 && args[0].type == IMAP_ARG_LIST) {
		count = args[0].count;
		args = args[0].list;
	}
	const char **names = arena_alloc(a, STORE_MAX_KEYWORDS * sizeof(*names));
	size_t n = 0;
	*flags_r = 0;
	for (size_t i = 0; i < count; i++)
		if (parse_one(a, &args[i], flags_r, names, &n, error_r) < 0)
			return -1;
	keywords_r->names = names;
	keywords_r->count = n;
	return 0;
}

/* ------------------------------------------------------------------ sync */

struct sync_ctx {
	struct imap_job *j;
	struct store_view *v;
	const uint32_t *silent;
	size_t silent_count;
};

static void expunged_cb(void *ctx, uint32_t seq, uint32_t uid)
{
	(void)uid;
	struct sync_ctx *sc = ctx;
	imap_job_untagged(sc->j, "%u EXPUNGE", seq);
}

static void exists_cb(void *ctx, uint32_t count, uint32_t recent)
{
	struct sync_ctx *sc = ctx;
	imap_job_untagged(sc->j, "%u EXISTS", count);
	imap_job_untagged(sc->j, "%u RECENT", recent);
}

static int uid_cmp(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return (x > y) - (x < y);
}

static void flags_cb(void *ctx, uint32_t seq, uint32_t uid, uint32_t flags, uint64_t keywords,
		     uint64_t modseq)
{
	(void)modseq;
	struct sync_ctx *sc = ctx;
	if (sc->silent != NULL && bsearch(&uid, sc->silent, sc->silent_count, sizeof(uid), uid_cmp))
		return;
	struct buf *out = &sc->j->step.out;
	buf_printf(out, "* %u FETCH (FLAGS ", seq);
	imap_flags_write(out, sc->v, seq, flags, keywords);
	/* Clients that keep UIDs (every real one) can place the change
	   without asking: Dovecot adds UID here too. */
	buf_printf(out, " UID %u)\r\n", uid);
}

int imap_sync(struct imap_job *j, bool expunges, const uint32_t *silent, size_t silent_count)
{
	struct imap_session *s = j->s;
	if (s->view == NULL)
		return STORE_OK;
	static const struct store_sync_cb cb = { expunged_cb, exists_cb, flags_cb };
	struct sync_ctx sc = { j, s->view, silent, silent_count };
	char *error = NULL;
	int ret = store_view_sync(s->view, expunges, &cb, &sc, &error);
	free(error);
	if (ret == STORE_ERR_GONE) {
		/* Deleted or recreated under us: the sequence numbers the
		   client holds mean nothing any more (Dovecot does the same). */
		imap_job_untagged(j, "BYE Selected mailbox was deleted, have to disconnect.");
		j->step.close_after = true;
	}
	return ret;
}
