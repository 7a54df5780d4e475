#include "imapd/imap_list_match.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/xalloc.h"

/*
 * The pattern is an automaton with one state per pattern byte plus the
 * accepting state at its end. State j means "the pattern up to j is matched";
 * a literal byte at j moves to j + 1 on that byte, a wildcard at j stays at j
 * on the bytes it takes and reaches j + 1 without taking any. Runs of
 * wildcards are merged first ("**", "*%", "%*" -> "*"; "%%" -> "%"), so a
 * wildcard is always followed by a literal or the end and one step of that
 * free move is enough. The set of live states is a bit set, 64 states per
 * word, and each name byte updates all of them at once.
 */
#define SET_WORDS ((IMAP_LIST_PATTERN_MAX + 1 + 63) / 64)

struct imap_list_match {
	size_t len;   /* bytes of the merged pattern; state len accepts */
	size_t words; /* words of a state set actually in use */
	uint64_t star[SET_WORDS];
	uint64_t percent[SET_WORDS];
	/* Literal bytes: class_of maps a byte to a row of `literal` whose bit j
	   says the pattern has that byte at j. Row 0 (bytes the pattern does
	   not have) stays zero. */
	uint8_t class_of[256];
	uint64_t *literal;
};

typedef uint64_t state_set[SET_WORDS];

static void set_bit(uint64_t *set, size_t bit)
{
	set[bit / 64] |= (uint64_t)1 << (bit % 64);
}

static bool has_bit(const uint64_t *set, size_t bit)
{
	return (set[bit / 64] >> (bit % 64) & 1) != 0;
}

static uint8_t ascii_lower(uint8_t c)
{
	return c >= 'A' && c <= 'Z' ? (uint8_t)(c + 32) : c;
}

static uint8_t ascii_upper(uint8_t c)
{
	return c >= 'a' && c <= 'z' ? (uint8_t)(c - 32) : c;
}

static bool is_wildcard(char c)
{
	return c == '*' || c == '%';
}

/* ------------------------------------------------------------- building */

/* RFC 3501 6.3.8: the reference goes in front of the pattern, unless the
   pattern names an absolute place (starts with the separator). Returns NULL
   past IMAP_LIST_PATTERN_MAX. */
static char *join_reference(const char *reference, const char *pattern)
{
	if (pattern[0] == '/')
		reference = "";
	size_t ref_len = strlen(reference), pat_len = strlen(pattern);
	if (ref_len > IMAP_LIST_PATTERN_MAX || pat_len > IMAP_LIST_PATTERN_MAX - ref_len)
		return NULL;
	char *joined = xmalloc(ref_len + pat_len + 1);
	memcpy(joined, reference, ref_len);
	memcpy(joined + ref_len, pattern, pat_len + 1);
	return joined;
}

/* Merges each run of wildcards into one, in place: '*' if the run has one,
   else '%' (both then match exactly the same names). */
static size_t merge_wildcard_runs(char *pattern)
{
	size_t out = 0;
	for (size_t i = 0; pattern[i] != '\0';) {
		if (!is_wildcard(pattern[i])) {
			pattern[out++] = pattern[i++];
			continue;
		}
		char merged = '%';
		for (; is_wildcard(pattern[i]); i++) {
			if (pattern[i] == '*')
				merged = '*';
		}
		pattern[out++] = merged;
	}
	pattern[out] = '\0';
	return out;
}

static void build_literal_rows(struct imap_list_match *m, const char *pattern)
{
	size_t rows = 1;
	for (size_t j = 0; j < m->len; j++) {
		uint8_t c = (uint8_t)pattern[j];
		if (!is_wildcard((char)c) && m->class_of[c] == 0)
			m->class_of[c] = (uint8_t)rows++; /* at most 254 distinct bytes */
	}
	m->literal = xcalloc(rows * m->words, sizeof(uint64_t));
	for (size_t j = 0; j < m->len; j++) {
		uint8_t c = (uint8_t)pattern[j];
		if (c == '*')
			set_bit(m->star, j);
		else if (c == '%')
			set_bit(m->percent, j);
		else
			set_bit(m->literal + m->class_of[c] * m->words, j);
	}
}

struct imap_list_match *imap_list_match_new(const char *reference, const char *pattern)
{
	char *joined = join_reference(reference, pattern);
	if (joined == NULL)
		return NULL;
	struct imap_list_match *m = xcalloc(1, sizeof(*m));
	m->len = merge_wildcard_runs(joined);
	m->words = m->len / 64 + 1;
	build_literal_rows(m, joined);
	free(joined);
	return m;
}

void imap_list_match_free(struct imap_list_match **m)
{
	if (*m == NULL)
		return;
	free((*m)->literal);
	free(*m);
	*m = NULL;
}

/* ------------------------------------------------------------- matching */

static const uint64_t *literal_row(const struct imap_list_match *m, uint8_t c)
{
	return m->literal + m->class_of[c] * m->words;
}

/* Adds the states a wildcard reaches without taking a byte. */
static void close_over_wildcards(const struct imap_list_match *m, uint64_t *set)
{
	uint64_t carry = 0;
	for (size_t w = 0; w < m->words; w++) {
		uint64_t at_wildcard = set[w] & (m->star[w] | m->percent[w]);
		uint64_t reached = at_wildcard << 1 | carry;
		carry = at_wildcard >> 63;
		set[w] |= reached;
	}
}

/* Moves every live state over one name byte. fold_case: the byte is part of
   an "INBOX" first level, where pattern letters match either case. */
static void step(const struct imap_list_match *m, uint64_t *set, uint8_t c, bool fold_case)
{
	const uint64_t *lit_a = literal_row(m, fold_case ? ascii_lower(c) : c);
	const uint64_t *lit_b = literal_row(m, fold_case ? ascii_upper(c) : c);
	uint64_t carry = 0;
	for (size_t w = 0; w < m->words; w++) {
		uint64_t advance = set[w] & (lit_a[w] | lit_b[w]);
		uint64_t stay = set[w] & (m->star[w] | (c != '/' ? m->percent[w] : 0));
		set[w] = advance << 1 | carry | stay;
		carry = advance >> 63;
	}
	close_over_wildcards(m, set);
}

static bool set_is_empty(const struct imap_list_match *m, const uint64_t *set)
{
	for (size_t w = 0; w < m->words; w++)
		if (set[w] != 0)
			return false;
	return true;
}

/* Length of the name's leading "INBOX" level in any case (5), or 0. */
static size_t inbox_level_len(const char *name)
{
	size_t len = strnlen(name, 6);
	if (len < 5 || (len == 6 && name[5] != '/'))
		return 0;
	return span_eq_ci(span_make(name, 5), "INBOX") ? 5 : 0;
}

enum imap_match_result imap_list_match(const struct imap_list_match *m, const char *name)
{
	state_set set = { 0 };
	set_bit(set, 0);
	close_over_wildcards(m, set);
	size_t fold_len = inbox_level_len(name);
	for (size_t i = 0; name[i] != '\0'; i++) {
		step(m, set, (uint8_t)name[i], i < fold_len);
		if (set_is_empty(m, set))
			return IMAP_MATCH_NO;
	}
	if (has_bit(set, m->len))
		return IMAP_MATCH_YES;
	/* A child is "name/" and at least one more byte. Any state short of
	   the end still live after the '/' can be led to the end by some
	   non-empty rest (its own literal bytes, or one byte for a wildcard). */
	step(m, set, '/', false);
	set[m->len / 64] &= ~((uint64_t)1 << (m->len % 64));
	return set_is_empty(m, set) ? IMAP_MATCH_NO : IMAP_MATCH_CHILDREN;
}
