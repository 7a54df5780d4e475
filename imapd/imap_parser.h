/*
 * IMAP command tokenizer (RFC 3501 section 9 grammar, lexical part).
 *
 * Takes one complete command in wire form - the first line, and for every
 * literal its "{n}" CRLF and n bytes, up to the final CRLF - as assembled by
 * the session from the reader's frames, and splits it into tag, command name
 * and an argument tree. It knows nothing about what commands mean: FETCH's
 * "BODY[HEADER.FIELDS (From)]" is one atom here (brackets may hold spaces and
 * parentheses, as Dovecot's parser allows), and NIL is an atom too.
 *
 * No sockets, no store, no allocation outside the arena: all strings and
 * arrays live in `arena` until it is reset. Quoted strings are unescaped.
 */
#ifndef PETREL_IMAPD_IMAP_PARSER_H
#define PETREL_IMAPD_IMAP_PARSER_H

#include <stdbool.h>
#include <stddef.h>

#include "common/arena.h"
#include "common/buf.h"

enum imap_arg_type {
	IMAP_ARG_ATOM,
	IMAP_ARG_QUOTED,
	IMAP_ARG_LITERAL,
	IMAP_ARG_LIST,
};

struct imap_arg {
	enum imap_arg_type type;
	struct span str;	      /* ATOM, QUOTED (unescaped), LITERAL */
	const struct imap_arg *list;  /* LIST */
	size_t count;		      /* LIST */
	bool literal_nonsync;	      /* LITERAL sent as {n+} */
};

struct imap_command_line {
	struct span tag;
	struct span name;
	const struct imap_arg *args;
	size_t count;
};

struct imap_parse_limits {
	unsigned int max_depth; /* parenthesis nesting */
	unsigned int max_args;	/* arguments in total, at every level */
};

/*
 * Reads just the tag. Returns 0 (tag_r set) or -1 if the line does not start
 * with a valid tag followed by a space - then the reply must be untagged.
 */
int imap_parse_tag(struct span wire, struct span *tag_r);

/*
 * Tokenizes a whole command. Returns 0, or -1 with *error_r a short static
 * English text fit for "tag BAD <text>".
 */
int imap_parse_command(struct arena *arena, struct span wire, const struct imap_parse_limits *limits,
		       struct imap_command_line *cmd_r, const char **error_r);

/* Helpers for command handlers. */
static inline bool imap_arg_is_string(const struct imap_arg *a)
{
	return a->type == IMAP_ARG_QUOTED || a->type == IMAP_ARG_LITERAL;
}
/* astring = atom / string (RFC 3501). */
static inline bool imap_arg_is_astring(const struct imap_arg *a)
{
	return a->type != IMAP_ARG_LIST;
}
/* The argument's bytes as a NUL-terminated arena copy, or NULL if it holds a
   NUL byte (never acceptable in user names, passwords or mailbox names). */
const char *imap_arg_cstr(struct arena *arena, const struct imap_arg *a);

#endif
