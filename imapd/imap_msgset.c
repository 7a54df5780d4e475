#include "imapd/imap_msgset.h"

#include <stdlib.h>

#include "common/xalloc.h"
#include "imapd/imap_seqset.h"
#include "store/store.h"

/* First sequence number whose UID is >= uid (count + 1 if none): the
   view's UIDs ascend with their sequence numbers. */
static uint32_t first_seq_at_or_after(struct store_view *v, uint32_t count, uint32_t uid)
{
	uint32_t lo = 1, hi = count + 1;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (store_view_uid(v, mid) < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static void push(uint32_t **uids, size_t *n, size_t *cap, uint32_t uid)
{
	if (*n == *cap) {
		*cap = *cap ? *cap * 2 : 64;
		*uids = xreallocarray(*uids, *cap, sizeof(**uids));
	}
	(*uids)[(*n)++] = uid;
}

enum imap_msgset_result imap_msgset_uids(struct arena *a, struct store_view *v, struct span text,
					 bool uid, uint32_t **uids_r, size_t *count_r)
{
	*uids_r = NULL;
	*count_r = 0;
	uint32_t count = store_view_count(v);
	uint32_t star = uid ? (count > 0 ? store_view_uid(v, count) : 0) : count;
	struct imap_seqset set;
	/* "*" in an empty mailbox: nothing can match; parse with 1 so the
	   syntax is still checked. */
	if (imap_seqset_parse(a, text, star > 0 ? star : 1, &set) < 0)
		return IMAP_MSGSET_SYNTAX;
	uint32_t *uids = NULL;
	size_t n = 0, cap = 0;
	for (size_t i = 0; i < set.count; i++) {
		const struct imap_seq_range *r = &set.ranges[i];
		if (!uid) {
			if (r->last > count) {
				free(uids);
				return IMAP_MSGSET_RANGE;
			}
			for (uint32_t seq = r->first; seq <= r->last; seq++)
				push(&uids, &n, &cap, store_view_uid(v, seq));
			continue;
		}
		for (uint32_t seq = first_seq_at_or_after(v, count, r->first);
		     seq <= count && store_view_uid(v, seq) <= r->last; seq++)
			push(&uids, &n, &cap, store_view_uid(v, seq));
	}
	*uids_r = uids;
	*count_r = n;
	return IMAP_MSGSET_OK;
}

void imap_uidset_write(struct buf *out, const uint32_t *uids, size_t count)
{
	for (size_t i = 0; i < count;) {
		size_t j = i;
		while (j + 1 < count && uids[j + 1] == uids[j] + 1)
			j++;
		if (i > 0)
			buf_append_byte(out, ',');
		if (j > i)
			buf_printf(out, "%u:%u", uids[i], uids[j]);
		else
			buf_printf(out, "%u", uids[i]);
		i = j + 1;
	}
}
