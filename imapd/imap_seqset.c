#include "imapd/imap_seqset.h"

#include <string.h>

/* seq-number = nz-number / "*"; advances *pos past it. */
static int parse_seq_number(struct span text, size_t *pos, uint32_t star, uint32_t *value_r)
{
	size_t i = *pos;
	if (i < text.len && text.ptr[i] == '*') {
		*pos = i + 1;
		*value_r = star;
		return 0;
	}
	/* nz-number = digit-nz *DIGIT: no zero, no leading zeros. */
	if (i >= text.len || text.ptr[i] < '1' || text.ptr[i] > '9')
		return -1;
	uint64_t n = 0;
	while (i < text.len && text.ptr[i] >= '0' && text.ptr[i] <= '9') {
		n = n * 10 + (uint64_t)(text.ptr[i] - '0');
		if (n > UINT32_MAX)
			return -1;
		i++;
	}
	*pos = i;
	*value_r = (uint32_t)n;
	return 0;
}

/* seq-number / seq-range, normalised to first <= last. */
static int parse_range(struct span text, size_t *pos, uint32_t star, struct imap_seq_range *r)
{
	uint32_t a, b;
	if (parse_seq_number(text, pos, star, &a) < 0)
		return -1;
	b = a;
	if (*pos < text.len && text.ptr[*pos] == ':') {
		(*pos)++;
		if (parse_seq_number(text, pos, star, &b) < 0)
			return -1;
	}
	r->first = a < b ? a : b;
	r->last = a < b ? b : a;
	return 0;
}

static size_t count_commas(struct span text)
{
	size_t n = 0;
	for (size_t i = 0; i < text.len; i++)
		n += text.ptr[i] == ',';
	return n;
}

static bool sorted_by_first(const struct imap_seq_range *r, size_t count)
{
	for (size_t i = 1; i < count; i++)
		if (r[i - 1].first > r[i].first)
			return false;
	return true;
}

/* Bottom-up merge sort by `first`. Scratch comes from the arena: glibc's
   qsort may call malloc, and clients send sets in any order. */
static void sort_ranges(struct arena *a, struct imap_seq_range *r, size_t count)
{
	if (sorted_by_first(r, count))
		return;
	struct imap_seq_range *tmp = arena_alloc(a, count * sizeof(*tmp));
	struct imap_seq_range *src = r, *dst = tmp;
	for (size_t width = 1; width < count; width *= 2) {
		for (size_t lo = 0; lo < count; lo += 2 * width) {
			size_t mid = lo + width < count ? lo + width : count;
			size_t hi = mid + width < count ? mid + width : count;
			size_t i = lo, j = mid, k = lo;
			while (i < mid && j < hi)
				dst[k++] = src[j].first < src[i].first ? src[j++] : src[i++];
			while (i < mid)
				dst[k++] = src[i++];
			while (j < hi)
				dst[k++] = src[j++];
		}
		struct imap_seq_range *t = src;
		src = dst;
		dst = t;
	}
	if (src != r)
		memcpy(r, src, count * sizeof(*r));
}

/* Joins overlapping and adjacent ranges of a sorted array; returns the new
   count. */
static size_t merge_ranges(struct imap_seq_range *r, size_t count)
{
	if (count == 0)
		return 0;
	size_t out = 0;
	for (size_t i = 1; i < count; i++) {
		struct imap_seq_range *cur = &r[out];
		/* cur->last + 1 in 64 bits: a range may end at 4294967295. */
		if ((uint64_t)r[i].first <= (uint64_t)cur->last + 1) {
			if (r[i].last > cur->last)
				cur->last = r[i].last;
		} else {
			r[++out] = r[i];
		}
	}
	return out + 1;
}

int imap_seqset_parse(struct arena *a, struct span text, uint32_t star, struct imap_seqset *out)
{
	if (text.len == 0)
		return -1;
	/* Every range but the last ends at a comma. Ranges are at least two
	   bytes apart, so this is bounded by the command size. */
	size_t cap = count_commas(text) + 1;
	struct imap_seq_range *ranges = arena_alloc(a, cap * sizeof(*ranges));
	size_t count = 0, pos = 0;
	for (;;) {
		if (parse_range(text, &pos, star, &ranges[count]) < 0)
			return -1;
		count++;
		if (pos == text.len)
			break;
		if (text.ptr[pos] != ',')
			return -1;
		pos++;
	}
	sort_ranges(a, ranges, count);
	out->ranges = ranges;
	out->count = merge_ranges(ranges, count);
	return 0;
}

bool imap_seqset_contains(const struct imap_seqset *s, uint32_t n)
{
	size_t lo = 0, hi = s->count;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (s->ranges[mid].last < n)
			lo = mid + 1;
		else if (s->ranges[mid].first > n)
			hi = mid;
		else
			return true;
	}
	return false;
}

uint64_t imap_seqset_size(const struct imap_seqset *s)
{
	uint64_t total = 0;
	for (size_t i = 0; i < s->count; i++)
		total += (uint64_t)s->ranges[i].last - s->ranges[i].first + 1;
	return total;
}
