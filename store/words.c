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
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "common/utf8.h"
#include "common/xalloc.h"
#include "store/internal.h"

static locale_t utf8_locale;
/* For each ASCII byte of a word, its folded form; 0 for the other ASCII
   bytes and for non-ASCII ones. */
static uint8_t ascii_word[256];
static pthread_once_t words_once = PTHREAD_ONCE_INIT;
/* For a word of n (0-16) bytes read as two 8-byte chunks, the bytes of
   each chunk that are the word's. */
static uint64_t head16[17][2];

static void words_init(void)
{
	utf8_locale = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t)0);
	for (unsigned c = 0; c < 0x80; c++)
		if (words_is_word_byte((uint8_t)c))
			ascii_word[c] = (uint8_t)(c + ((uint8_t)(c - 'A') < 26 ? 32 : 0));
	for (unsigned n = 0; n <= 16; n++) {
		head16[n][0] = n >= 8 ? ~(uint64_t)0 : ((uint64_t)1 << (8 * n)) - 1;
		head16[n][1] = n >= 16 ? ~(uint64_t)0 : n > 8 ? ((uint64_t)1 << (8 * (n - 8))) - 1 : 0;
	}
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
   text has ~17,000 words but ~2,000 distinct ones, so nearly every word is
   one the set already holds, and the cost is in finding words and looking
   them up, not in storing them.

   Finding words: a first pass marks, 64 bytes per mask word, which bytes
   are word bytes and which are non-ASCII (SSE2 where there is SSE2, a
   table elsewhere); words are then the runs of set bits, found with
   count-trailing-zeros instead of a loop per byte, whose exit the CPU
   mispredicts once per word.

   Looking them up: a word of ASCII letters and digits (nearly all of them)
   is folded eight bytes at a time into `chunks` (zero beyond its end),
   hashed a chunk at a time and compared a chunk at a time against the
   folded copy in `store`. Other words are built, folded, in `word` first
   and then go the same way. The bench's 100 KB message: ~460 -> ~260 us.
   No sorting: the index merge groups and sorts a whole batch anyway. */
struct word_slot {
	uint32_t hash;
	uint32_t ref; /* offset in store << 7 | length (1-64); 0 = empty */
};

struct word_ref {
	uint32_t offset, len; /* in store */
};

#define WORD_CHUNKS (MAX_WORD_LEN / 8)

struct word_set {
	struct word_slot *slots;
	size_t mask;
	struct word_ref *words;
	size_t count, alloc;
	struct buf store; /* the distinct words, back to back, then 16 zero bytes */
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
	set->alloc = size / 4 * 3; /* at most 3/4 full */
	set->words = xreallocarray(set->words, set->alloc, sizeof(*set->words));
}

/* Eight bytes as a number, the first byte lowest, on any machine. */
static inline uint64_t load_chunk(const uint8_t *p)
{
	uint64_t v;
	memcpy(&v, p, sizeof(v));
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	v = __builtin_bswap64(v);
#endif
	return v;
}

static inline void store_chunk(uint8_t *p, uint64_t v)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	v = __builtin_bswap64(v);
#endif
	memcpy(p, &v, sizeof(v));
}

#define BYTES(x) ((uint64_t)(x) * 0x0101010101010101ull)

/* Lower-cases A-Z in eight ASCII bytes (a byte below 0x80 plus 0x3f or
   0x25 never carries into the next). */
static inline uint64_t fold_chunk(uint64_t v)
{
	uint64_t from_a = v + BYTES(0x80 - 'A');       /* high bit: byte >= 'A' */
	uint64_t past_z = v + BYTES(0x80 - ('Z' + 1)); /* high bit: byte > 'Z' */
	return v | ((from_a & ~past_z & BYTES(0x80)) >> 2);
}

/* Mixes two numbers into one: the two halves of their 128-bit product,
   so every input bit reaches the low bits a table index is taken from. */
static inline uint64_t mix(uint64_t a, uint64_t b)
{
#ifdef __SIZEOF_INT128__
	unsigned __int128 p = (unsigned __int128)a * b;
	return (uint64_t)p ^ (uint64_t)(p >> 64);
#else
	uint64_t h = (a ^ (b >> 29)) * 0xff51afd7ed558ccdull ^ b;
	return h ^ (h >> 32);
#endif
}

#define HASH_K0 0x9e3779b97f4a7c15ull
#define HASH_K1 0xe7037ed1a0b428dbull

/* The hash of a word of up to 16 bytes: its two chunks (the second zero
   when it has 8 bytes or fewer). */
static inline uint32_t hash16(uint64_t c0, uint64_t c1, size_t len)
{
	uint64_t h = mix(c0 ^ HASH_K0 ^ len, c1 ^ HASH_K1);
	return (uint32_t)(h ^ (h >> 32));
}

/* The same hash for a longer word, given as chunks with zeros beyond its
   end. */
static uint32_t chunks_hash(const uint64_t *chunks, size_t len)
{
	size_t nchunks = (len + 7) / 8;
	uint64_t h = mix(chunks[0] ^ HASH_K0 ^ len, chunks[1] ^ HASH_K1);
	for (size_t i = 2; i < nchunks; i += 2)
		h = mix(h ^ chunks[i], (i + 1 < nchunks ? chunks[i + 1] : 0) ^ HASH_K1);
	return (uint32_t)(h ^ (h >> 32));
}

/* Whether the word stored at k (followed by at least 16 readable bytes)
   is the len bytes given as chunks. */
static inline bool chunks_equal(const uint8_t *k, const uint64_t *chunks, size_t len)
{
	if (len <= 16) /* nearly always: two compares, no loop */
		return (((load_chunk(k) ^ chunks[0]) & head16[len][0]) |
			((load_chunk(k + 8) ^ chunks[1]) & head16[len][1])) == 0;
	size_t i = 0, nchunks = (len + 7) / 8;
	while (i + 1 < nchunks && load_chunk(k + 8 * i) == chunks[i])
		i++;
	return i + 1 == nchunks && (load_chunk(k + 8 * i) & head16[len - 8 * i][0]) == chunks[i];
}

/* Puts a word the set does not have into slot j. */
static void word_set_insert(struct word_set *set, size_t j, uint32_t hash, const uint64_t *chunks,
			    size_t len)
{
	size_t nchunks = (len + 7) / 8;
	if (set->store.len >= 1u << 25 || buf_reserve(&set->store, nchunks * 8 + 16) < 0)
		return; /* (cannot happen: MAX_SEARCH_TEXT is far below) */
	set->words[set->count++] = (struct word_ref){ (uint32_t)set->store.len, (uint32_t)len };
	set->slots[j] = (struct word_slot){ hash, (uint32_t)set->store.len << 7 | (uint32_t)len };
	/* The word, then zeros: any word in store can be read as whole
	   16-byte chunks (the next word's bytes are masked off). */
	uint8_t *o = set->store.data + set->store.len;
	for (size_t i = 0; i < nchunks; i++)
		store_chunk(o + 8 * i, chunks[i]);
	store_chunk(o + 8 * nchunks, 0);
	store_chunk(o + 8 * nchunks + 8, 0);
	set->store.len += len;
}

/* Adds a folded word of 1-MAX_WORD_LEN bytes, given as chunks with zeros
   beyond its end (two at least: the second is zero for a word of 8 bytes
   or fewer), unless the set has it. */
static inline void word_set_add(struct word_set *set, const uint64_t *chunks, size_t len)
{
	if (set->count + 1 > set->alloc)
		word_set_grow(set);
	uint32_t hash = len <= 16 ? hash16(chunks[0], chunks[1], len) : chunks_hash(chunks, len);
	size_t j = hash & set->mask;
	for (; set->slots[j].ref != 0; j = (j + 1) & set->mask) {
		const struct word_slot *s = &set->slots[j];
		if (s->hash == hash && (s->ref & 127) == len &&
		    chunks_equal(set->store.data + (s->ref >> 7), chunks, len))
			return;
	}
	word_set_insert(set, j, hash, chunks, len);
}

/* Adds the bytes w[0..len), 1-MAX_WORD_LEN of them: folded already, or
   plain ASCII to fold here (fold_ascii). */
static void word_set_add_bytes(struct word_set *set, const uint8_t *w, size_t len,
			       bool fold_ascii)
{
	uint8_t padded[MAX_WORD_LEN] = { 0 };
	uint64_t chunks[WORD_CHUNKS];
	memcpy(padded, w, len);
	for (size_t i = 0; i < WORD_CHUNKS; i++)
		chunks[i] = fold_ascii ? fold_chunk(load_chunk(padded + 8 * i))
				       : load_chunk(padded + 8 * i);
	word_set_add(set, chunks, len);
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
		word_set_add_bytes(set, w + off, n, false);
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

/* Marks 64 bytes: bit i of *word set when p[i] is a word byte, of *high
   when it is not ASCII (and so also a word byte). */
static void classify64(const uint8_t *p, uint64_t *word, uint64_t *high)
{
#ifdef __SSE2__
	uint64_t w = 0, h = 0;
	for (unsigned i = 0; i < 64; i += 16) {
		__m128i v = _mm_loadu_si128((const __m128i *)(const void *)(p + i));
		/* Compares are signed: ASCII bytes are the non-negative ones. */
		__m128i lower = _mm_or_si128(v, _mm_set1_epi8(0x20));
		__m128i alpha = _mm_and_si128(_mm_cmpgt_epi8(lower, _mm_set1_epi8('a' - 1)),
					      _mm_cmplt_epi8(lower, _mm_set1_epi8('z' + 1)));
		__m128i digit = _mm_and_si128(_mm_cmpgt_epi8(v, _mm_set1_epi8('0' - 1)),
					      _mm_cmplt_epi8(v, _mm_set1_epi8('9' + 1)));
		uint64_t hi = (uint64_t)(uint32_t)_mm_movemask_epi8(v);
		w |= ((uint64_t)(uint32_t)_mm_movemask_epi8(_mm_or_si128(alpha, digit)) | hi) << i;
		h |= hi << i;
	}
	*word = w;
	*high = h;
#else
	uint64_t w = 0, h = 0;
	for (unsigned i = 0; i < 64; i++) {
		w |= (uint64_t)(p[i] >= 0x80 || ascii_word[p[i]] != 0) << i;
		h |= (uint64_t)(p[i] >= 0x80) << i;
	}
	*word = w;
	*high = h;
#endif
}

/* Whether any bit in [from, to) is set. */
static bool any_bit(const uint64_t *bits, size_t from, size_t to)
{
	for (size_t i = from; i < to; i = (i | 63) + 1) {
		uint64_t m = bits[i / 64] >> (i % 64);
		if (to - i < 64)
			m &= ((uint64_t)1 << (to - i)) - 1;
		if (m != 0)
			return true;
	}
	return false;
}

void words_each_unique(struct span text, bool fold, void (*cb)(struct span word, void *ctx),
		       void *ctx)
{
	if (text.len == 0)
		return;
	pthread_once(&words_once, words_init);
	struct word_set set = { .store = BUF_INIT, .word = BUF_INIT, .seq = BUF_INIT };
	const uint8_t *t = text.ptr;
	size_t n = text.len, blocks = (n + 63) / 64;
	/* One more mask word, all clear: every run of word bits ends. */
	uint64_t *word_bits = xreallocarray(NULL, blocks * 2 + 1, sizeof(uint64_t));
	uint64_t *high_bits = word_bits + blocks + 1;
	uint64_t any_high = 0;
	for (size_t b = 0; b < blocks; b++) {
		uint8_t last[64];
		const uint8_t *p = t + b * 64;
		if (n - b * 64 < 64) { /* the last block, padded with non-word bytes */
			memset(last, ' ', sizeof(last));
			memcpy(last, p, n - b * 64);
			p = last;
		}
		classify64(p, &word_bits[b], &high_bits[b]);
		any_high |= high_bits[b];
	}
	word_bits[blocks] = 0;

	for (size_t b = 0, pos = 0;;) {
		/* The next run of word bits: [start, stop). */
		uint64_t m = word_bits[b] & (~(uint64_t)0 << (pos % 64));
		while (m == 0) {
			if (++b >= blocks)
				goto done;
			m = word_bits[b];
		}
		size_t start = b * 64 + (size_t)__builtin_ctzll(m);
		m = ~word_bits[b] & (~(uint64_t)0 << (start % 64));
		while (m == 0)
			m = ~word_bits[++b];
		size_t stop = b * 64 + (size_t)__builtin_ctzll(m);
		size_t len = stop - start;
		const uint8_t *w = t + start;
		pos = stop;

		if (len > MAX_WORD_LEN || (any_high != 0 && any_bit(high_bits, start, stop))) {
			pos = (size_t)(slow_word(&set, w, t + n, fold) - t);
			b = pos / 64;
		} else if (len <= 16 && n - start >= 16) {
			/* Plain ASCII, nearly every word: two chunks read straight
			   from the text (what follows the word is masked off; a
			   non-ASCII byte there only carries into later bytes). */
			uint64_t chunks[2] = { fold_chunk(load_chunk(w)) & head16[len][0],
					       fold_chunk(load_chunk(w + 8)) & head16[len][1] };
			word_set_add(&set, chunks, len);
		} else { /* longer, or too near the end to read 16 bytes */
			word_set_add_bytes(&set, w, len, true);
		}
	}
done:
	free(word_bits);

	for (size_t i = 0; i < set.count; i++)
		cb(span_make(set.store.data + set.words[i].offset, set.words[i].len), ctx);
	free(set.slots);
	free(set.words);
	buf_free(&set.store);
	buf_free(&set.word);
	buf_free(&set.seq);
}
