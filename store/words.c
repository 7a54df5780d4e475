/*
 * Search text: case folding and words.
 *
 * RFC 3501 6.4.4 asks for case-insensitive substring matching. Text is
 * folded once, at write time, with the Unicode simple lower-case mapping of
 * glibc's C.UTF-8 locale (always present, whatever the process locale), and
 * queries are folded the same way, so matching is plain byte comparison.
 *
 * Words, for the word index, are runs of ASCII letters and digits and any
 * non-ASCII bytes (letters of other scripts). A query term that is itself a
 * word is contained in a message exactly when it is contained in one of the
 * message's words, which is what lets SEARCH BODY be answered from the
 * index.
 */
#include <locale.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <wctype.h>

#include "common/utf8.h"
#include "common/xalloc.h"
#include "store/internal.h"

static locale_t utf8_locale;
static pthread_once_t locale_once = PTHREAD_ONCE_INIT;

static void locale_init(void)
{
	utf8_locale = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t)0);
}

static uint32_t decode(const uint8_t *p, size_t n)
{
	if (n == 1)
		return p[0];
	uint32_t cp = p[0] & (0xff >> (n + 1));
	for (size_t i = 1; i < n; i++)
		cp = cp << 6 | (p[i] & 0x3f);
	return cp;
}

static void encode(uint32_t cp, struct buf *out)
{
	uint8_t b[4];
	size_t n;
	if (cp < 0x80) {
		b[0] = (uint8_t)cp, n = 1;
	} else if (cp < 0x800) {
		b[0] = (uint8_t)(0xc0 | cp >> 6), b[1] = (uint8_t)(0x80 | (cp & 0x3f)), n = 2;
	} else if (cp < 0x10000) {
		b[0] = (uint8_t)(0xe0 | cp >> 12), b[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f));
		b[2] = (uint8_t)(0x80 | (cp & 0x3f)), n = 3;
	} else {
		b[0] = (uint8_t)(0xf0 | cp >> 18), b[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3f));
		b[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f)), b[3] = (uint8_t)(0x80 | (cp & 0x3f));
		n = 4;
	}
	buf_append(out, b, n);
}

void words_fold(struct span text, struct buf *out)
{
	pthread_once(&locale_once, locale_init);
	if (text.len == 0)
		return; /* (and text.ptr may be NULL: no arithmetic on it) */
	buf_reserve(out, text.len);
	const uint8_t *p = text.ptr, *end = p + text.len;
	while (p < end) {
		/* ASCII runs, the common case, without the locale machinery. */
		if (*p < 0x80) {
			uint8_t c = *p++;
			buf_append_byte(out, (c >= 'A' && c <= 'Z') ? (uint8_t)(c + 32) : c);
			continue;
		}
		size_t n = utf8_seq_len(p, (size_t)(end - p));
		if (n == 0) {
			encode(0xfffd, out);
			p++;
			continue;
		}
		uint32_t cp = decode(p, n);
		uint32_t lower = utf8_locale != (locale_t)0 ? (uint32_t)towlower_l((wint_t)cp, utf8_locale)
							    : cp;
		if (lower == cp)
			buf_append(out, p, n);
		else
			encode(lower, out);
		p += n;
	}
}

bool words_is_word_byte(uint8_t c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c >= 0x80 ||
	       (c >= 'A' && c <= 'Z');
}

int words_span_cmp(const void *a, const void *b)
{
	const struct span *x = a, *y = b;
	size_t n = x->len < y->len ? x->len : y->len;
	int c = memcmp(x->ptr, y->ptr, n);
	if (c != 0)
		return c;
	return x->len < y->len ? -1 : x->len > y->len;
}

/* An open-addressing set of spans; the words of a message go through it
   so that only distinct words are sorted (a 100 KB text has ~17,000 words
   but ~2,000 distinct ones, and sorting them all dominated delivery). */
struct word_set {
	struct span *slots; /* len 0 = empty */
	size_t mask, count;
};

uint32_t words_hash(uint32_t seed, struct span w)
{
	uint32_t h = 2166136261u ^ seed; /* FNV-1a */
	for (size_t i = 0; i < w.len; i++)
		h = (h ^ w.ptr[i]) * 16777619u;
	return h;
}

static void word_set_grow(struct word_set *set)
{
	size_t old_size = set->slots != NULL ? set->mask + 1 : 0;
	struct span *old = set->slots;
	size_t size = old_size ? old_size * 2 : 1024;
	set->slots = xcalloc(size, sizeof(*set->slots));
	set->mask = size - 1;
	for (size_t i = 0; i < old_size; i++) {
		if (old[i].len == 0)
			continue;
		size_t j = words_hash(0, old[i]) & set->mask;
		while (set->slots[j].len != 0)
			j = (j + 1) & set->mask;
		set->slots[j] = old[i];
	}
	free(old);
}

static void word_set_add(struct word_set *set, struct span w)
{
	if (set->slots == NULL || (set->count + 1) * 2 > set->mask + 1)
		word_set_grow(set);
	size_t j = words_hash(0, w) & set->mask;
	while (set->slots[j].len != 0) {
		if (set->slots[j].len == w.len && memcmp(set->slots[j].ptr, w.ptr, w.len) == 0)
			return;
		j = (j + 1) & set->mask;
	}
	set->slots[j] = w;
	set->count++;
}

void words_each_unique(struct span folded, void (*cb)(struct span word, void *ctx), void *ctx)
{
	if (folded.len == 0)
		return;
	struct word_set set = { NULL, 0, 0 };
	const uint8_t *p = folded.ptr, *end = p + folded.len;
	while (p < end) {
		while (p < end && !words_is_word_byte(*p))
			p++;
		const uint8_t *start = p;
		while (p < end && words_is_word_byte(*p))
			p++;
		size_t len = (size_t)(p - start);
		if (len == 0)
			continue;
		/* Long runs (URLs, encoded blobs) become overlapping pieces. */
		size_t step = MAX_WORD_LEN / 2;
		for (size_t off = 0;; off += step) {
			size_t n = len - off > MAX_WORD_LEN ? MAX_WORD_LEN : len - off;
			word_set_add(&set, span_make(start + off, n));
			if (off + n >= len)
				break;
		}
	}
	if (set.count == 0) {
		free(set.slots);
		return;
	}
	/* Compact the set and hand the words out in sorted order, as callers
	   (the index merge) rely on for locality. */
	size_t n = 0;
	for (size_t i = 0; i <= set.mask; i++)
		if (set.slots[i].len != 0)
			set.slots[n++] = set.slots[i];
	if (n > 1)
		qsort(set.slots, n, sizeof(*set.slots), words_span_cmp);
	for (size_t i = 0; i < n; i++)
		cb(set.slots[i], ctx);
	free(set.slots);
}
