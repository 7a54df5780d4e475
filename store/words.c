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
/* For each ASCII byte of a word, its folded form; 0 for the other ASCII
   bytes and for non-ASCII ones. */
static uint8_t ascii_word[256];
static pthread_once_t words_once = PTHREAD_ONCE_INIT;

static void words_init(void)
{
	utf8_locale = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t)0);
	for (unsigned c = 0; c < 0x80; c++)
		if (words_is_word_byte((uint8_t)c))
			ascii_word[c] = (uint8_t)(c + ((uint8_t)(c - 'A') < 26 ? 32 : 0));
}

/* Appends the folded form of the UTF-8 sequence at p (U+FFFD for an
   invalid byte) and returns how many bytes it took. */
static size_t fold_sequence(const uint8_t *p, const uint8_t *end, struct buf *out)
{
	size_t n = utf8_seq_len(p, (size_t)(end - p));
	if (n == 0) {
		utf8_append_cp(out, 0xfffd);
		return 1;
	}
	uint32_t cp = utf8_seq_value(p, n);
	uint32_t lower = utf8_locale != (locale_t)0 ? (uint32_t)towlower_l((wint_t)cp, utf8_locale) : cp;
	if (lower == cp)
		buf_append(out, p, n);
	else
		utf8_append_cp(out, lower);
	return n;
}

void words_fold(struct span text, struct buf *out)
{
	pthread_once(&words_once, words_init);
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
		p += fold_sequence(p, end, out);
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
   table holds each known word's hash, place and length, so probing
   compares bytes only on a real match; a new word is copied, folded, to
   `store`. A word of ASCII letters and digits (nearly all of them) is
   hashed and compared in its folded form straight from the text, so
   folding needs no pass and no copy of the text of its own (a 100 KB
   message's lists: ~480 -> ~385 us). Other words are built, folded, in
   `word` first. No sorting: the index merge groups and sorts a whole
   batch anyway. */
struct word_slot {
	uint32_t hash;
	uint32_t ref; /* offset in store << 7 | length (1-64); 0 = empty */
};

struct word_ref {
	uint32_t offset, len; /* in store */
};

struct word_set {
	struct word_slot *slots;
	size_t mask;
	struct word_ref *words;
	size_t count, alloc;
	struct buf store; /* the distinct words, back to back */
	struct buf word;  /* a word that is not plain ASCII, folded */
	struct buf seq;	  /* one folded non-ASCII sequence */
};

#define FNV_OFFSET 2166136261u
#define FNV_PRIME 16777619u

uint32_t words_hash(uint32_t seed, struct span w)
{
	uint32_t h = FNV_OFFSET ^ seed; /* FNV-1a */
	for (size_t i = 0; i < w.len; i++)
		h = (h ^ w.ptr[i]) * FNV_PRIME;
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
		if (old[i].ref == 0)
			continue;
		size_t j = old[i].hash & set->mask;
		while (set->slots[j].ref != 0)
			j = (j + 1) & set->mask;
		set->slots[j] = old[i];
	}
	free(old);
	set->alloc = size / 2;
	set->words = xreallocarray(set->words, set->alloc, sizeof(*set->words));
}

/* Adds a word given as w[0..len), folded by ascii_word[] when `ascii`
   (plain ASCII from the text), else already folded; hash is FNV-1a of the
   folded bytes either way. */
static void word_set_add(struct word_set *set, const uint8_t *w, size_t len, uint32_t hash,
			 bool ascii)
{
	if (set->count + 1 > set->alloc)
		word_set_grow(set);
	size_t j = hash & set->mask;
	for (; set->slots[j].ref != 0; j = (j + 1) & set->mask) {
		const struct word_slot *s = &set->slots[j];
		if (s->hash != hash || (s->ref & 127) != len)
			continue;
		const uint8_t *k = set->store.data + (s->ref >> 7);
		size_t i = 0;
		if (ascii)
			while (i < len && k[i] == ascii_word[w[i]])
				i++;
		else if (memcmp(k, w, len) == 0)
			i = len;
		if (i == len)
			return;
	}
	if (set->store.len >= 1u << 25 || buf_reserve(&set->store, len) < 0)
		return; /* (cannot happen: MAX_SEARCH_TEXT is far below) */
	set->words[set->count++] = (struct word_ref){ (uint32_t)set->store.len, (uint32_t)len };
	set->slots[j] = (struct word_slot){ hash, (uint32_t)set->store.len << 7 | (uint32_t)len };
	uint8_t *o = set->store.data + set->store.len;
	for (size_t i = 0; i < len; i++)
		o[i] = ascii ? ascii_word[w[i]] : w[i];
	set->store.len += len;
}

/* Adds the word built in `word`: whole, or a long run (a URL, an encoded
   blob) as overlapping pieces. */
static void word_end(struct word_set *set)
{
	size_t len = set->word.len;
	const uint8_t *w = set->word.data;
	if (len == 0)
		return;
	for (size_t off = 0;; off += MAX_WORD_LEN / 2) {
		size_t n = len - off > MAX_WORD_LEN ? MAX_WORD_LEN : len - off;
		word_set_add(set, w + off, n, words_hash(0, span_make(w + off, n)), false);
		if (off + n >= len)
			break;
	}
	buf_clear(&set->word);
}

/* Builds the folded word starting at p in `word` and adds it; returns
   where it ended. Words are split on folded bytes, as in folded text. */
static const uint8_t *slow_word(struct word_set *set, const uint8_t *p, const uint8_t *end,
				bool fold)
{
	while (p < end) {
		if (*p < 0x80) {
			if (ascii_word[*p] == 0)
				break;
			buf_append_byte(&set->word, ascii_word[*p++]);
			continue;
		}
		if (!fold) {
			buf_append_byte(&set->word, *p++);
			continue;
		}
		buf_clear(&set->seq);
		p += fold_sequence(p, end, &set->seq);
		for (size_t i = 0; i < set->seq.len; i++) {
			uint8_t c = set->seq.data[i];
			if (c >= 0x80 || ascii_word[c] != 0)
				buf_append_byte(&set->word, c >= 0x80 ? c : ascii_word[c]);
			else
				word_end(set);
		}
	}
	word_end(set);
	return p;
}

void words_each_unique(struct span text, bool fold, void (*cb)(struct span word, void *ctx),
		       void *ctx)
{
	if (text.len == 0)
		return;
	pthread_once(&words_once, words_init);
	struct word_set set = { .store = BUF_INIT, .word = BUF_INIT, .seq = BUF_INIT };
	const uint8_t *p = text.ptr, *end = p + text.len;
	while (p < end) {
		if (*p < 0x80 && ascii_word[*p] == 0) {
			p++;
			continue;
		}
		const uint8_t *start = p;
		uint32_t h = FNV_OFFSET;
		uint8_t f;
		while (p < end && (f = ascii_word[*p]) != 0) {
			h = (h ^ f) * FNV_PRIME;
			p++;
		}
		if ((p == end || *p < 0x80) && (size_t)(p - start) <= MAX_WORD_LEN)
			word_set_add(&set, start, (size_t)(p - start), h, true);
		else
			p = slow_word(&set, start, end, fold);
	}
	for (size_t i = 0; i < set.count; i++)
		cb(span_make(set.store.data + set.words[i].offset, set.words[i].len), ctx);
	free(set.slots);
	free(set.words);
	buf_free(&set.store);
	buf_free(&set.word);
	buf_free(&set.seq);
}
