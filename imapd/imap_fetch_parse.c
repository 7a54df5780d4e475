/*
 * FETCH data items (RFC 3501 6.4.5, grammar in section 9):
 *
 *   fetch-att  = "ENVELOPE" / "FLAGS" / "INTERNALDATE" /
 *                "RFC822" [".HEADER" / ".SIZE" / ".TEXT"] /
 *                "BODY" ["STRUCTURE"] / "UID" /
 *                "BODY" section ["<" number "." nz-number ">"] /
 *                "BODY.PEEK" section ["<" number "." nz-number ">"]
 *   section    = "[" [section-spec] "]"
 *   section-spec = section-msgtext / (section-part ["." section-text])
 *   section-msgtext = "HEADER" / "HEADER.FIELDS" [".NOT"] SP header-list / "TEXT"
 *   section-part = nz-number *("." nz-number)
 *   section-text = section-msgtext / "MIME"
 *   header-list = "(" header-fld-name *(SP header-fld-name) ")"
 *
 * The tokenizer hands over "BODY.PEEK[HEADER.FIELDS (From "X-A")]<0.10>"
 * as one atom, so the section is parsed here from its bytes. The grammar is
 * followed strictly (part numbers and partial lengths are nz-numbers, all
 * numbers fit 32 bits, <origin> alone is refused), with one leniency that
 * Dovecot has too: around and inside the header list, runs of spaces count
 * as one and spaces after "(" or before ")" are ignored. The echo in
 * struct imap_section.spec is normalised whatever the client sent.
 */
#include "imapd/imap_fetch.h"

#include <stdio.h>
#include <string.h>

/* A read position inside one atom. */
struct cursor {
	const uint8_t *p, *end;
};

static bool cursor_at(const struct cursor *c, uint8_t ch)
{
	return c->p < c->end && *c->p == ch;
}

static bool cursor_at_digit(const struct cursor *c)
{
	return c->p < c->end && *c->p >= '0' && *c->p <= '9';
}

/* Consumes `word` (ASCII, any case) if the input continues with it. */
static bool cursor_take_ci(struct cursor *c, const char *word)
{
	struct span rest = span_make(c->p, (size_t)(c->end - c->p));
	if (!span_has_prefix_ci(rest, word))
		return false;
	c->p += strlen(word);
	return true;
}

static void cursor_skip_spaces(struct cursor *c)
{
	while (cursor_at(c, ' '))
		c->p++;
}

static int fail(const char **error_r, const char *error)
{
	*error_r = error;
	return -1;
}

/* number = 1*DIGIT, nz-number = digit-nz *DIGIT; both below 2^32. */
static int parse_number(struct cursor *c, bool nonzero, uint32_t *value_r, const char **error_r,
			const char *invalid, const char *too_large)
{
	if (!cursor_at_digit(c) || (nonzero && *c->p == '0'))
		return fail(error_r, invalid);
	uint64_t value = 0;
	while (cursor_at_digit(c)) {
		value = value * 10 + (uint64_t)(*c->p - '0');
		if (value > UINT32_MAX)
			return fail(error_r, too_large);
		c->p++;
	}
	*value_r = (uint32_t)value;
	return 0;
}

/* ------------------------------------------------------------ sections */

/* Reads "1.2.3" and says whether a section text follows ("1.2.MIME"). At
   the start of the section a text follows unless the section is empty. */
static int parse_part_path(struct cursor *c, struct arena *a, struct imap_section *sec,
			   bool *text_follows_r, const char **error_r)
{
	uint32_t path[IMAP_SECTION_MAX_DEPTH];
	size_t depth = 0;

	*text_follows_r = !cursor_at(c, ']');
	while (cursor_at_digit(c)) {
		if (depth == IMAP_SECTION_MAX_DEPTH)
			return fail(error_r, "Section part path too deep");
		if (parse_number(c, true, &path[depth], error_r, "Invalid section part number",
				 "Section part number too large") < 0)
			return -1;
		depth++;
		*text_follows_r = false;
		if (!cursor_at(c, '.'))
			break;
		c->p++;
		*text_follows_r = !cursor_at_digit(c);
	}
	sec->depth = depth;
	sec->path = depth > 0 ? arena_memdup(a, path, depth * sizeof(path[0])) : NULL;
	return 0;
}

/* Field-name atoms: ASTRING-CHAR without ']' (it would close the section)
   and without what never belongs in an atom. */
static bool is_field_atom_char(uint8_t ch)
{
	return ch > 0x20 && ch < 0x7f && strchr("(){\"\\%*]", ch) == NULL;
}

static const char *parse_field_atom(struct cursor *c, struct arena *a)
{
	const uint8_t *start = c->p;
	while (c->p < c->end && is_field_atom_char(*c->p))
		c->p++;
	if (c->p == start)
		return NULL;
	char *name = arena_alloc(a, (size_t)(c->p - start) + 1);
	memcpy(name, start, (size_t)(c->p - start));
	name[c->p - start] = '\0';
	return name;
}

/* A quoted string, unescaped. The tokenizer already refused control and
   8-bit bytes inside brackets; refuse them again, the caller may not be
   the tokenizer. Measured first so the copy takes only what it needs. */
static const char *parse_field_quoted(struct cursor *c, struct arena *a)
{
	const uint8_t *start = c->p + 1, *q = start;
	size_t len = 0;
	for (;; len++) {
		if (q == c->end || *q < 0x20 || *q >= 0x7f)
			return NULL;
		if (*q == '"')
			break;
		if (*q == '\\') {
			q++;
			if (q == c->end || (*q != '"' && *q != '\\'))
				return NULL;
		}
		q++;
	}
	char *name = arena_alloc(a, len + 1);
	size_t n = 0;
	for (const uint8_t *s = start; s < q; s++) {
		if (*s == '\\')
			s++;
		name[n++] = (char)*s;
	}
	name[n] = '\0';
	c->p = q + 1;
	return name;
}

/* Field names and whether each was quoted (echoed quoted), in arrays that
   double in the arena: the count is not known before the end. */
struct field_list {
	const char **names;
	bool *quoted;
	size_t count, cap;
};

static int field_list_add(struct arena *a, struct field_list *fl, const char *name, bool quoted,
			  const char **error_r)
{
	if (fl->count == IMAP_SECTION_MAX_FIELDS)
		return fail(error_r, "Too many header fields in section");
	if (fl->count == fl->cap) {
		size_t cap = fl->cap == 0 ? 8 : fl->cap * 2;
		const char **names = arena_alloc(a, cap * sizeof(*names));
		bool *q = arena_alloc(a, cap * sizeof(*q));
		if (fl->count > 0) {
			memcpy(names, fl->names, fl->count * sizeof(*names));
			memcpy(q, fl->quoted, fl->count * sizeof(*q));
		}
		fl->names = names;
		fl->quoted = q;
		fl->cap = cap;
	}
	fl->names[fl->count] = name;
	fl->quoted[fl->count] = quoted;
	fl->count++;
	return 0;
}

/* SP header-list: " (From To "X-Spam")" */
static int parse_header_list(struct cursor *c, struct arena *a, struct field_list *fl,
			     const char **error_r)
{
	if (!cursor_at(c, ' '))
		return fail(error_r, cursor_at(c, ']') ? "Missing header field list in section" :
							 "Invalid section");
	cursor_skip_spaces(c);
	if (!cursor_at(c, '('))
		return fail(error_r, "Missing header field list in section");
	c->p++;
	cursor_skip_spaces(c);
	if (cursor_at(c, ')'))
		return fail(error_r, "Empty header field list in section");
	while (!cursor_at(c, ')')) {
		bool quoted = cursor_at(c, '"');
		const char *name = quoted ? parse_field_quoted(c, a) : parse_field_atom(c, a);
		if (name == NULL)
			return fail(error_r, "Invalid header field name in section");
		if (field_list_add(a, fl, name, quoted, error_r) < 0)
			return -1;
		if (!cursor_at(c, ' ') && !cursor_at(c, ')'))
			return fail(error_r, "Invalid header field name in section");
		cursor_skip_spaces(c);
	}
	c->p++; /* ')' */
	return 0;
}

/* section-text after the part path (or section-msgtext without one). */
static int parse_section_text(struct cursor *c, struct arena *a, struct imap_section *sec,
			      struct field_list *fl, const char **error_r)
{
	if (cursor_take_ci(c, "HEADER.FIELDS.NOT"))
		sec->text = IMAP_SECTION_HEADER_FIELDS_NOT;
	else if (cursor_take_ci(c, "HEADER.FIELDS"))
		sec->text = IMAP_SECTION_HEADER_FIELDS;
	else if (cursor_take_ci(c, "HEADER"))
		sec->text = IMAP_SECTION_HEADER;
	else if (cursor_take_ci(c, "TEXT"))
		sec->text = IMAP_SECTION_TEXT;
	else if (cursor_take_ci(c, "MIME"))
		sec->text = IMAP_SECTION_MIME;
	else
		return fail(error_r, "Invalid section");

	/* RFC 3501: MIME is the MIME header of a part; the message has none */
	if (sec->text == IMAP_SECTION_MIME && sec->depth == 0)
		return fail(error_r, "Section MIME needs a part number");
	if (sec->text == IMAP_SECTION_HEADER_FIELDS || sec->text == IMAP_SECTION_HEADER_FIELDS_NOT) {
		if (parse_header_list(c, a, fl, error_r) < 0)
			return -1;
		sec->fields = fl->names;
		sec->field_count = fl->count;
	}
	return 0;
}

/* "<" number "." nz-number ">" after the section, or nothing. */
static int parse_partial(struct cursor *c, struct imap_section *sec, const char **error_r)
{
	if (c->p == c->end)
		return 0;
	if (!cursor_at(c, '<'))
		return fail(error_r, "Unexpected data after section");
	c->p++;
	if (parse_number(c, false, &sec->origin, error_r, "Invalid partial",
			 "Partial origin too large") < 0)
		return -1;
	if (!cursor_at(c, '.'))
		return fail(error_r, "Partial needs <origin.length>");
	c->p++;
	if (parse_number(c, true, &sec->length, error_r, "Invalid partial length",
			 "Partial length too large") < 0)
		return -1;
	if (!cursor_at(c, '>') || c->p + 1 != c->end)
		return fail(error_r, "Invalid partial");
	sec->partial = true;
	return 0;
}

/* ------------------------------------------------------- section echo */

static size_t put(char *out, size_t n, const char *s, size_t len)
{
	if (out != NULL)
		memcpy(out + n, s, len);
	return n + len;
}

static size_t put_upper(char *out, size_t n, const char *s, bool quoted)
{
	if (quoted)
		n = put(out, n, "\"", 1);
	for (; *s != '\0'; s++) {
		char ch = *s >= 'a' && *s <= 'z' ? (char)(*s - 'a' + 'A') : *s;
		if (quoted && (ch == '"' || ch == '\\'))
			n = put(out, n, "\\", 1);
		n = put(out, n, &ch, 1);
	}
	if (quoted)
		n = put(out, n, "\"", 1);
	return n;
}

static const char *const section_text_names[] = {
	[IMAP_SECTION_ALL] = "",
	[IMAP_SECTION_HEADER] = "HEADER",
	[IMAP_SECTION_HEADER_FIELDS] = "HEADER.FIELDS",
	[IMAP_SECTION_HEADER_FIELDS_NOT] = "HEADER.FIELDS.NOT",
	[IMAP_SECTION_TEXT] = "TEXT",
	[IMAP_SECTION_MIME] = "MIME",
};

/* Writes the echo text into out (or only measures it with out NULL);
   returns its length. */
static size_t render_spec(const struct imap_section *sec, const bool *quoted, char *out)
{
	size_t n = 0;
	for (size_t i = 0; i < sec->depth; i++) {
		char num[16];
		int len = snprintf(num, sizeof(num), i > 0 ? ".%u" : "%u", (unsigned int)sec->path[i]);
		n = put(out, n, num, (size_t)len);
	}
	const char *text = section_text_names[sec->text];
	if (*text != '\0') {
		if (sec->depth > 0)
			n = put(out, n, ".", 1);
		n = put(out, n, text, strlen(text));
	}
	if (sec->field_count > 0) {
		n = put(out, n, " (", 2);
		for (size_t i = 0; i < sec->field_count; i++) {
			if (i > 0)
				n = put(out, n, " ", 1);
			n = put_upper(out, n, sec->fields[i], quoted[i]);
		}
		n = put(out, n, ")", 1);
	}
	return n;
}

static void set_spec(struct arena *a, struct imap_section *sec, const bool *quoted)
{
	size_t len = render_spec(sec, quoted, NULL);
	char *text = arena_alloc(a, len + 1);
	render_spec(sec, quoted, text);
	text[len] = '\0';
	sec->spec = span_make(text, len);
}

/* The atom from the '[' on: "[1.HEADER]<0.10>". */
static int parse_section_atom(struct arena *a, struct span rest, struct imap_section *sec,
			      const char **error_r)
{
	struct cursor c = { rest.ptr + 1, rest.ptr + rest.len };
	struct field_list fl = { 0 };
	bool text_follows;

	if (parse_part_path(&c, a, sec, &text_follows, error_r) < 0)
		return -1;
	sec->text = IMAP_SECTION_ALL;
	if (text_follows && parse_section_text(&c, a, sec, &fl, error_r) < 0)
		return -1;
	if (!cursor_at(&c, ']'))
		return fail(error_r, "Invalid section");
	c.p++;
	if (parse_partial(&c, sec, error_r) < 0)
		return -1;
	set_spec(a, sec, fl.quoted);
	return 0;
}

/* --------------------------------------------------------------- items */

struct item_name {
	const char *name;
	unsigned int items;
};

static const struct item_name plain_items[] = {
	{ "UID", IMAP_FETCH_UID },
	{ "FLAGS", IMAP_FETCH_FLAGS },
	{ "INTERNALDATE", IMAP_FETCH_INTERNALDATE },
	{ "RFC822.SIZE", IMAP_FETCH_RFC822_SIZE },
	{ "ENVELOPE", IMAP_FETCH_ENVELOPE },
	{ "BODY", IMAP_FETCH_BODY },
	{ "BODYSTRUCTURE", IMAP_FETCH_BODYSTRUCTURE },
	{ "RFC822", IMAP_FETCH_RFC822 },
	{ "RFC822.HEADER", IMAP_FETCH_RFC822_HEADER },
	{ "RFC822.TEXT", IMAP_FETCH_RFC822_TEXT },
};

#define FETCH_ALL_ITEMS \
	(IMAP_FETCH_FLAGS | IMAP_FETCH_INTERNALDATE | IMAP_FETCH_RFC822_SIZE | IMAP_FETCH_ENVELOPE)

static const struct item_name macros[] = {
	{ "ALL", FETCH_ALL_ITEMS },
	{ "FAST", IMAP_FETCH_FLAGS | IMAP_FETCH_INTERNALDATE | IMAP_FETCH_RFC822_SIZE },
	{ "FULL", FETCH_ALL_ITEMS | IMAP_FETCH_BODY },
};

static bool lookup_name(const struct item_name *table, size_t count, struct span name,
			unsigned int *items_r)
{
	for (size_t i = 0; i < count; i++) {
		if (span_eq_ci(name, table[i].name)) {
			*items_r = table[i].items;
			return true;
		}
	}
	return false;
}

static bool section_needs_structure(const struct imap_section *sec)
{
	return sec->depth > 0 || sec->text != IMAP_SECTION_ALL;
}

static int parse_section_item(struct arena *a, struct span atom, struct imap_fetch_request *out,
			      const char **error_r)
{
	struct imap_section *sec = &out->sections[out->section_count];
	memset(sec, 0, sizeof(*sec));
	size_t prefix;
	if (span_has_prefix_ci(atom, "BODY.PEEK[")) {
		sec->peek = true;
		prefix = strlen("BODY.PEEK");
	} else if (span_has_prefix_ci(atom, "BODY[")) {
		prefix = strlen("BODY");
	} else {
		return fail(error_r, "Unknown FETCH item");
	}
	if (parse_section_atom(a, span_make(atom.ptr + prefix, atom.len - prefix), sec, error_r) < 0)
		return -1;
	out->section_count++;
	out->sets_seen |= !sec->peek;
	out->needs_structure |= section_needs_structure(sec);
	return 0;
}

static int parse_item(struct arena *a, const struct imap_arg *arg, struct imap_fetch_request *out,
		      const char **error_r)
{
	unsigned int items;
	if (arg->type != IMAP_ARG_ATOM)
		return fail(error_r, "Invalid FETCH item");
	if (memchr(arg->str.ptr, '[', arg->str.len) != NULL)
		return parse_section_item(a, arg->str, out, error_r);
	if (lookup_name(macros, sizeof(macros) / sizeof(macros[0]), arg->str, &items))
		return fail(error_r, "FETCH macros ALL, FAST and FULL must stand alone");
	if (!lookup_name(plain_items, sizeof(plain_items) / sizeof(plain_items[0]), arg->str, &items))
		return fail(error_r, "Unknown FETCH item");
	out->items |= items;
	out->sets_seen |= (items & (IMAP_FETCH_RFC822 | IMAP_FETCH_RFC822_TEXT)) != 0;
	return 0;
}

static const unsigned int structure_items = IMAP_FETCH_ENVELOPE | IMAP_FETCH_BODY |
					    IMAP_FETCH_BODYSTRUCTURE | IMAP_FETCH_RFC822_HEADER |
					    IMAP_FETCH_RFC822_TEXT;

int imap_fetch_parse(struct arena *a, const struct imap_arg *args, size_t count, bool uid_command,
		     struct imap_fetch_request *out, const char **error_r)
{
	memset(out, 0, sizeof(*out));
	if (count == 0)
		return fail(error_r, "Missing FETCH items");
	if (count > 1)
		return fail(error_r, "Unexpected arguments after FETCH items");

	const struct imap_arg *list = args;
	size_t n = 1;
	if (args[0].type == IMAP_ARG_LIST) {
		list = args[0].list;
		n = args[0].count;
		if (n == 0)
			return fail(error_r, "Missing FETCH items");
	}
	/* A macro alone, also as "(FAST)": not in RFC 3501's grammar, but
	   harmless to accept, and scripts write it (Python's imaplib passes
	   the caller's text as is). */
	if (n == 1 && list[0].type == IMAP_ARG_ATOM &&
	    lookup_name(macros, sizeof(macros) / sizeof(macros[0]), list[0].str, &out->items))
		n = 0;
	if (n > 0)
		out->sections = arena_alloc(a, n * sizeof(*out->sections));
	for (size_t i = 0; i < n; i++)
		if (parse_item(a, &list[i], out, error_r) < 0)
			return -1;
	if (uid_command)
		out->items |= IMAP_FETCH_UID;
	out->needs_structure |= (out->items & structure_items) != 0;
	return 0;
}
