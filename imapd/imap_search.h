/*
 * IMAP SEARCH criteria (RFC 3501 6.4.4, grammar "search" in section 9)
 * translated into the store's criteria tree.
 *
 * Works on the tokenizer's argument tree and knows nothing about sessions:
 * the caller describes the mailbox through struct imap_search_context.
 * Everything is allocated from the arena, including error texts that name
 * the offending key.
 *
 * Shape of the result: several keys (at the top level or in a parenthesised
 * list) become an AND node; a list or top level holding a single key is
 * that key itself. FROM, TO, CC, BCC and SUBJECT are HEADER nodes with the
 * field names "From", "To", "Cc", "Bcc", "Subject". NEW is AND(RECENT,
 * UNSEEN), OLD is NOT(RECENT). Sequence-number sets are turned into UID
 * ranges, so the store sees only UIDS nodes; a set that matches no message
 * is a UIDS node with range_count 0.
 */
#ifndef PETREL_IMAPD_IMAP_SEARCH_H
#define PETREL_IMAPD_IMAP_SEARCH_H

#include <stddef.h>
#include <stdint.h>

#include "common/arena.h"
#include "imapd/imap_parser.h"
#include "store/store.h"

/* Nesting of NOT, OR and parenthesised lists beyond this is refused with
   "Search too complex" (the parser recurses once per level). */
#define IMAP_SEARCH_MAX_DEPTH 200

struct imap_search_context {
	uint32_t messages; /* message count: '*' in sequence sets */
	uint32_t max_uid;  /* highest UID in the view: '*' in UID sets (0 if empty) */
	/* 1..messages -> UID; UIDs ascend with sequence numbers. */
	uint32_t (*seq_to_uid)(void *ctx, uint32_t seq);
	void *ctx;
};

enum imap_search_result {
	IMAP_SEARCH_OK,
	IMAP_SEARCH_BAD,	/* answer "tag BAD <*error_r>" */
	IMAP_SEARCH_BADCHARSET, /* answer "tag NO [BADCHARSET (UTF-8 US-ASCII)] ..." */
};

/*
 * Translates the arguments after "SEARCH" (or "UID SEARCH"), including an
 * optional leading "CHARSET x" (UTF-8 and US-ASCII are known; without
 * CHARSET, text must be valid UTF-8, which covers US-ASCII). On BAD,
 * *error_r is a short English text, static or in the arena, with no CR or
 * LF. On OK, *out is the root of the tree, in the arena.
 */
enum imap_search_result imap_search_parse(struct arena *a, const struct imap_arg *args,
					  size_t count, const struct imap_search_context *ctx,
					  struct store_search **out, const char **error_r);

#endif
