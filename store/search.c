/*
 * SEARCH over a view, answered from the index.
 *
 * Criteria become bitmaps over the view's sequence numbers, combined with
 * AND/OR/NOT. Per-message fields (flags, dates, sizes) are read once, in
 * one pass over the message records, and only if some criterion needs them.
 *
 * BODY and TEXT (RFC 3501 6.4.4: case-insensitive substring of the decoded
 * text) use the word index: the folded query's words are looked for, as
 * substrings, in the mailbox's word dictionary in a single pass; the UIDs
 * posted under matching words are the candidates, intersected across query
 * words. When the query is one word of modest length and the key is TEXT,
 * candidates are exactly the answer (a word-only string is a substring of
 * the text iff it is a substring of one of its words); otherwise each
 * candidate's stored text is checked. Message files are never opened.
 * SUBJECT takes its candidates from the header words the same way and
 * checks them against the decoded subject in the cache record.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "common/xalloc.h"
#include "store/view.h"

#define DAY 86400
#define MAX_QUERY_WORDS 3

struct bitmap {
	uint64_t *w;
	size_t n; /* bits */
};

struct search {
	struct store_view *v;
	MDB_txn *txn;
	size_t n;
	char **error_r;
	int ret;
	/* per message, loaded on demand */
	bool have_recs;
	uint32_t *flags;
	uint64_t *keywords, *modseq, *size;
	int64_t *internaldate;
};

static struct bitmap bm_new(size_t n, bool ones)
{
	size_t words = (n + 63) / 64;
	struct bitmap b = { xcalloc(words ? words : 1, sizeof(uint64_t)), n };
	if (ones) {
		for (size_t i = 0; i < words; i++)
			b.w[i] = UINT64_MAX;
		if (n % 64)
			b.w[words - 1] = (1ULL << (n % 64)) - 1;
	}
	return b;
}

static inline void bm_set(struct bitmap *b, size_t i)
{
	b->w[i / 64] |= 1ULL << (i % 64);
}

static inline bool bm_get(const struct bitmap *b, size_t i)
{
	return (b->w[i / 64] >> (i % 64)) & 1;
}

static void bm_and(struct bitmap *a, const struct bitmap *b)
{
	for (size_t i = 0; i < (a->n + 63) / 64; i++)
		a->w[i] &= b->w[i];
}

static void bm_or(struct bitmap *a, const struct bitmap *b)
{
	for (size_t i = 0; i < (a->n + 63) / 64; i++)
		a->w[i] |= b->w[i];
}

static void bm_not(struct bitmap *a)
{
	struct bitmap ones = bm_new(a->n, true);
	for (size_t i = 0; i < (a->n + 63) / 64; i++)
		a->w[i] = ~a->w[i] & ones.w[i];
	free(ones.w);
}

static void bm_free(struct bitmap *b)
{
	free(b->w);
	b->w = NULL;
}

/* ---------------------------------------------------- per-message fields */

static int load_recs(struct search *s)
{
	if (s->have_recs)
		return STORE_OK;
	size_t n = s->n ? s->n : 1;
	s->flags = xcalloc(n, sizeof(*s->flags));
	s->keywords = xcalloc(n, sizeof(*s->keywords));
	s->modseq = xcalloc(n, sizeof(*s->modseq));
	s->size = xcalloc(n, sizeof(*s->size));
	s->internaldate = xcalloc(n, sizeof(*s->internaldate));
	s->have_recs = true;
	struct store_view *v = s->v;
	for (size_t i = 0; i < s->n; i++) {
		struct msg_info r;
		/* Expunged since the view last synced: leave zeros (no match
		   for flag criteria, which is what a vanished message gets). */
		if (msg_get(v->u, s->txn, v->mailbox_id, v->uids[i], &r) < 0)
			continue;
		s->flags[i] = r.flags;
		s->keywords[i] = r.keywords;
		s->modseq[i] = r.modseq;
		s->size[i] = r.size;
		s->internaldate[i] = r.internaldate;
	}
	return STORE_OK;
}

static int64_t day_of(int64_t t)
{
	return (t >= 0 ? t / DAY : (t - DAY + 1) / DAY) * DAY;
}

static bool date_matches(enum store_search_kind kind, int64_t day, int64_t wanted)
{
	switch (kind) {
	case STORE_SEARCH_INTERNALDATE_BEFORE:
	case STORE_SEARCH_SENTDATE_BEFORE:
		return day < wanted;
	case STORE_SEARCH_INTERNALDATE_ON:
	case STORE_SEARCH_SENTDATE_ON:
		return day == wanted;
	default:
		return day >= wanted;
	}
}

/* ----------------------------------------------------------- headers */

static const struct {
	const char *name;
	enum cache_field field;
} cached_fields[] = {
	{ "subject", CACHE_SUBJECT },	    { "from", CACHE_FROM },
	{ "sender", CACHE_SENDER },	    { "reply-to", CACHE_REPLY_TO },
	{ "to", CACHE_TO },		    { "cc", CACHE_CC },
	{ "bcc", CACHE_BCC },		    { "message-id", CACHE_MESSAGE_ID },
	{ "in-reply-to", CACHE_IN_REPLY_TO }, { "references", CACHE_REFERENCES },
};

/* folded: scratch for the haystack's folded form, reused across calls. */
static bool contains_folded(struct span haystack, struct span folded_needle, struct buf *folded)
{
	if (folded_needle.len == 0)
		return true;
	buf_clear(folded);
	words_fold(haystack, folded);
	return folded->len > 0 &&
	       memmem(folded->data, folded->len, folded_needle.ptr, folded_needle.len) != NULL;
}

/* Any header field not in the cache: found in the stored header block,
   unfolded, decoded (RFC 2047) and folded. */
static bool raw_header_matches(struct search *s, uint32_t uid, const char *field,
			       struct span needle)
{
	struct store_view *v = s->v;
	struct buf block = BUF_INIT;
	int ret = msgtext_field_cached(field, strlen(field)) ?
			  msgindex_get_blob(v->u, s->txn, v->u->headers, v->mailbox_id, uid, &block,
					    NULL) :
			  view_read_header_file(v, s->txn, uid, &block);
	if (ret < 0) {
		buf_free(&block);
		return false;
	}
	size_t flen = strlen(field);
	bool found = false;
	const char *p = (const char *)block.data, *end = p + block.len;
	while (p < end && !found) {
		const char *line_end = memchr(p, '\n', (size_t)(end - p));
		line_end = line_end ? line_end + 1 : end;
		if ((size_t)(line_end - p) > flen && strncasecmp(p, field, flen) == 0 && p[flen] == ':') {
			/* The value, with continuation lines joined. */
			const char *vstart = p + flen + 1, *vend = line_end;
			while (vend < end && (*vend == ' ' || *vend == '\t')) {
				const char *next = memchr(vend, '\n', (size_t)(end - vend));
				vend = next ? next + 1 : end;
			}
			struct buf value = BUF_INIT;
			for (const char *q = vstart; q < vend; q++)
				if (*q != '\r' && *q != '\n')
					buf_append_byte(&value, (uint8_t)*q);
			char *decoded = mime_decode_header(buf_cstr(&value), value.len);
			struct buf folded = BUF_INIT;
			found = contains_folded(span_cstr(decoded), needle, &folded);
			buf_free(&folded);
			free(decoded);
			buf_free(&value);
			line_end = vend;
		}
		p = line_end;
	}
	buf_free(&block);
	return found;
}

static struct bitmap word_candidates(struct search *s, struct span q, bool header, bool body,
				     bool *exact_r);

static void eval_header(struct search *s, const struct store_search *k, struct bitmap *out)
{
	struct buf needle = BUF_INIT;
	words_fold(span_cstr(k->text ? k->text : ""), &needle);
	int cached = -1;
	for (size_t i = 0; i < sizeof(cached_fields) / sizeof(cached_fields[0]); i++)
		if (strcasecmp(k->field, cached_fields[i].name) == 0)
			cached = (int)cached_fields[i].field;
	/* Subject's decoded text is among the message's header words, so
	   only messages with the query's words there need a look (the cached
	   address fields are re-rendered, their words may differ). */
	bool by_words = cached == CACHE_SUBJECT && needle.len > 0;
	bool exact;
	struct bitmap cand = by_words ? word_candidates(s, buf_span(&needle), true, false, &exact) :
					bm_new(s->n, true);
	struct store_view *v = s->v;
	struct buf scratch = BUF_INIT, folded = BUF_INIT;
	for (size_t i = 0; i < s->n; i++) {
		if (!bm_get(&cand, i))
			continue;
		bool match = false;
		if (cached >= 0) {
			struct cache_view cv;
			if (cache_get(v->u, s->txn, v->mailbox_id, v->uids[i], &cv, &scratch) ==
			    STORE_OK) {
				struct span value = cv.fields[cached];
				match = needle.len == 0 ?
						value.len > 0 :
						contains_folded(value, buf_span(&needle), &folded);
			}
		} else {
			match = raw_header_matches(s, v->uids[i], k->field, buf_span(&needle));
		}
		if (match)
			bm_set(out, i);
	}
	bm_free(&cand);
	buf_free(&folded);
	buf_free(&scratch);
	buf_free(&needle);
}

/* ------------------------------------------------------- body and text */

/* The longest runs of word bytes in the folded query, longest first. */
static size_t query_words(struct span q, struct span *words, size_t max)
{
	size_t count = 0;
	for (size_t i = 0; i < q.len;) {
		while (i < q.len && !words_is_word_byte(q.ptr[i]))
			i++;
		size_t start = i;
		while (i < q.len && words_is_word_byte(q.ptr[i]))
			i++;
		if (i == start)
			continue;
		struct span w = span_make(q.ptr + start, i - start);
		/* Keep the `max` longest. */
		size_t pos = count < max ? count++ : max;
		if (pos == max) {
			if (words[max - 1].len >= w.len)
				continue;
			pos = max - 1;
		}
		words[pos] = w;
		while (pos > 0 && words[pos - 1].len < words[pos].len) {
			struct span t = words[pos - 1];
			words[pos - 1] = words[pos];
			words[pos] = t;
			pos--;
		}
	}
	return count;
}

/* Re-reads a candidate's text from its file (multi-word or punctuated
   queries only; single words are answered by the index alone). */
static bool verify(struct search *s, uint32_t uid, struct span q, bool body_only)
{
	int fd = view_open_file(s->v, s->txn, uid);
	if (fd < 0)
		return false;
	struct msgtext mt;
	int ret = msgtext_load(fd, &mt);
	close(fd);
	if (ret < 0)
		return false;
	struct span text = buf_slice(&mt.folded, body_only ? mt.folded_header_len : 0, mt.folded.len);
	bool found = memmem(text.ptr, text.len, q.ptr, q.len) != NULL;
	msgtext_free(&mt);
	return found;
}

/* Candidates for a folded query from the word index: messages with, in
   the chosen parts, a word containing each of the query's longest words.
   *exact_r: the candidates are exactly the messages whose chosen text
   contains the query (one word of modest length). */
static struct bitmap word_candidates(struct search *s, struct span q, bool header, bool body,
				     bool *exact_r)
{
	struct span qwords[MAX_QUERY_WORDS];
	size_t nq = query_words(q, qwords, MAX_QUERY_WORDS);
	const size_t piece = MAX_WORD_LEN / 2 + 1; /* always inside one indexed piece */
	*exact_r = nq == 1 && qwords[0].len == q.len && q.len <= piece;
	struct bitmap cand = bm_new(s->n, nq == 0);
	for (size_t i = 0; i < nq && s->ret == STORE_OK; i++) {
		struct bitmap hits = bm_new(s->n, false);
		struct span term = qwords[i];
		if (term.len > piece)
			term.len = piece;
		if (wordindex_lookup(s->v->u, s->txn, s->v, term, header, body, hits.w) < 0)
			s->ret = STORE_ERR_IO;
		if (i == 0) {
			bm_free(&cand);
			cand = hits;
		} else {
			bm_and(&cand, &hits);
			bm_free(&hits);
		}
	}
	return cand;
}

static void eval_text(struct search *s, const struct store_search *k, struct bitmap *out)
{
	bool body_only = k->kind == STORE_SEARCH_BODY;
	struct buf q = BUF_INIT;
	words_fold(span_cstr(k->text ? k->text : ""), &q);
	if (q.len == 0) {
		*out = (bm_free(out), bm_new(s->n, true)); /* "" is in everything */
		buf_free(&q);
		return;
	}
	bool exact;
	struct bitmap cand = word_candidates(s, buf_span(&q), !body_only, true, &exact);
	if (exact) {
		bm_free(out);
		*out = cand;
		buf_free(&q);
		return;
	}
	for (size_t i = 0; i < s->n; i++)
		if (bm_get(&cand, i) && verify(s, s->v->uids[i], buf_span(&q), body_only))
			bm_set(out, i);
	bm_free(&cand);
	buf_free(&q);
}

/* ---------------------------------------------------------------- eval */

static struct bitmap eval(struct search *s, const struct store_search *k, unsigned int depth);

static struct bitmap eval_children(struct search *s, const struct store_search *k,
				   unsigned int depth)
{
	bool and = k->kind == STORE_SEARCH_AND;
	struct bitmap acc = bm_new(s->n, and);
	for (size_t i = 0; i < k->child_count && s->ret == STORE_OK; i++) {
		struct bitmap c = eval(s, &k->children[i], depth + 1);
		if (and)
			bm_and(&acc, &c);
		else
			bm_or(&acc, &c);
		bm_free(&c);
	}
	return acc;
}

static struct bitmap eval(struct search *s, const struct store_search *k, unsigned int depth)
{
	struct store_view *v = s->v;
	if (depth > 1000) {
		/* imapd bounds nesting far below this; never trust it blindly. */
		s->ret = STORE_ERR_INVALID;
		return bm_new(s->n, false);
	}
	switch (k->kind) {
	case STORE_SEARCH_ALL:
		return bm_new(s->n, true);
	case STORE_SEARCH_AND:
	case STORE_SEARCH_OR:
		return eval_children(s, k, depth);
	case STORE_SEARCH_NOT: {
		struct bitmap b = k->child_count == 1 ? eval(s, &k->children[0], depth + 1) :
							bm_new(s->n, false);
		bm_not(&b);
		return b;
	}
	default:
		break;
	}
	struct bitmap out = bm_new(s->n, false);
	switch (k->kind) {
	case STORE_SEARCH_UIDS:
		for (size_t r = 0; r < k->range_count; r++) {
			uint32_t lo = k->ranges[r].first, hi = k->ranges[r].last;
			if (lo > hi) {
				uint32_t t = lo;
				lo = hi;
				hi = t;
			}
			/* First seq with uid >= lo, then forward while <= hi. */
			size_t a = 0, b = s->n;
			while (a < b) {
				size_t mid = a + (b - a) / 2;
				if (v->uids[mid] < lo)
					a = mid + 1;
				else
					b = mid;
			}
			for (size_t i = a; i < s->n && v->uids[i] <= hi; i++)
				bm_set(&out, i);
		}
		break;
	case STORE_SEARCH_FLAGS_SET:
	case STORE_SEARCH_FLAGS_UNSET: {
		load_recs(s);
		uint64_t mask = 0;
		bool unknown = false;
		for (size_t i = 0; i < k->keywords.count; i++) {
			unsigned int id;
			if (user_keyword_id(v->u, s->txn, k->keywords.names[i], false, &id) == STORE_OK)
				mask |= 1ULL << id;
			else
				unknown = true; /* nobody has a keyword never used */
		}
		bool set = k->kind == STORE_SEARCH_FLAGS_SET;
		for (size_t i = 0; i < s->n; i++) {
			bool match;
			if (set)
				match = !unknown && (s->flags[i] & k->flags) == k->flags &&
					(s->keywords[i] & mask) == mask;
			else
				match = (s->flags[i] & k->flags) == 0 && (s->keywords[i] & mask) == 0;
			if (match)
				bm_set(&out, i);
		}
		break;
	}
	case STORE_SEARCH_RECENT:
		for (size_t i = 0; i < s->n; i++)
			if (store_view_recent(v, (uint32_t)i + 1))
				bm_set(&out, i);
		break;
	case STORE_SEARCH_INTERNALDATE_BEFORE:
	case STORE_SEARCH_INTERNALDATE_ON:
	case STORE_SEARCH_INTERNALDATE_SINCE:
		load_recs(s);
		for (size_t i = 0; i < s->n; i++)
			if (date_matches(k->kind, day_of(s->internaldate[i]), k->date))
				bm_set(&out, i);
		break;
	case STORE_SEARCH_SENTDATE_BEFORE:
	case STORE_SEARCH_SENTDATE_ON:
	case STORE_SEARCH_SENTDATE_SINCE:
		load_recs(s);
		struct buf scratch = BUF_INIT;
		for (size_t i = 0; i < s->n; i++) {
			/* The date as written (its own zone); without a usable
			   Date: field, the arrival date stands in. */
			struct cache_view cv;
			int64_t day = day_of(s->internaldate[i]);
			if (cache_get(v->u, s->txn, v->mailbox_id, v->uids[i], &cv, &scratch) ==
				    STORE_OK &&
			    cv.date_valid)
				day = day_of(cv.date + (int64_t)cv.date_zone * 60);
			if (date_matches(k->kind, day, k->date))
				bm_set(&out, i);
		}
		buf_free(&scratch);
		break;
	case STORE_SEARCH_LARGER:
	case STORE_SEARCH_SMALLER:
		load_recs(s);
		for (size_t i = 0; i < s->n; i++)
			if (k->kind == STORE_SEARCH_LARGER ? s->size[i] > k->number :
							      s->size[i] < k->number)
				bm_set(&out, i);
		break;
	case STORE_SEARCH_MODSEQ:
		load_recs(s);
		for (size_t i = 0; i < s->n; i++)
			if (s->modseq[i] >= k->number)
				bm_set(&out, i);
		break;
	case STORE_SEARCH_HEADER:
		eval_header(s, k, &out);
		break;
	case STORE_SEARCH_BODY:
	case STORE_SEARCH_TEXT:
		eval_text(s, k, &out);
		break;
	default:
		s->ret = STORE_ERR_INVALID;
		break;
	}
	return out;
}

int store_view_search(struct store_view *v, const struct store_search *criteria,
		      uint32_t **uids_r, size_t *count_r, char **error_r)
{
	view_expand(v); /* criteria walk the UID array */
	struct search s = { .v = v, .n = v->count, .error_r = error_r, .ret = STORE_OK };
	int ret = user_txn_begin(v->u, false, &s.txn, error_r);
	if (ret < 0)
		return ret;
	struct bitmap result = eval(&s, criteria, 0);
	user_txn_abort(v->u, s.txn);
	free(s.flags);
	free(s.keywords);
	free(s.modseq);
	free(s.size);
	free(s.internaldate);
	if (s.ret < 0) {
		bm_free(&result);
		return store_fail(s.ret, error_r, "search failed");
	}
	size_t count = 0;
	uint32_t *uids = xmalloc((s.n ? s.n : 1) * sizeof(*uids));
	for (size_t i = 0; i < s.n; i++)
		if (bm_get(&result, i))
			uids[count++] = v->uids[i];
	bm_free(&result);
	*uids_r = uids;
	*count_r = count;
	return STORE_OK;
}
