/*
 * Internal declarations shared by the MIME parser's files. Nothing here is
 * part of the store's API; only store/mime*.c include it.
 *
 *   mime.c               streaming parser: lines, boundaries, parts, limits
 *   mime_header.c        RFC 822/2045 syntax: tokens, Content-* fields,
 *                        RFC 2231 parameters, dates, RFC 5256 base subject
 *   mime_address.c       RFC 5322 address lists (ENVELOPE and SORT/SEARCH)
 *   mime_bodystructure.c IMAP strings, ENVELOPE, BODY and BODYSTRUCTURE
 *   mime_text.c          search text: transfer decoding, HTML to text
 *   mime_charset.c       charsets to UTF-8 (iconv), RFC 2047 encoded words
 *
 * Where broken mail leaves a choice, the parser gives the answer Dovecot 2.3
 * gives (the reference for tests/data/mime), so that a mailbox migrated
 * between the two servers shows clients the same structure.
 *
 * Memory: strings describing parts (struct mime_content, envelopes) live in
 * the parser's arena and die with the parser; the result's strings are
 * malloc'd and owned by struct mime_result.
 */
#ifndef PETREL_STORE_MIME_INTERNAL_H
#define PETREL_STORE_MIME_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/arena.h"
#include "common/buf.h"
#include "store/mime.h"

/* UTF-8 for U+FFFD, which replaces NULs in header values and bytes that do
   not decode. */
#define MIME_REPLACEMENT_UTF8 "\xEF\xBF\xBD"

/* Where an RFC decides against what Dovecot 2.3 does, Petrel follows the
   RFC (tests/data/mime/README.md lists each case). The differential test
   against a live Dovecot builds with PETREL_MIME_DOVECOT_QUIRKS=1 to
   compare everything else byte for byte; never set it in a real build. */
#ifndef PETREL_MIME_DOVECOT_QUIRKS
#define PETREL_MIME_DOVECOT_QUIRKS 0
#endif

/* RFC 2046 5.1.1 caps boundaries at 70 characters; like Dovecot we accept
   80 and compare only that many, so a longer boundary still works. */
#define MIME_BOUNDARY_MAX 80

/* ------------------------------------------------------------------ */
/* RFC 822 lexical scanner (mime_header.c)                             */

/* Every function below follows one convention: it returns -1 on a syntax
   error, 0 when it stopped at the end of the input and 1 when input is
   left (positioned on the next token, after any whitespace and comments). */
struct rfc822_scan {
	const uint8_t *p, *end;
	/* When set, receives the text of the last comment skipped. */
	struct buf *comment;
	/* Replace NUL bytes with U+FFFD in quoted strings, comments and
	   domain literals (otherwise they are kept). */
	bool nul_to_fffd;
};

void rfc822_scan_init(struct rfc822_scan *s, const uint8_t *data, size_t len);
int rfc822_skip_lwsp(struct rfc822_scan *s);
int rfc822_skip_comment(struct rfc822_scan *s);
int rfc822_parse_atom(struct rfc822_scan *s, struct buf *out);
int rfc822_parse_dot_atom(struct rfc822_scan *s, struct buf *out);
int rfc822_parse_mime_token(struct rfc822_scan *s, struct buf *out);
int rfc822_parse_quoted_string(struct rfc822_scan *s, struct buf *out);
int rfc822_parse_atom_or_dot(struct rfc822_scan *s, struct buf *out);
int rfc822_parse_phrase(struct rfc822_scan *s, struct buf *out);
int rfc822_parse_domain(struct rfc822_scan *s, struct buf *out);
bool rfc822_is_atext(uint8_t c);

/* ------------------------------------------------------------------ */
/* What a part's header says (mime_header.c)                           */

struct mime_param {
	char *name, *value;
};

/* One entry of an address list as IMAP's ENVELOPE shows it (RFC 3501
   7.4.2): a group starts with {NULL, NULL, group name, NULL} and ends with
   all four NULL. */
struct mime_address {
	char *name, *route, *mailbox, *domain;
	struct mime_address *next;
};

struct mime_address_list {
	struct mime_address *head, *tail;
};

/* The header fields ENVELOPE shows, for a message and for every
   encapsulated message/rfc822. Values are raw (undecoded), as RFC 3501
   7.4.2 wants. Later fields override earlier ones; address fields add up
   (both as Dovecot does). */
struct mime_envelope {
	char *date, *subject, *message_id, *in_reply_to;
	struct mime_address_list from, sender, reply_to, to, cc, bcc;
};

struct mime_content {
	char *type, *subtype;	/* NULL when there was no (valid) Content-Type */
	bool type_seen;		/* the first Content-Type field was applied */
	struct mime_param *params;
	unsigned int param_count;
	char *transfer_encoding, *id, *description, *md5, *location;
	char *disposition;
	struct mime_param *disposition_params;
	unsigned int disposition_param_count;
	char **languages;
	unsigned int language_count;
};

/* A header field as a parser hands it on: the name (up to a NUL byte, as
   names are compared) and the value with folding kept as "\n" (the CR
   dropped) and the whitespace after the colon skipped. */
struct mime_field {
	const char *name;
	size_t name_len;
	const uint8_t *value;
	size_t value_len;
};

bool mime_field_is(const struct mime_field *f, const char *name);
/* Copies a field value into the arena, NULs replaced by U+FFFD. */
char *mime_value_dup(struct arena *a, const uint8_t *value, size_t len);
/* Applies a Content-* field to the part's content description. */
void mime_content_apply(struct arena *a, struct mime_content *c, const struct mime_field *f);
/* For the parser's own decisions: the "type/subtype" string of a
   Content-Type value (possibly empty), and whether it parsed cleanly. */
bool mime_content_type_peek(const uint8_t *value, size_t len, struct buf *type_r);
/* The boundary parameter of a Content-Type value, NULL if none. */
char *mime_content_boundary(struct arena *a, const uint8_t *value, size_t len);
/* RFC 2231 aware parameter list after a value's first token. */
void mime_parse_params(struct arena *a, struct rfc822_scan *s, struct mime_param **params_r,
		       unsigned int *count_r);
const char *mime_param_get(const struct mime_param *params, unsigned int count, const char *name);
/* A parameter's value decoded to UTF-8 (RFC 2231 "name*", else "name"
   with RFC 2047 words); malloc'd, NULL when absent. */
char *mime_param_decoded(const struct mime_param *params, unsigned int count, const char *name);

/* A Content-Type or Content-Disposition value for SEARCH: "main; name=value"
   with RFC 2231 (charset'lang'%XX) and RFC 2047 values decoded to UTF-8;
   malloc'd. */
char *mime_decode_param_field(const uint8_t *value, size_t len);

/* RFC 5256 2.1 base subject of a decoded (UTF-8) subject; malloc'd. */
char *mime_base_subject(const char *subject);

/* ------------------------------------------------------------------ */
/* Addresses (mime_address.c)                                          */

/* Parses an address list with Dovecot's ENVELOPE leniency (missing parts
   filled with MISSING_MAILBOX / MISSING_DOMAIN, as clients expect some
   string there) and appends the entries to `list`. */
void mime_address_parse(struct arena *a, const uint8_t *value, size_t len,
			struct mime_address_list *list);
/* "Display Name <local@domain>, ..." with display names decoded (RFC 2047)
   for SEARCH; malloc'd, NULL when the list is empty. */
char *mime_address_render(const struct mime_address *list);
/* The local part of the first mailbox (RFC 5256 SORT FROM/TO/CC); malloc'd
   or NULL. */
char *mime_address_sort_key(const struct mime_address *list);

/* ------------------------------------------------------------------ */
/* IMAP output (mime_bodystructure.c)                                  */

enum mime_node_flags {
	MIME_NODE_MIME = 1 << 0,       /* Content-Type or MIME-Version seen */
	MIME_NODE_SEEN_CT = 1 << 1,    /* the first Content-Type was looked at */
	MIME_NODE_VALID_CT = 1 << 7,   /* ... and it was a valid one */
	MIME_NODE_TEXT = 1 << 2,       /* text/..., or text/plain by default */
	MIME_NODE_MULTIPART = 1 << 3,
	MIME_NODE_DIGEST = 1 << 4,     /* multipart/digest */
	MIME_NODE_MESSAGE = 1 << 5,    /* message/rfc822 (a child once the
					  header ends, unless a limit says no) */
	MIME_NODE_OVERFLOW = 1 << 6,   /* left opaque by a limit */
};

/* The parser's view of a part; parts are kept in depth-first order. */
struct mime_node {
	uint32_t parent, first_child, last_child, next_sibling; /* MIME_NONE */
	uint32_t children;
	uint32_t depth;
	unsigned int flags;
	uint64_t header_offset, header_size;
	uint64_t body_offset, body_size;
	/* LFs in the body, and the body size counting every LF as CRLF
	   (IMAP's sizes: RFC 3501 counts the message in its wire form). */
	uint64_t body_lines, body_vsize;
	/* Counters at body_offset, to derive the two above at the end. */
	uint64_t body_lf_start, body_bare_lf_start;
	struct mime_content content;
	struct mime_envelope *envelope; /* message headers only */
	char *boundary;			/* from Content-Type, until the body */
};

#define MIME_NONE UINT32_MAX

void mime_imap_nstring(struct buf *out, const char *s);
void mime_imap_nstring_nolf(struct buf *out, const char *s);
void mime_imap_string_for_humans(struct buf *out, const uint8_t *s, size_t len);
void mime_write_envelope(struct buf *out, const struct mime_envelope *env);
void mime_write_bodystructure(struct buf *out, const struct mime_node *nodes, uint32_t idx,
			      bool extended);

/* ------------------------------------------------------------------ */
/* Charsets (mime_charset.c)                                           */

/* Streaming conversion of one charset to UTF-8. An unknown charset (and
   us-ascii, which real mail uses for anything) decodes each sequence as
   UTF-8 when valid and otherwise as windows-1252. Undecodable input becomes
   U+FFFD; output is always valid UTF-8. */
struct mime_conv;
struct mime_conv *mime_conv_create(const char *charset);
void mime_conv_feed(struct mime_conv *c, const uint8_t *in, size_t len, struct buf *out);
/* End of input: an incomplete trailing sequence becomes U+FFFD. */
void mime_conv_finish(struct mime_conv *c, struct buf *out);
void mime_conv_destroy(struct mime_conv **c);

/* Appends raw bytes as UTF-8: valid UTF-8 as is, other bytes as
   windows-1252 (NUL as U+FFFD). */
void mime_utf8_append_lenient(struct buf *out, const uint8_t *in, size_t len);
/* Length of the longest prefix of `in` that ends on a UTF-8 character
   boundary (len minus an incomplete trailing sequence). */
size_t mime_utf8_complete_len(const uint8_t *in, size_t len);

/* ------------------------------------------------------------------ */
/* Search text (mime_text.c)                                           */

enum mime_cte {
	MIME_CTE_IDENTITY, /* none, 7bit, 8bit, binary */
	MIME_CTE_QP,
	MIME_CTE_BASE64,
	MIME_CTE_UNKNOWN,  /* RFC 2045 6.4: to be treated as opaque data */
};

enum mime_cte mime_cte_from_name(const char *name);

/* Streaming transfer decoding (base64, quoted-printable; identity and
   unknown encodings are copied). Pieces may be cut anywhere; `final` on
   the last piece lets a dangling "=" of QP through as data. */
struct mime_cte_decoder {
	enum mime_cte cte;
	uint32_t b64_acc;
	unsigned int b64_bits;
	uint8_t qp_hold[3]; /* an escape cut by the end of a piece */
	size_t qp_hold_len;
};
void mime_cte_decoder_init(struct mime_cte_decoder *d, enum mime_cte cte);
void mime_cte_decode(struct mime_cte_decoder *d, const uint8_t *in, size_t len, bool final,
		     struct buf *out);

struct mime_text;
struct mime_text *mime_text_create(mime_text_cb *cb, void *ctx);
void mime_text_destroy(struct mime_text **t);
/* A top-level header field: "Name: decoded value\n". */
void mime_text_header_field(struct mime_text *t, const struct mime_field *f);
void mime_text_part_begin(struct mime_text *t, enum mime_cte cte, const char *charset, bool html);
void mime_text_part_data(struct mime_text *t, const uint8_t *data, size_t len);
void mime_text_part_end(struct mime_text *t);
/* Hands everything buffered to the callback. */
void mime_text_flush(struct mime_text *t);

#endif
