/*
 * Streaming MIME parser: everything the index needs from a message, in one
 * pass over its bytes, at write time.
 *
 * Input is the message exactly as stored: CRLF line endings (the store
 * normalises before feeding). It may arrive in pieces of any size
 * (mime_parser_feed); memory stays bounded whatever the message: bodies are
 * never buffered whole, header blocks are capped, and the number and depth
 * of parts are limited (deeper or further parts are treated as opaque
 * bodies of their parent, as mature servers do).
 *
 * Results (struct mime_result), all owned by the result:
 *   - envelope, body and bodystructure: RFC 3501 ENVELOPE, BODY and
 *     BODYSTRUCTURE (with extension data: MD5 NIL, disposition, language,
 *     location) as IMAP strings, ready to send;
 *   - the part table: header and body offsets/sizes of every part, so that
 *     BODY[1.2.MIME] or BODY[2.HEADER] is a direct read of the file;
 *   - decoded header fields (RFC 2047 encoded words, charsets converted to
 *     UTF-8 with iconv) for SEARCH and SORT;
 *   - the search text, streamed through a callback: the decoded header
 *     fields, then every text part decoded (transfer encoding and charset,
 *     to UTF-8; HTML without tags), so the store can index it.
 *
 * Broken mail (missing boundaries, bad encodings, 8-bit headers, bad
 * charsets, truncated messages) never makes the parser fail: it produces the
 * structure a mature server would, as described in mime.c.
 */
#ifndef PETREL_STORE_MIME_H
#define PETREL_STORE_MIME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct mime_limits {
	unsigned int max_depth;	     /* nesting of multiparts and message/rfc822 (100) */
	unsigned int max_parts;	     /* parts in total (1000); the rest stay opaque */
	size_t max_header_size;	     /* per header block; the excess is not parsed (1 MiB) */
};

#define MIME_DEFAULT_LIMITS ((struct mime_limits){ 100, 1000, 1024 * 1024 })

enum mime_part_kind {
	MIME_PART_LEAF,	     /* a single body */
	MIME_PART_MULTIPART, /* children are the body parts */
	MIME_PART_MESSAGE,   /* message/rfc822: one child, the encapsulated
				message's top part (message/global stays a
				leaf, as RFC 3501's grammar and Dovecot have it) */
};

/*
 * Parts in depth-first order; parts[0] is the message itself. For every
 * part, `header` is its header block (for parts[0] and for the child of a
 * MESSAGE part: the message header; otherwise: the MIME header), including
 * the blank line that ends it, and `body` is what follows it.
 *
 * IMAP section numbers map onto this as RFC 3501 6.4.5 says: for a
 * MESSAGE part P with child C, "P.HEADER" is C's header, "P.TEXT" C's body,
 * "P.MIME" P's header, and "P.1" is C's first child if C is a multipart,
 * else C itself.
 */
struct mime_part {
	uint32_t parent;	/* index into parts; UINT32_MAX for parts[0] */
	uint32_t children;	/* direct children */
	enum mime_part_kind kind;
	uint64_t header_offset, header_size;
	uint64_t body_offset, body_size;
	uint32_t body_lines;
};

/* Header fields decoded to UTF-8 for SEARCH and SORT. Address lists are
   rendered as "Display Name <local@domain>, ..." with display names
   decoded. NULL when the field is absent. */
struct mime_headers {
	char *subject;
	char *from, *sender, *reply_to, *to, *cc, *bcc;
	char *message_id, *in_reply_to, *references;
	/* Date: seconds since the epoch (UTC) and the zone offset in minutes;
	   date_valid is false when the field is missing or unparsable. */
	int64_t date;
	int date_zone_minutes;
	bool date_valid;
	/* SORT (RFC 5256) keys: base subject, first From/To/Cc mailbox. */
	char *base_subject;
	char *sort_from, *sort_to, *sort_cc;
};

struct mime_result {
	char *envelope;
	char *body;
	char *bodystructure;
	struct mime_part *parts;
	size_t part_count;
	struct mime_headers headers;
	uint64_t size;		/* bytes fed */
	bool limits_hit;	/* some part was left opaque because of a limit */
};

enum mime_text_kind {
	MIME_TEXT_HEADER, /* decoded header fields, "Name: value\n" per field */
	MIME_TEXT_BODY,	  /* decoded text of text/ parts */
};

/* Receives the search text in pieces of valid UTF-8 (invalid input bytes
   are replaced by U+FFFD). */
typedef void mime_text_cb(void *ctx, enum mime_text_kind kind, const char *utf8, size_t len);

struct mime_parser;

/* text_cb may be NULL. */
struct mime_parser *mime_parser_create(const struct mime_limits *limits, mime_text_cb *text_cb,
				       void *ctx);
void mime_parser_feed(struct mime_parser *p, const uint8_t *data, size_t len);
/* Ends the input (a missing final CRLF or closing boundary is fine) and
   returns the result, which the caller frees with mime_result_free(). The
   parser is destroyed. */
struct mime_result *mime_parser_finish(struct mime_parser *p);
/* Frees a parser without a result (an aborted write). */
void mime_parser_destroy(struct mime_parser **p);
void mime_result_free(struct mime_result **r);

/* Helpers the parser is built from, exposed for SEARCH and tests. */

/* Decodes RFC 2047 encoded words in an unstructured header value and
   converts to UTF-8 (undecodable charsets and 8-bit raw bytes are taken as
   UTF-8 if valid, else as windows-1252). Returns a malloc'd string. */
char *mime_decode_header(const char *value, size_t len);

/* A part as people see it (`petrelctl inspect`), from its MIME header
   block (mime_part.header_offset/size). Strings are malloc'd, lowercase
   except the file name (UTF-8, RFC 2231/2047 decoded); charset,
   disposition and filename are NULL when absent. */
struct mime_part_info {
	char *type;	   /* "text/plain" when there is no valid Content-Type */
	char *charset;
	char *encoding;	   /* "7bit" when absent */
	char *disposition;
	char *filename;	   /* Content-Disposition filename, else Content-Type name */
};
void mime_part_info_get(const uint8_t *header, size_t len, struct mime_part_info *info);
void mime_part_info_free(struct mime_part_info *info);
/* Appends a body with its transfer encoding ("base64", "quoted-printable";
   others are copied) removed. */
struct buf;
void mime_decode_body(const char *encoding, const uint8_t *in, size_t len, struct buf *out);

/* Parses an RFC 5322 date (with the obsolete forms RFC 5322 4.3 allows).
   Returns 0 or -1. */
int mime_parse_date(const char *value, int64_t *time_r, int *zone_minutes_r);

#endif
