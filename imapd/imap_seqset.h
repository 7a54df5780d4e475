/*
 * IMAP sequence sets (RFC 3501 section 9: sequence-set).
 *
 * "1:4,7,*:10,5" becomes a sorted list of disjoint, non-adjacent ranges, so
 * membership is a binary search and the ranges can be handed to the store
 * as they are. Hostile sets (100,000 ranges in any order) cost O(n log n).
 */
#ifndef PETREL_IMAPD_IMAP_SEQSET_H
#define PETREL_IMAPD_IMAP_SEQSET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/arena.h"
#include "common/buf.h"

struct imap_seq_range {
	uint32_t first, last;
};

/* Arena memory; sorted, merged (no overlapping or adjacent ranges),
   first <= last in every range. */
struct imap_seqset {
	struct imap_seq_range *ranges;
	size_t count;
};

/*
 * Parses an RFC 3501 sequence-set. '*' stands for `star`: the message count
 * for sequence numbers, the highest UID in the mailbox for UID sets. A:B
 * equals B:A. Numbers are nz-number: 0, leading zeros and values above
 * 4294967295 are refused.
 *
 * star may be 0 (an empty mailbox); '*' then yields 0, which no message has,
 * so "1:*" is the range 0:1 and "*" the range 0:0 - callers clamp to what
 * exists.
 *
 * Returns 0, or -1 if `text` is not a sequence set (*out is then undefined).
 */
int imap_seqset_parse(struct arena *a, struct span text, uint32_t star, struct imap_seqset *out);

bool imap_seqset_contains(const struct imap_seqset *s, uint32_t n);

/* Number of values in the set (up to 2^32, hence 64 bits). */
uint64_t imap_seqset_size(const struct imap_seqset *s);

#endif
