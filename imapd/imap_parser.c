#include "imapd/imap_parser.h"

#include <string.h>

struct parser {
	const uint8_t *p;
	const uint8_t *end; /* points at the final CRLF */
	struct arena *arena;
	const struct imap_parse_limits *limits;
	unsigned int args;
	const char *error;
};

/* tag = 1*<any ASTRING-CHAR except "+"> */
static bool is_tag_char(uint8_t c)
{
	return c > 0x20 && c < 0x7f && strchr("(){%*\"\\+", c) == NULL;
}

/* Deliberately wider than ATOM-CHAR: sequence sets use '*', LIST patterns
   '%' and '*', flags '\', and response-code-like atoms ']'. */
static bool is_atom_char(uint8_t c)
{
	return c > 0x20 && c < 0x7f && c != '(' && c != ')' && c != '{' && c != '"';
}

int imap_parse_tag(struct span wire, struct span *tag_r)
{
	size_t i = 0;
	while (i < wire.len && is_tag_char(wire.ptr[i]))
		i++;
	if (i == 0 || i >= wire.len || wire.ptr[i] != ' ')
		return -1;
	*tag_r = span_make(wire.ptr, i);
	return 0;
}

static bool at_end(const struct parser *ps)
{
	return ps->p == ps->end;
}

static int fail(struct parser *ps, const char *error)
{
	if (ps->error == NULL)
		ps->error = error;
	return -1;
}

static int parse_atom(struct parser *ps, struct imap_arg *arg)
{
	const uint8_t *start = ps->p;
	unsigned int brackets = 0;
	while (ps->p < ps->end) {
		uint8_t c = *ps->p;
		if (brackets > 0) {
			/* Inside [...] (FETCH sections) spaces, parentheses and
			   quotes belong to the atom. */
			if (c < 0x20 || c >= 0x7f)
				return fail(ps, "Invalid character in section");
			if (c == '[')
				brackets++;
			else if (c == ']')
				brackets--;
			ps->p++;
			continue;
		}
		if (!is_atom_char(c))
			break;
		if (c == '[')
			brackets++;
		ps->p++;
	}
	if (brackets > 0)
		return fail(ps, "Missing ']'");
	if (ps->p == start) {
		if (*ps->p >= 0x80)
			return fail(ps, "8-bit characters are allowed only in strings");
		return fail(ps, "Invalid character");
	}
	arg->type = IMAP_ARG_ATOM;
	arg->str = span_make(start, (size_t)(ps->p - start));
	return 0;
}

static int parse_quoted(struct parser *ps, struct imap_arg *arg)
{
	ps->p++; /* opening quote */
	const uint8_t *start = ps->p;
	size_t escapes = 0;
	for (;; ps->p++) {
		if (ps->p >= ps->end || *ps->p == '\r' || *ps->p == '\n')
			return fail(ps, "Unterminated quoted string");
		if (*ps->p == '\0')
			return fail(ps, "NUL in quoted string");
		if (*ps->p == '"')
			break;
		if (*ps->p == '\\') {
			ps->p++;
			if (ps->p >= ps->end || (*ps->p != '"' && *ps->p != '\\'))
				return fail(ps, "Invalid escape in quoted string");
			escapes++;
		}
	}
	size_t rawlen = (size_t)(ps->p - start);
	ps->p++; /* closing quote */
	arg->type = IMAP_ARG_QUOTED;
	if (escapes == 0) {
		arg->str = span_make(start, rawlen);
		return 0;
	}
	uint8_t *out = arena_alloc(ps->arena, rawlen - escapes + 1);
	size_t n = 0;
	for (size_t i = 0; i < rawlen; i++) {
		if (start[i] == '\\')
			i++;
		out[n++] = start[i];
	}
	out[n] = '\0';
	arg->str = span_make(out, n);
	return 0;
}

static int parse_literal(struct parser *ps, struct imap_arg *arg)
{
	ps->p++; /* '{' */
	uint64_t n = 0;
	const uint8_t *digits = ps->p;
	while (ps->p < ps->end && *ps->p >= '0' && *ps->p <= '9') {
		unsigned d = (unsigned)(*ps->p - '0');
		if (n > (UINT64_MAX - d) / 10)
			return fail(ps, "Literal size too large");
		n = n * 10 + d;
		ps->p++;
	}
	if (ps->p == digits)
		return fail(ps, "Invalid literal size");
	bool nonsync = false;
	if (ps->p < ps->end && *ps->p == '+') {
		nonsync = true;
		ps->p++;
	}
	/* The session only assembles a literal when "{n}" ends a line, so
	   anything else means "{" appeared somewhere it cannot. */
	if ((size_t)(ps->end - ps->p) < 3 || ps->p[0] != '}' || ps->p[1] != '\r' || ps->p[2] != '\n')
		return fail(ps, "Literal must end the line");
	ps->p += 3;
	if (n > (uint64_t)(ps->end - ps->p))
		return fail(ps, "Literal shorter than announced");
	arg->type = IMAP_ARG_LITERAL;
	arg->str = span_make(ps->p, (size_t)n);
	arg->literal_nonsync = nonsync;
	ps->p += n;
	return 0;
}

static int parse_list_items(struct parser *ps, unsigned int depth, bool in_list,
			    const struct imap_arg **items_r, size_t *count_r);

static int parse_arg(struct parser *ps, unsigned int depth, struct imap_arg *arg)
{
	memset(arg, 0, sizeof(*arg));
	if (++ps->args > ps->limits->max_args)
		return fail(ps, "Too many arguments");
	if (at_end(ps))
		return fail(ps, "Missing argument");
	switch (*ps->p) {
	case '(':
		if (depth >= ps->limits->max_depth)
			return fail(ps, "Lists nested too deeply");
		ps->p++;
		arg->type = IMAP_ARG_LIST;
		return parse_list_items(ps, depth + 1, true, &arg->list, &arg->count);
	case ')':
		return fail(ps, "Unexpected ')'");
	case '"':
		return parse_quoted(ps, arg);
	case '{':
		return parse_literal(ps, arg);
	case ' ':
		return fail(ps, "Unexpected space");
	default:
		return parse_atom(ps, arg);
	}
}

/* Parses "elem *(SP elem)" up to ')' (in a list) or the end of the command. */
static int parse_list_items(struct parser *ps, unsigned int depth, bool in_list,
			    const struct imap_arg **items_r, size_t *count_r)
{
	size_t count = 0, cap = 0;
	struct imap_arg *items = NULL;
	if (in_list && !at_end(ps) && *ps->p == ')') {
		ps->p++;
		*items_r = NULL;
		*count_r = 0;
		return 0;
	}
	for (;;) {
		if (count == cap) {
			/* Grow inside the arena; the old array is simply left
			   behind, which the command-size limit keeps small. */
			size_t ncap = cap == 0 ? 8 : cap * 2;
			struct imap_arg *bigger = arena_alloc(ps->arena, ncap * sizeof(*bigger));
			if (count > 0)
				memcpy(bigger, items, count * sizeof(*items));
			items = bigger;
			cap = ncap;
		}
		if (parse_arg(ps, depth, &items[count]) < 0)
			return -1;
		count++;
		if (at_end(ps)) {
			if (in_list)
				return fail(ps, "Missing ')'");
			break;
		}
		if (*ps->p == ')') {
			if (!in_list)
				return fail(ps, "Unexpected ')'");
			ps->p++;
			break;
		}
		if (*ps->p != ' ')
			return fail(ps, *ps->p >= 0x80 ? "8-bit characters are allowed only in strings" :
							 "Expected space between arguments");
		ps->p++;
	}
	*items_r = items;
	*count_r = count;
	return 0;
}

int imap_parse_command(struct arena *arena, struct span wire, const struct imap_parse_limits *limits,
		       struct imap_command_line *cmd_r, const char **error_r)
{
	memset(cmd_r, 0, sizeof(*cmd_r));
	if (wire.len < 2 || wire.ptr[wire.len - 2] != '\r' || wire.ptr[wire.len - 1] != '\n') {
		*error_r = "Missing CRLF";
		return -1;
	}
	struct parser ps = {
		.p = wire.ptr,
		.end = wire.ptr + wire.len - 2,
		.arena = arena,
		.limits = limits,
	};
	if (imap_parse_tag(wire, &cmd_r->tag) < 0) {
		*error_r = "Invalid tag";
		return -1;
	}
	ps.p += cmd_r->tag.len + 1;
	const uint8_t *name = ps.p;
	while (ps.p < ps.end && *ps.p >= 0x21 && *ps.p < 0x7f && is_atom_char(*ps.p) &&
	       *ps.p != '[' && *ps.p != ']')
		ps.p++;
	if (ps.p == name) {
		*error_r = "Missing command name";
		return -1;
	}
	cmd_r->name = span_make(name, (size_t)(ps.p - name));
	if (at_end(&ps))
		return 0;
	if (*ps.p != ' ') {
		*error_r = "Invalid character in command name";
		return -1;
	}
	ps.p++;
	if (parse_list_items(&ps, 0, false, &cmd_r->args, &cmd_r->count) < 0) {
		*error_r = ps.error != NULL ? ps.error : "Syntax error";
		return -1;
	}
	return 0;
}

const char *imap_arg_cstr(struct arena *arena, const struct imap_arg *a)
{
	if (a->type == IMAP_ARG_LIST || memchr(a->str.ptr, '\0', a->str.len) != NULL)
		return NULL;
	return arena_memdup(arena, a->str.ptr, a->str.len);
}
