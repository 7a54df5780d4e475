/*
 * FETCH (RFC 3501 6.4.5) without the mailbox: what the client asked for,
 * where each BODY[section] lies in the stored message, and the pieces that
 * turn those bytes into the answer (HEADER.FIELDS filtering, <partial>).
 *
 * imap_fetch_parse() turns the tokenizer's arguments into a request, with
 * every section checked against the RFC 3501 grammar, so that nothing after
 * it has to deal with malformed input. imap_section_resolve() maps a section
 * onto the part table the store keeps for every message (store_part, built
 * by store/mime.c). No I/O anywhere: the session reads the bytes.
 */
#ifndef PETREL_IMAPD_IMAP_FETCH_H
#define PETREL_IMAPD_IMAP_FETCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/arena.h"
#include "common/buf.h"
#include "imapd/imap_parser.h"
#include "store/store.h"

/* Bounds on what one section may hold; past them the command is BAD. */
#define IMAP_SECTION_MAX_DEPTH 100   /* part numbers in "1.2.3..." */
#define IMAP_SECTION_MAX_FIELDS 1000 /* names in HEADER.FIELDS (...) */

enum imap_section_text {
	IMAP_SECTION_ALL, /* BODY[] (the whole message) or BODY[1.2] (a part's body) */
	IMAP_SECTION_HEADER,
	IMAP_SECTION_HEADER_FIELDS,
	IMAP_SECTION_HEADER_FIELDS_NOT,
	IMAP_SECTION_TEXT,
	IMAP_SECTION_MIME,
};

struct imap_section {
	uint32_t *path; /* part numbers: "1.2" -> {1, 2} */
	size_t depth;	/* 0: the message itself */
	enum imap_section_text text;
	/* HEADER.FIELDS(.NOT): the names as the client gave them (quoted
	   strings unescaped), NUL-terminated */
	const char **fields;
	size_t field_count;
	bool partial; /* <origin.length> was given */
	uint32_t origin, length;
	bool peek; /* BODY.PEEK */
	/* The section to echo between the brackets of the answer, normalised
	   as Dovecot does: keywords and field names upper-case, one space
	   between field names, quoted names kept quoted. "" for BODY[]. */
	struct span spec;
};

enum imap_fetch_item {
	IMAP_FETCH_UID = 1u << 0,
	IMAP_FETCH_FLAGS = 1u << 1,
	IMAP_FETCH_INTERNALDATE = 1u << 2,
	IMAP_FETCH_RFC822_SIZE = 1u << 3,
	IMAP_FETCH_ENVELOPE = 1u << 4,
	IMAP_FETCH_BODY = 1u << 5, /* BODY: the structure without extension data */
	IMAP_FETCH_BODYSTRUCTURE = 1u << 6,
	IMAP_FETCH_RFC822 = 1u << 7,	    /* = BODY[] */
	IMAP_FETCH_RFC822_HEADER = 1u << 8, /* = BODY.PEEK[HEADER] */
	IMAP_FETCH_RFC822_TEXT = 1u << 9,   /* = BODY[TEXT] */
};

struct imap_fetch_request {
	unsigned int items; /* enum imap_fetch_item bits */
	/* BODY[...] and BODY.PEEK[...] in request order; repeats are kept */
	struct imap_section *sections;
	size_t section_count;
	/* Some item sets \Seen: BODY[...] without .PEEK, RFC822, RFC822.TEXT */
	bool sets_seen;
	/* The answer needs the index's structure (store STORE_FETCH_STRUCTURE):
	   ENVELOPE, BODY, BODYSTRUCTURE, and every section but BODY[], since
	   imap_section_resolve() needs the part table - RFC822.HEADER and
	   RFC822.TEXT included. BODY[] and RFC822 are the whole file. */
	bool needs_structure;
};

/*
 * Parses the FETCH data items: `args` is what follows the sequence set
 * (exactly one argument: a macro, an item, or a parenthesised list of
 * items). uid_command: UID FETCH, which always answers UID. Everything
 * lives in the arena. Returns 0, or -1 with *error_r a static text for
 * "tag BAD <text>".
 */
int imap_fetch_parse(struct arena *a, const struct imap_arg *args, size_t count, bool uid_command,
		     struct imap_fetch_request *out, const char **error_r);

/* Where a section's bytes lie in the stored message file. */
struct imap_section_range {
	uint64_t offset, size;
	/* HEADER.FIELDS(.NOT): the range is a header block (ending in its
	   blank line) to pass through imap_header_filter() */
	bool filter_fields;
	/* No such part (BODY[3] of a two-part message, 2.HEADER when part 2
	   is not a message/rfc822, ...): the answer is the empty string, as
	   Dovecot sends ({0}). RFC 3501 names no answer for this; an empty
	   string keeps clients that parse BODY[...] as a string working, NIL
	   would not. offset and size are 0. */
	bool empty;
};

/*
 * Maps a section onto the part table (parts[0] is the message; at least one
 * part is required, even for BODY[]). Numbering follows RFC 3501 6.4.5 and
 * the comment in store/mime.h. Returns 0 (out set, maybe out->empty), or
 * -1 when the table is unusable (empty or not in depth-first order). The
 * range is not checked against the file size: the caller's read is.
 */
int imap_section_resolve(const struct store_part *parts, size_t part_count,
			 const struct imap_section *sec, struct imap_section_range *out);

/*
 * Appends to `out` the fields of `header` (a header block ending in its
 * blank line) whose names are (not = false) or are not (not = true) among
 * `fields`, compared without ASCII case, in message order with their
 * continuation lines, then the blank line - RFC 3501 HEADER.FIELDS and
 * HEADER.FIELDS.NOT. Lines end in CRLF in the output whatever they ended
 * in (bare LF is accepted); a line without a colon has the empty name (so
 * .NOT keeps it unless "" is listed); a header without its blank line ends
 * at the end of the span. Returns 0, or -1 when `out` reached its maximum
 * (the output is then cut short).
 */
int imap_header_filter(struct span header, const char *const *fields, size_t count, bool not,
		       struct buf *out);

/*
 * The bytes of a section of `size` bytes to send, after <origin.length>:
 * all of them without a partial; none when the origin is at or beyond the
 * end (the answer is still BODY[...]<origin> ""). *start_r is relative to
 * the section's first byte.
 */
void imap_partial_apply(uint64_t size, const struct imap_section *sec, uint64_t *start_r,
			uint64_t *len_r);

#endif
