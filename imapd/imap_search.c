#include "imapd/imap_search.h"

#include <stdbool.h>
#include <string.h>

#include "common/utf8.h"
#include "imapd/imap_date.h"
#include "imapd/imap_seqset.h"


enum text_charset {
	CHARSET_DEFAULT, /* none given: UTF-8, which US-ASCII clients also satisfy */
	CHARSET_UTF8,
	CHARSET_US_ASCII,
};

struct parser {
	struct arena *arena;
	const struct imap_search_context *ctx;
	enum text_charset charset;
	unsigned int depth;
	const char *error;
};

/* The arguments of one level (the command's, or one parenthesised list's),
   read left to right. */
struct cursor {
	const struct imap_arg *args;
	size_t count, pos;
};

enum key_syntax {
	KEY_PLAIN,    /* no argument: the node is `kind` with `flags` */
	KEY_TEXT,     /* astring; HEADER shorthands carry `field` */
	KEY_HEADER,   /* header-fld-name SP astring */
	KEY_DATE,
	KEY_NUMBER,
	KEY_KEYWORD,
	KEY_UID_SET,
	KEY_NEW,
	KEY_OLD,
	KEY_NOT,
	KEY_OR,
};

struct search_key {
	const char *name;
	enum key_syntax syntax;
	enum store_search_kind kind;
	uint32_t flags;
	const char *field;
};

static const struct search_key search_keys[] = {
	{ "ALL", KEY_PLAIN, STORE_SEARCH_ALL, 0, NULL },
	{ "ANSWERED", KEY_PLAIN, STORE_SEARCH_FLAGS_SET, STORE_FLAG_ANSWERED, NULL },
	{ "BCC", KEY_TEXT, STORE_SEARCH_HEADER, 0, "Bcc" },
	{ "BEFORE", KEY_DATE, STORE_SEARCH_INTERNALDATE_BEFORE, 0, NULL },
	{ "BODY", KEY_TEXT, STORE_SEARCH_BODY, 0, NULL },
	{ "CC", KEY_TEXT, STORE_SEARCH_HEADER, 0, "Cc" },
	{ "DELETED", KEY_PLAIN, STORE_SEARCH_FLAGS_SET, STORE_FLAG_DELETED, NULL },
	{ "DRAFT", KEY_PLAIN, STORE_SEARCH_FLAGS_SET, STORE_FLAG_DRAFT, NULL },
	{ "FLAGGED", KEY_PLAIN, STORE_SEARCH_FLAGS_SET, STORE_FLAG_FLAGGED, NULL },
	{ "FROM", KEY_TEXT, STORE_SEARCH_HEADER, 0, "From" },
	{ "HEADER", KEY_HEADER, STORE_SEARCH_HEADER, 0, NULL },
	{ "KEYWORD", KEY_KEYWORD, STORE_SEARCH_FLAGS_SET, 0, NULL },
	{ "LARGER", KEY_NUMBER, STORE_SEARCH_LARGER, 0, NULL },
	{ "NEW", KEY_NEW, STORE_SEARCH_AND, 0, NULL },
	{ "NOT", KEY_NOT, STORE_SEARCH_NOT, 0, NULL },
	{ "OLD", KEY_OLD, STORE_SEARCH_NOT, 0, NULL },
	{ "ON", KEY_DATE, STORE_SEARCH_INTERNALDATE_ON, 0, NULL },
	{ "OR", KEY_OR, STORE_SEARCH_OR, 0, NULL },
	{ "RECENT", KEY_PLAIN, STORE_SEARCH_RECENT, 0, NULL },
	{ "SEEN", KEY_PLAIN, STORE_SEARCH_FLAGS_SET, STORE_FLAG_SEEN, NULL },
	{ "SENTBEFORE", KEY_DATE, STORE_SEARCH_SENTDATE_BEFORE, 0, NULL },
	{ "SENTON", KEY_DATE, STORE_SEARCH_SENTDATE_ON, 0, NULL },
	{ "SENTSINCE", KEY_DATE, STORE_SEARCH_SENTDATE_SINCE, 0, NULL },
	{ "SINCE", KEY_DATE, STORE_SEARCH_INTERNALDATE_SINCE, 0, NULL },
	{ "SMALLER", KEY_NUMBER, STORE_SEARCH_SMALLER, 0, NULL },
	{ "SUBJECT", KEY_TEXT, STORE_SEARCH_HEADER, 0, "Subject" },
	{ "TEXT", KEY_TEXT, STORE_SEARCH_TEXT, 0, NULL },
	{ "TO", KEY_TEXT, STORE_SEARCH_HEADER, 0, "To" },
	{ "UID", KEY_UID_SET, STORE_SEARCH_UIDS, 0, NULL },
	{ "UNANSWERED", KEY_PLAIN, STORE_SEARCH_FLAGS_UNSET, STORE_FLAG_ANSWERED, NULL },
	{ "UNDELETED", KEY_PLAIN, STORE_SEARCH_FLAGS_UNSET, STORE_FLAG_DELETED, NULL },
	{ "UNDRAFT", KEY_PLAIN, STORE_SEARCH_FLAGS_UNSET, STORE_FLAG_DRAFT, NULL },
	{ "UNFLAGGED", KEY_PLAIN, STORE_SEARCH_FLAGS_UNSET, STORE_FLAG_FLAGGED, NULL },
	{ "UNKEYWORD", KEY_KEYWORD, STORE_SEARCH_FLAGS_UNSET, 0, NULL },
	{ "UNSEEN", KEY_PLAIN, STORE_SEARCH_FLAGS_UNSET, STORE_FLAG_SEEN, NULL },
};

/* ------------------------------------------------------------ errors */

static int fail(struct parser *p, const char *error)
{
	if (p->error == NULL)
		p->error = error;
	return -1;
}

/* An error naming a key or argument. The text goes into "tag BAD ...", so
   whatever the client sent is cut short and kept to printable ASCII. */
static int fail_named(struct parser *p, const char *prefix, struct span name)
{
	enum { MAX_ECHO = 40 };
	size_t prefix_len = strlen(prefix);
	size_t n = name.len < MAX_ECHO ? name.len : MAX_ECHO;
	char *text = arena_alloc(p->arena, prefix_len + n + 4);
	memcpy(text, prefix, prefix_len);
	char *q = text + prefix_len;
	for (size_t i = 0; i < n; i++)
		*q++ = name.ptr[i] >= 0x20 && name.ptr[i] < 0x7f ? (char)name.ptr[i] : '?';
	if (n < name.len) {
		memcpy(q, "...", 3);
		q += 3;
	}
	*q = '\0';
	return fail(p, text);
}

static int fail_key(struct parser *p, const char *prefix, const char *key_name)
{
	return fail_named(p, prefix, span_cstr(key_name));
}

/* ----------------------------------------------------- argument syntax */

/* ATOM-CHAR: any CHAR except atom-specials. The tokenizer's atoms are
   wider (they admit '%', '*', '\', ']' and bracketed spaces). */
static bool is_atom_char(uint8_t c)
{
	return c > 0x20 && c < 0x7f && strchr("(){%*\"\\]", c) == NULL;
}

/* ASTRING-CHAR = ATOM-CHAR / resp-specials */
static bool is_astring_char(uint8_t c)
{
	return c == ']' || is_atom_char(c);
}

static bool all_chars(struct span s, bool (*ok)(uint8_t))
{
	for (size_t i = 0; i < s.len; i++)
		if (!ok(s.ptr[i]))
			return false;
	return true;
}

/* field-name = 1*ftext (RFC 5322): printable ASCII but ':'. */
static bool is_field_name_char(uint8_t c)
{
	return c > 0x20 && c < 0x7f && c != ':';
}

/* The argument of the key just read. */
static const struct imap_arg *next_arg(struct parser *p, struct cursor *cur, const char *key_name)
{
	if (cur->pos >= cur->count) {
		fail_key(p, "Missing argument for ", key_name);
		return NULL;
	}
	return &cur->args[cur->pos++];
}

/* The bytes of an astring argument, checked against the charset. */
static int read_astring(struct parser *p, struct cursor *cur, const struct search_key *key,
			struct span *value_r)
{
	const struct imap_arg *arg = next_arg(p, cur, key->name);
	if (arg == NULL)
		return -1;
	if (arg->type == IMAP_ARG_LIST)
		return fail_key(p, "Expected a string after ", key->name);
	if (arg->type == IMAP_ARG_ATOM && !all_chars(arg->str, is_astring_char))
		return fail_key(p, "Invalid characters in atom after ", key->name);
	struct span s = arg->str;
	if (memchr(s.ptr, '\0', s.len) != NULL)
		return fail(p, "NUL in search text");
	if (p->charset == CHARSET_US_ASCII) {
		for (size_t i = 0; i < s.len; i++)
			if (s.ptr[i] >= 0x80)
				return fail(p, "8-bit text with CHARSET US-ASCII");
	} else if (!utf8_valid(s.ptr, s.len)) {
		return fail(p, "Invalid UTF-8 in search text");
	}
	*value_r = s;
	return 0;
}

static int read_text(struct parser *p, struct cursor *cur, const struct search_key *key,
		     const char **text_r)
{
	struct span s;
	if (read_astring(p, cur, key, &s) < 0)
		return -1;
	*text_r = arena_memdup(p->arena, s.ptr, s.len);
	return 0;
}

/* --------------------------------------------------------------- dates */

/* date = date-text / DQUOTE date-text DQUOTE: an atom or a quoted string,
   never a literal. */
static int read_date(struct parser *p, struct cursor *cur, const struct search_key *key,
		     int64_t *seconds_r)
{
	const struct imap_arg *arg = next_arg(p, cur, key->name);
	if (arg == NULL)
		return -1;
	if ((arg->type != IMAP_ARG_ATOM && arg->type != IMAP_ARG_QUOTED) ||
	    !imap_date_parse(arg->str, seconds_r))
		return fail(p, "Invalid date");
	return 0;
}

/* ---------------------------------------------------- other arguments */

/* number = 1*DIGIT, unsigned 32-bit. */
static int read_number(struct parser *p, struct cursor *cur, const struct search_key *key,
		       uint64_t *number_r)
{
	const struct imap_arg *arg = next_arg(p, cur, key->name);
	if (arg == NULL)
		return -1;
	if (arg->type != IMAP_ARG_ATOM || arg->str.len == 0)
		return fail(p, "Invalid number");
	uint64_t n = 0;
	for (size_t i = 0; i < arg->str.len; i++) {
		uint8_t c = arg->str.ptr[i];
		if (c < '0' || c > '9')
			return fail(p, "Invalid number");
		n = n * 10 + (c - '0');
		if (n > UINT32_MAX)
			return fail(p, "Number too large");
	}
	*number_r = n;
	return 0;
}

/* flag-keyword = atom. System flags have keys of their own. */
static int read_keyword(struct parser *p, struct cursor *cur, const struct search_key *key,
			struct store_keywords *keywords_r)
{
	const struct imap_arg *arg = next_arg(p, cur, key->name);
	if (arg == NULL)
		return -1;
	if (arg->type != IMAP_ARG_ATOM)
		return fail_key(p, "Expected a keyword atom after ", key->name);
	if (arg->str.len > 0 && arg->str.ptr[0] == '\\')
		return fail(p, "System flags are not keywords");
	if (!all_chars(arg->str, is_atom_char))
		return fail_named(p, "Invalid keyword: ", arg->str);
	const char **names = arena_alloc(p->arena, sizeof(*names));
	names[0] = arena_memdup(p->arena, arg->str.ptr, arg->str.len);
	keywords_r->names = names;
	keywords_r->count = 1;
	return 0;
}

static struct store_search *new_nodes(struct parser *p, size_t n)
{
	struct store_search *nodes = arena_alloc(p->arena, n * sizeof(*nodes));
	memset(nodes, 0, n * sizeof(*nodes));
	return nodes;
}

static int read_uid_set(struct parser *p, struct cursor *cur, const struct search_key *key,
			struct store_search *out)
{
	const struct imap_arg *arg = next_arg(p, cur, key->name);
	if (arg == NULL)
		return -1;
	struct imap_seqset set;
	if (arg->type != IMAP_ARG_ATOM ||
	    imap_seqset_parse(p->arena, arg->str, p->ctx->max_uid, &set) < 0)
		return fail(p, "Invalid UID set");
	struct store_uid_range *ranges = arena_alloc(p->arena, set.count * sizeof(*ranges));
	for (size_t i = 0; i < set.count; i++)
		ranges[i] = (struct store_uid_range){ set.ranges[i].first, set.ranges[i].last };
	out->kind = STORE_SEARCH_UIDS;
	out->ranges = ranges;
	out->range_count = set.count;
	return 0;
}

/* A sequence-number set as UID ranges: UIDs ascend with sequence numbers,
   so seq range a:b is exactly UID range uid(a):uid(b) once clamped to the
   messages that exist. */
static int seqset_to_uids(struct parser *p, struct span text, struct store_search *out)
{
	const struct imap_search_context *ctx = p->ctx;
	struct imap_seqset set;
	if (imap_seqset_parse(p->arena, text, ctx->messages, &set) < 0)
		return fail(p, "Invalid sequence set");
	struct store_uid_range *ranges = arena_alloc(p->arena, set.count * sizeof(*ranges));
	size_t n = 0;
	/* With no messages '*' was 0: nothing exists to match. Otherwise every
	   number is at least 1. */
	for (size_t i = 0; i < set.count && ctx->messages > 0; i++) {
		uint32_t first = set.ranges[i].first, last = set.ranges[i].last;
		if (first > ctx->messages)
			break; /* sorted: the rest lies beyond too */
		if (last > ctx->messages)
			last = ctx->messages;
		ranges[n++] = (struct store_uid_range){ ctx->seq_to_uid(ctx->ctx, first),
							ctx->seq_to_uid(ctx->ctx, last) };
	}
	out->kind = STORE_SEARCH_UIDS;
	out->ranges = ranges;
	out->range_count = n;
	return 0;
}

/* ---------------------------------------------------------------- keys */

static int parse_key(struct parser *p, struct cursor *cur, struct store_search *out);

/* All keys left in `cur`, ANDed; a single key stands for itself. */
static int parse_keys(struct parser *p, struct cursor *cur, struct store_search *out)
{
	/* Every key is one argument or more, so there are at most this many. */
	size_t max = cur->count - cur->pos;
	struct store_search *children = new_nodes(p, max);
	size_t n = 0;
	while (cur->pos < cur->count)
		if (parse_key(p, cur, &children[n++]) < 0)
			return -1;
	if (n == 1) {
		*out = children[0];
		return 0;
	}
	out->kind = STORE_SEARCH_AND;
	out->children = children;
	out->child_count = n;
	return 0;
}

static int parse_list(struct parser *p, const struct imap_arg *list, struct store_search *out)
{
	if (list->count == 0)
		return fail(p, "Empty list in search");
	struct cursor inner = { list->list, list->count, 0 };
	return parse_keys(p, &inner, out);
}

/* NEW = RECENT UNSEEN; OLD = NOT RECENT */
static void build_new(struct parser *p, struct store_search *out)
{
	struct store_search *c = new_nodes(p, 2);
	c[0].kind = STORE_SEARCH_RECENT;
	c[1].kind = STORE_SEARCH_FLAGS_UNSET;
	c[1].flags = STORE_FLAG_SEEN;
	out->kind = STORE_SEARCH_AND;
	out->children = c;
	out->child_count = 2;
}

static void build_old(struct parser *p, struct store_search *out)
{
	struct store_search *c = new_nodes(p, 1);
	c[0].kind = STORE_SEARCH_RECENT;
	out->kind = STORE_SEARCH_NOT;
	out->children = c;
	out->child_count = 1;
}

/* NOT and OR: `n` keys follow. */
static int parse_operands(struct parser *p, struct cursor *cur, const struct search_key *key,
			  size_t n, struct store_search *out)
{
	struct store_search *c = new_nodes(p, n);
	for (size_t i = 0; i < n; i++) {
		if (cur->pos >= cur->count)
			return fail_key(p, "Missing argument for ", key->name);
		if (parse_key(p, cur, &c[i]) < 0)
			return -1;
	}
	out->kind = key->kind;
	out->children = c;
	out->child_count = n;
	return 0;
}

static int parse_known_key(struct parser *p, struct cursor *cur, const struct search_key *key,
			   struct store_search *out)
{
	out->kind = key->kind;
	switch (key->syntax) {
	case KEY_PLAIN:
		out->flags = key->flags;
		return 0;
	case KEY_TEXT:
		out->field = key->field;
		return read_text(p, cur, key, &out->text);
	case KEY_HEADER: {
		struct span field;
		if (read_astring(p, cur, key, &field) < 0)
			return -1;
		if (field.len == 0 || !all_chars(field, is_field_name_char))
			return fail(p, "Invalid header field name");
		out->field = arena_memdup(p->arena, field.ptr, field.len);
		return read_text(p, cur, key, &out->text);
	}
	case KEY_DATE:
		return read_date(p, cur, key, &out->date);
	case KEY_NUMBER:
		return read_number(p, cur, key, &out->number);
	case KEY_KEYWORD:
		return read_keyword(p, cur, key, &out->keywords);
	case KEY_UID_SET:
		return read_uid_set(p, cur, key, out);
	case KEY_NEW:
		build_new(p, out);
		return 0;
	case KEY_OLD:
		build_old(p, out);
		return 0;
	case KEY_NOT:
		return parse_operands(p, cur, key, 1, out);
	case KEY_OR:
		return parse_operands(p, cur, key, 2, out);
	}
	return fail(p, "Internal error");
}

static const struct search_key *find_key(struct span name)
{
	for (size_t i = 0; i < sizeof(search_keys) / sizeof(search_keys[0]); i++)
		if (span_eq_ci(name, search_keys[i].name))
			return &search_keys[i];
	return NULL;
}

static int parse_key_here(struct parser *p, struct cursor *cur, struct store_search *out)
{
	const struct imap_arg *arg = &cur->args[cur->pos++];
	if (arg->type == IMAP_ARG_LIST)
		return parse_list(p, arg, out);
	if (arg->type != IMAP_ARG_ATOM)
		return fail(p, "Expected a search key, not a string");
	const struct search_key *key = find_key(arg->str);
	if (key != NULL)
		return parse_known_key(p, cur, key, out);
	uint8_t c = arg->str.len > 0 ? arg->str.ptr[0] : 0;
	if ((c >= '0' && c <= '9') || c == '*')
		return seqset_to_uids(p, arg->str, out);
	return fail_named(p, "Unknown search key: ", arg->str);
}

/* One search-key at cur->pos (the caller checked there is one). Every NOT,
   OR and list goes one level deeper; the bound keeps "NOT NOT NOT ..." and
   "OR OR OR ..." from exhausting the stack. */
static int parse_key(struct parser *p, struct cursor *cur, struct store_search *out)
{
	if (p->depth >= IMAP_SEARCH_MAX_DEPTH)
		return fail(p, "Search too complex");
	p->depth++;
	int ret = parse_key_here(p, cur, out);
	p->depth--;
	return ret;
}

/* [CHARSET SP astring SP]; 1 when the charset is not one we know. */
static int parse_charset(struct parser *p, struct cursor *cur)
{
	const struct imap_arg *first = &cur->args[cur->pos];
	if (first->type != IMAP_ARG_ATOM || !span_eq_ci(first->str, "CHARSET"))
		return 0;
	cur->pos++;
	const struct imap_arg *arg = next_arg(p, cur, "CHARSET");
	if (arg == NULL)
		return -1;
	if (arg->type == IMAP_ARG_LIST)
		return fail_key(p, "Expected a string after ", "CHARSET");
	if (span_eq_ci(arg->str, "UTF-8"))
		p->charset = CHARSET_UTF8;
	else if (span_eq_ci(arg->str, "US-ASCII"))
		p->charset = CHARSET_US_ASCII;
	else
		return 1;
	return 0;
}

/* The whole argument list: [CHARSET x] search-key *(SP search-key). */
static int parse_search(struct parser *p, struct cursor *cur, struct store_search **root_r)
{
	if (cur->pos >= cur->count)
		return fail(p, "Missing search criteria");
	struct store_search *root = new_nodes(p, 1);
	if (parse_keys(p, cur, root) < 0)
		return -1;
	*root_r = root;
	return 0;
}

enum imap_search_result imap_search_parse(struct arena *a, const struct imap_arg *args,
					  size_t count, const struct imap_search_context *ctx,
					  struct store_search **out, const char **error_r)
{
	struct parser p = { .arena = a, .ctx = ctx, .charset = CHARSET_DEFAULT };
	struct cursor cur = { args, count, 0 };
	*out = NULL;
	*error_r = NULL;
	int charset = count > 0 ? parse_charset(&p, &cur) : 0;
	if (charset > 0) {
		*error_r = "Unsupported charset";
		return IMAP_SEARCH_BADCHARSET;
	}
	if (charset < 0 || parse_search(&p, &cur, out) < 0) {
		*error_r = p.error != NULL ? p.error : "Invalid search";
		return IMAP_SEARCH_BAD;
	}
	return IMAP_SEARCH_OK;
}
