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

void words_fold(struct span text, struct buf *out)
{
	pthread_once(&locale_once, locale_init);
	if (text.len == 0)
		return; /* (and text.ptr may be NULL: no arithmetic on it) */
	buf_reserve(out, text.len);
	const uint8_t *p = text.ptr, *end = p + text.len;
	while (p < end) {
		/* ASCII runs, the common case, without the locale machinery:
		   folding them never changes their length. */
		if (*p < 0x80) {
			const uint8_t *run = p;
			while (p < end && *p < 0x80)
				p++;
			if (buf_reserve(out, (size_t)(p - run)) < 0)
				return;
			uint8_t *o = out->data + out->len;
			for (const uint8_t *q = run; q < p; q++)
				*o++ = (uint8_t)(*q + ((uint8_t)(*q - 'A') < 26 ? 32 : 0));
			out->len += (size_t)(p - run);
			out->data[out->len] = '\0';
			continue;
		}
		size_t n = utf8_seq_len(p, (size_t)(end - p));
		if (n == 0) {
			utf8_append_cp(out, 0xfffd);
			p++;
			continue;
		}
		uint32_t cp = utf8_seq_value(p, n);
		uint32_t lower = utf8_locale != (locale_t)0 ? (uint32_t)towlower_l((wint_t)cp, utf8_locale)
							    : cp;
		if (lower == cp)
			buf_append(out, p, n);
		else
			utf8_append_cp(out, lower);
		p += n;
	}
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

/* The distinct words of a text, in order of first occurrence: a 100 KB
   text has ~17,000 words but ~2,000 distinct ones. The open-addressing
   table holds each word's hash and its index in `words`, so probing
   compares bytes only on a real match. No sorting: the index merge groups
   and sorts a whole batch of messages anyway. */
struct word_slot {
	uint32_t hash;
	uint32_t index; /* into words, + 1; 0 = empty */
};

struct word_set {
	struct word_slot *slots;
	size_t mask;
	struct span *words;
	size_t count, alloc;
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
	struct word_slot *old = set->slots;
	size_t size = old_size ? old_size * 2 : 1024;
	set->slots = xcalloc(size, sizeof(*set->slots));
	set->mask = size - 1;
	for (size_t i = 0; i < old_size; i++) {
		if (old[i].index == 0)
			continue;
		size_t j = old[i].hash & set->mask;
		while (set->slots[j].index != 0)
			j = (j + 1) & set->mask;
		set->slots[j] = old[i];
	}
	free(old);
	set->alloc = size / 2;
	set->words = xreallocarray(set->words, set->alloc, sizeof(*set->words));
}

static void word_set_add(struct word_set *set, const uint8_t *w, size_t len, uint32_t hash)
{
	if (set->count + 1 > set->alloc)
		word_set_grow(set);
	size_t j = hash & set->mask;
	while (set->slots[j].index != 0) {
		const struct word_slot *s = &set->slots[j];
		const struct span *known = &set->words[s->index - 1];
		if (s->hash == hash && known->len == len && memcmp(known->ptr, w, len) == 0)
			return;
		j = (j + 1) & set->mask;
	}
	set->words[set->count++] = span_make(w, len);
	set->slots[j] = (struct word_slot){ hash, (uint32_t)set->count };
}

void words_each_unique(struct span folded, void (*cb)(struct span word, void *ctx), void *ctx)
{
	if (folded.len == 0)
		return;
	struct word_set set = { 0 };
	const uint8_t *p = folded.ptr, *end = p + folded.len;
	while (p < end) {
		while (p < end && !words_is_word_byte(*p))
			p++;
		const uint8_t *start = p;
		uint32_t h = 2166136261u; /* words_hash(0, word), in the same pass */
		while (p < end && words_is_word_byte(*p))
			h = (h ^ *p++) * 16777619u;
		size_t len = (size_t)(p - start);
		if (len == 0)
			continue;
		if (len <= MAX_WORD_LEN) {
			word_set_add(&set, start, len, h);
			continue;
		}
		/* Long runs (URLs, encoded blobs) become overlapping pieces. */
		size_t step = MAX_WORD_LEN / 2;
		for (size_t off = 0;; off += step) {
			size_t n = len - off > MAX_WORD_LEN ? MAX_WORD_LEN : len - off;
			word_set_add(&set, start + off, n, words_hash(0, span_make(start + off, n)));
			if (off + n >= len)
				break;
		}
	}
	for (size_t i = 0; i < set.count; i++)
		cb(set.words[i], ctx);
	free(set.slots);
	free(set.words);
}
