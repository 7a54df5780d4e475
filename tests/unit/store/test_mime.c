/*
 * MIME parser: the corpus in tests/data/mime (each message against the
 * FETCH answers of Dovecot recorded next to it, fed whole, byte by byte and
 * split everywhere), body sections against the part table, the header
 * decoders as tables, search text, limits and hostile input.
 */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "common/buf.h"
#include "store/mime.h"

#ifndef PETREL_SOURCE_DIR
#error "PETREL_SOURCE_DIR must point at the source tree"
#endif
#define CORPUS_DIR PETREL_SOURCE_DIR "/tests/data/mime"

/* ------------------------------------------------------------------ */
/* Helpers                                                             */

static uint64_t rng_state = 0x9E3779B97F4A7C15ULL;

static uint64_t rng_next(void)
{
	/* xorshift64*: deterministic, so failures reproduce */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545F4914F6CDD1DULL;
}

static uint8_t *read_file(const char *path, size_t *len_r)
{
	FILE *f = fopen(path, "rb");
	if (f == NULL)
		return NULL;
	struct buf b = BUF_INIT;
	uint8_t chunk[65536];
	size_t n;
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		buf_append(&b, chunk, n);
	fclose(f);
	*len_r = b.len;
	if (b.data == NULL)
		buf_reserve(&b, 1);
	return b.data;
}

struct text_capture {
	struct buf header, body;
	size_t pieces;
	bool invalid_utf8;
};

static bool utf8_valid(const uint8_t *s, size_t len)
{
	for (size_t i = 0; i < len;) {
		uint8_t c = s[i];
		size_t n = c < 0x80 ? 1 : (c >= 0xC2 && c <= 0xDF) ? 2 : (c >= 0xE0 && c <= 0xEF) ? 3
					: (c >= 0xF0 && c <= 0xF4) ? 4 : 0;
		if (n == 0 || i + n > len)
			return false;
		for (size_t k = 1; k < n; k++)
			if ((s[i + k] & 0xC0) != 0x80)
				return false;
		if ((c == 0xE0 && s[i + 1] < 0xA0) || (c == 0xED && s[i + 1] > 0x9F) ||
		    (c == 0xF0 && s[i + 1] < 0x90) || (c == 0xF4 && s[i + 1] > 0x8F))
			return false;
		i += n;
	}
	return true;
}

static void capture_cb(void *ctx, enum mime_text_kind kind, const char *utf8, size_t len)
{
	struct text_capture *t = ctx;
	if (!utf8_valid((const uint8_t *)utf8, len) || memchr(utf8, '\0', len) != NULL)
		t->invalid_utf8 = true;
	buf_append(kind == MIME_TEXT_HEADER ? &t->header : &t->body, utf8, len);
	t->pieces++;
}

static void capture_free(struct text_capture *t)
{
	buf_free(&t->header);
	buf_free(&t->body);
}

/* Feeds data in pieces: cuts[] are increasing offsets, 0 < cut < len. */
static struct mime_result *parse_cuts(const uint8_t *data, size_t len, const size_t *cuts,
				      size_t ncuts, const struct mime_limits *limits,
				      struct text_capture *text)
{
	struct mime_parser *p = mime_parser_create(limits, text != NULL ? capture_cb : NULL, text);
	size_t pos = 0;
	for (size_t i = 0; i <= ncuts; i++) {
		size_t end = i < ncuts ? cuts[i] : len;
		mime_parser_feed(p, data + pos, end - pos);
		pos = end;
	}
	return mime_parser_finish(p);
}

static struct mime_result *parse_whole(const uint8_t *data, size_t len,
				       const struct mime_limits *limits, struct text_capture *text)
{
	return parse_cuts(data, len, NULL, 0, limits, text);
}

static struct mime_result *parse_bytewise(const uint8_t *data, size_t len,
					  const struct mime_limits *limits,
					  struct text_capture *text)
{
	struct mime_parser *p = mime_parser_create(limits, text != NULL ? capture_cb : NULL, text);
	for (size_t i = 0; i < len; i++)
		mime_parser_feed(p, data + i, 1);
	return mime_parser_finish(p);
}

static struct mime_result *parse_str(const char *msg)
{
	return parse_whole((const uint8_t *)msg, strlen(msg), NULL, NULL);
}

static bool same_parts(const struct mime_result *a, const struct mime_result *b)
{
	if (a->part_count != b->part_count)
		return false;
	for (size_t i = 0; i < a->part_count; i++) {
		const struct mime_part *x = &a->parts[i], *y = &b->parts[i];
		if (x->parent != y->parent || x->children != y->children || x->kind != y->kind ||
		    x->header_offset != y->header_offset || x->header_size != y->header_size ||
		    x->body_offset != y->body_offset || x->body_size != y->body_size ||
		    x->body_lines != y->body_lines)
			return false;
	}
	return true;
}

static bool same_result(const struct mime_result *a, const struct mime_result *b)
{
	return strcmp(a->envelope, b->envelope) == 0 && strcmp(a->body, b->body) == 0 &&
	       strcmp(a->bodystructure, b->bodystructure) == 0 && same_parts(a, b) &&
	       a->size == b->size && a->limits_hit == b->limits_hit;
}

/* Structural invariants every result must satisfy, whatever the input. */
static void check_invariants(const struct mime_result *r, size_t len)
{
	assert_int_equal(r->size, len);
	assert_true(r->part_count >= 1);
	assert_int_equal(r->parts[0].parent, UINT32_MAX);
	for (size_t i = 0; i < r->part_count; i++) {
		const struct mime_part *pt = &r->parts[i];
		assert_true(pt->header_offset + pt->header_size == pt->body_offset);
		assert_true(pt->body_offset + pt->body_size <= len);
		uint32_t children = 0;
		for (size_t j = i + 1; j < r->part_count; j++)
			if (r->parts[j].parent == i)
				children++;
		assert_int_equal(children, pt->children);
		if (pt->kind == MIME_PART_MESSAGE)
			assert_int_equal(pt->children, 1);
		if (pt->kind == MIME_PART_LEAF)
			assert_int_equal(pt->children, 0);
		if (i > 0) {
			/* children lie inside their parent's body */
			const struct mime_part *parent = &r->parts[pt->parent];
			assert_true(pt->parent < i);
			assert_true(pt->header_offset >= parent->body_offset);
			assert_true(pt->body_offset + pt->body_size <=
				    parent->body_offset + parent->body_size);
		}
	}
}

/* Parentheses balance outside quoted strings and literals. */
static bool imap_balanced(const char *s)
{
	int depth = 0;
	for (size_t i = 0; s[i] != '\0'; i++) {
		if (s[i] == '"') {
			for (i++; s[i] != '"'; i++) {
				if (s[i] == '\0')
					return false;
				if (s[i] == '\\')
					i++;
			}
		} else if (s[i] == '{') {
			char *end;
			unsigned long n = strtoul(s + i + 1, &end, 10);
			if (end[0] != '}' || end[1] != '\r' || end[2] != '\n')
				return false;
			i = (size_t)(end + 2 - s) + n;
		} else if (s[i] == '(') {
			depth++;
		} else if (s[i] == ')' && --depth < 0) {
			return false;
		}
	}
	return depth == 0;
}

/* ------------------------------------------------------------------ */
/* .expected files (format in tests/data/mime/make_expected.py)        */

struct entry {
	char kind[16], name[64];
	const uint8_t *value; /* NULL for NIL and for one-line entries */
	size_t len;
	const char *line;     /* one-line entries: the rest of the line */
};

struct expected {
	uint8_t *data;
	struct entry *entries;
	size_t count;
};

static void expected_load(struct expected *e, const char *path)
{
	size_t len, cap = 0;
	e->data = read_file(path, &len);
	e->entries = NULL;
	e->count = 0;
	assert_non_null(e->data);
	for (size_t pos = 0; pos < len;) {
		uint8_t *nl = memchr(e->data + pos, '\n', len - pos);
		assert_non_null(nl);
		*nl = '\0';
		char *line = (char *)e->data + pos;
		pos = (size_t)(nl - e->data) + 1;
		if (line[0] == '#' || line[0] == '\0')
			continue;
		if (e->count == cap) {
			cap = cap == 0 ? 16 : cap * 2;
			e->entries = realloc(e->entries, cap * sizeof(*e->entries));
		}
		struct entry *en = &e->entries[e->count++];
		memset(en, 0, sizeof(*en));
		char *sp = strchr(line, ' ');
		assert_non_null(sp);
		snprintf(en->kind, sizeof(en->kind), "%.*s", (int)(sp - line), line);
		if (strcmp(en->kind, "DOVECOT") != 0 && strcmp(en->kind, "SECTION") != 0 &&
		    strcmp(en->kind, "PETREL") != 0) {
			en->line = sp + 1;
			continue;
		}
		char *len_str = strrchr(sp + 1, ' ');
		assert_non_null(len_str);
		snprintf(en->name, sizeof(en->name), "%.*s", (int)(len_str - sp - 1), sp + 1);
		if (strcmp(len_str + 1, "NIL") == 0)
			continue;
		en->len = strtoul(len_str + 1, NULL, 10);
		assert_true(pos + en->len < len);
		en->value = e->data + pos;
		pos += en->len + 1;
	}
}

static void expected_free(struct expected *e)
{
	free(e->data);
	free(e->entries);
}

static const struct entry *expected_find(const struct expected *e, const char *kind,
					 const char *name)
{
	for (size_t i = 0; i < e->count; i++)
		if (strcmp(e->entries[i].kind, kind) == 0 &&
		    (name == NULL || strcmp(e->entries[i].name, name) == 0))
			return &e->entries[i];
	return NULL;
}

/* What Petrel must answer: its own entry where it differs on purpose. */
static const struct entry *expected_item(const struct expected *e, const char *item)
{
	const struct entry *en = expected_find(e, "PETREL", item);
	if (en != NULL) {
		/* every deliberate difference names the rule that decides */
		bool why = false;
		for (size_t i = 0; i < e->count; i++)
			if (strcmp(e->entries[i].kind, "WHY") == 0 &&
			    strncmp(e->entries[i].line, item, strlen(item)) == 0 &&
			    e->entries[i].line[strlen(item)] == ' ' &&
			    strstr(e->entries[i].line, "RFC ") != NULL)
				why = true;
		assert_true(why);
		return en;
	}
	return expected_find(e, "DOVECOT", item);
}

/* ------------------------------------------------------------------ */
/* Body sections (RFC 3501 6.4.5) from the part table                  */

static uint32_t nth_child(const struct mime_result *r, uint32_t parent, unsigned long n)
{
	for (uint32_t j = parent + 1; j < r->part_count; j++)
		if (r->parts[j].parent == parent && --n == 0)
			return j;
	return UINT32_MAX;
}

/* The bytes of BODY[spec]; false when no such part exists (Dovecot then
   returns an empty string). */
static bool resolve_section(const struct mime_result *r, const char *spec, uint64_t *off,
			    uint64_t *len)
{
	const struct mime_part *p = r->parts;
	uint32_t cur = UINT32_MAX; /* above the root: the message itself */
	const char *s = spec;

	while (*s >= '0' && *s <= '9') {
		char *end;
		unsigned long n = strtoul(s, &end, 10);
		uint32_t container;
		if (cur == UINT32_MAX) {
			container = p[0].kind == MIME_PART_MULTIPART ? 0 : UINT32_MAX;
			cur = container == UINT32_MAX ? (n == 1 ? 0 : UINT32_MAX) : nth_child(r, 0, n);
		} else if (p[cur].kind == MIME_PART_MULTIPART) {
			cur = nth_child(r, cur, n);
		} else if (p[cur].kind == MIME_PART_MESSAGE) {
			uint32_t c = nth_child(r, cur, 1);
			cur = p[c].kind == MIME_PART_MULTIPART ? nth_child(r, c, n) : (n == 1 ? c : UINT32_MAX);
		} else {
			cur = UINT32_MAX;
		}
		if (cur == UINT32_MAX)
			return false;
		s = *end == '.' ? end + 1 : end;
	}
	if (cur == UINT32_MAX) {
		/* HEADER and TEXT of the message itself */
		*off = strcmp(s, "HEADER") == 0 ? p[0].header_offset : p[0].body_offset;
		*len = strcmp(s, "HEADER") == 0 ? p[0].header_size : p[0].body_size;
		return true;
	}
	if (*s == '\0') {
		*off = p[cur].body_offset;
		*len = p[cur].body_size;
	} else if (strcmp(s, "MIME") == 0) {
		*off = p[cur].header_offset;
		*len = p[cur].header_size;
	} else {
		if (p[cur].kind != MIME_PART_MESSAGE)
			return false;
		uint32_t c = nth_child(r, cur, 1);
		bool header = strcmp(s, "HEADER") == 0;
		*off = header ? p[c].header_offset : p[c].body_offset;
		*len = header ? p[c].header_size : p[c].body_size;
	}
	return true;
}

/* ------------------------------------------------------------------ */
/* Corpus                                                              */

static bool report_item(const char *name, const char *item, const char *got,
			const struct entry *want)
{
	if (strlen(got) == want->len && memcmp(got, want->value, want->len) == 0)
		return true;
	fprintf(stderr, "%s: %s differs\n  want: %.*s\n  got:  %s\n", name, item,
		(int)(want->len > 2000 ? 2000 : want->len), (const char *)want->value, got);
	return false;
}

static bool check_items(const char *name, const struct expected *e, const struct mime_result *r)
{
	bool ok = true;
	ok &= report_item(name, "ENVELOPE", r->envelope, expected_item(e, "ENVELOPE"));
	ok &= report_item(name, "BODY", r->body, expected_item(e, "BODY"));
	ok &= report_item(name, "BODYSTRUCTURE", r->bodystructure, expected_item(e, "BODYSTRUCTURE"));
	return ok;
}

/* A literal cannot carry NUL (RFC 3501 4.3), so Dovecot sends 0x80 in
   its place; the part table points at the stored bytes. */
static bool same_section_bytes(const uint8_t *stored, const uint8_t *sent, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (stored[i] != sent[i] && !(stored[i] == '\0' && sent[i] == 0x80))
			return false;
	return true;
}

static bool check_sections(const char *name, const struct expected *e,
			   const struct mime_result *r, const uint8_t *msg)
{
	bool ok = true;
	if (expected_find(e, "NOSECTIONS", NULL) != NULL)
		return true;
	for (size_t i = 0; i < e->count; i++) {
		const struct entry *en = &e->entries[i];
		uint64_t off = 0, len = 0;
		if (strcmp(en->kind, "SECTION") != 0)
			continue;
		bool found = resolve_section(r, en->name, &off, &len);
		if (!found)
			len = 0;
		if (len != en->len || !same_section_bytes(msg + off, en->value, len)) {
			fprintf(stderr, "%s: BODY[%s] is %llu+%llu, Dovecot returns %zu bytes\n",
				name, en->name, (unsigned long long)off, (unsigned long long)len,
				en->len);
			ok = false;
		}
	}
	return ok;
}

static void corpus_limits(const struct expected *e, struct mime_limits *limits)
{
	const struct entry *en = expected_find(e, "LIMITS", NULL);
	*limits = MIME_DEFAULT_LIMITS;
	if (en != NULL) {
		char *end;
		limits->max_depth = (unsigned int)strtoul(en->line, &end, 10);
		limits->max_parts = (unsigned int)strtoul(end, NULL, 10);
	}
}

/* Every split point for small messages, a sample for large ones. */
static void check_splits(const char *name, const uint8_t *msg, size_t len,
			 const struct mime_limits *limits, const struct mime_result *whole,
			 const struct text_capture *whole_text)
{
	size_t step = len <= 4096 ? 1 : len / 97 + 1;
	for (size_t cut = 1; cut < len; cut += step) {
		struct text_capture t = { 0 };
		struct mime_result *r = parse_cuts(msg, len, &cut, 1, limits, &t);
		if (!same_result(whole, r) || t.body.len != whole_text->body.len ||
		    t.header.len != whole_text->header.len ||
		    (t.body.len > 0 && memcmp(t.body.data, whole_text->body.data, t.body.len) != 0)) {
			fprintf(stderr, "%s: result differs when split at %zu\n", name, cut);
			fail();
		}
		mime_result_free(&r);
		capture_free(&t);
	}
	/* random pieces of 1..300 bytes */
	for (int round = 0; round < 8; round++) {
		size_t cuts[4096], n = 0;
		for (size_t pos = 0; n < 4096;) {
			pos += 1 + rng_next() % (round < 4 ? 16 : 300);
			if (pos >= len)
				break;
			cuts[n++] = pos;
		}
		struct mime_result *r = parse_cuts(msg, len, cuts, n, limits, NULL);
		if (!same_result(whole, r)) {
			fprintf(stderr, "%s: result differs for random pieces (round %d)\n", name,
				round);
			fail();
		}
		mime_result_free(&r);
	}
}

static void check_corpus_message(const char *name)
{
	char path[1024];
	size_t len;
	struct expected e;
	struct mime_limits limits;

	snprintf(path, sizeof(path), "%s/%s", CORPUS_DIR, name);
	uint8_t *msg = read_file(path, &len);
	assert_non_null(msg);
	snprintf(path + strlen(path) - 4, 10, ".expected");
	expected_load(&e, path);
	corpus_limits(&e, &limits);

	struct text_capture text = { 0 };
	struct mime_result *whole = parse_whole(msg, len, &limits, &text);
	check_invariants(whole, len);
	assert_false(text.invalid_utf8);
	bool ok = check_items(name, &e, whole);
	ok &= check_sections(name, &e, whole, msg);
	if (!ok)
		fail_msg("%s does not match its .expected file", name);

	struct text_capture bytewise_text = { 0 };
	struct mime_result *bytewise = parse_bytewise(msg, len, &limits, &bytewise_text);
	if (!same_result(whole, bytewise) || bytewise_text.body.len != text.body.len)
		fail_msg("%s: byte-by-byte feeding gives another result", name);
	mime_result_free(&bytewise);
	capture_free(&bytewise_text);

	check_splits(name, msg, len, &limits, whole, &text);
	mime_result_free(&whole);
	capture_free(&text);
	expected_free(&e);
	free(msg);
}

static void test_corpus_message(void **state)
{
	check_corpus_message(*state);
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The corpus messages, sorted; one test each. */
static size_t list_corpus(char ***names_r)
{
	DIR *d = opendir(CORPUS_DIR);
	char **names = NULL;
	size_t count = 0, cap = 0;
	struct dirent *de;

	if (d == NULL)
		return 0;
	while ((de = readdir(d)) != NULL) {
		size_t n = strlen(de->d_name);
		if (n <= 4 || strcmp(de->d_name + n - 4, ".eml") != 0)
			continue;
		if (count == cap) {
			cap = cap == 0 ? 64 : cap * 2;
			names = realloc(names, cap * sizeof(*names));
		}
		names[count++] = strdup(de->d_name);
	}
	closedir(d);
	qsort(names, count, sizeof(*names), name_cmp);
	*names_r = names;
	return count;
}

static size_t corpus_count;

static void test_corpus_size(void **state)
{
	/* at least 45 real-world and broken messages */
	assert_true(corpus_count >= 45);
}

/* ------------------------------------------------------------------ */
/* Corpus-based checks of decoded headers and search text              */

static struct mime_result *parse_corpus(const char *name, struct text_capture *text)
{
	char path[1024];
	size_t len;
	snprintf(path, sizeof(path), "%s/%s", CORPUS_DIR, name);
	uint8_t *msg = read_file(path, &len);
	assert_non_null(msg);
	struct mime_result *r = parse_whole(msg, len, NULL, text);
	free(msg);
	return r;
}

static void assert_contains(const struct buf *b, const char *needle)
{
	buf_append_byte((struct buf *)b, '\0');
	((struct buf *)b)->len--;
	if (b->data == NULL || strstr((const char *)b->data, needle) == NULL)
		fail_msg("search text lacks \"%s\":\n%.*s", needle, (int)b->len,
			 b->data != NULL ? (const char *)b->data : "");
}

static void assert_lacks(const struct buf *b, const char *needle)
{
	buf_append_byte((struct buf *)b, '\0');
	((struct buf *)b)->len--;
	if (b->data != NULL && strstr((const char *)b->data, needle) != NULL)
		fail_msg("search text has \"%s\"", needle);
}

static void test_search_text_charsets(void **state)
{
	static const struct {
		const char *file, *header, *body;
	} cases[] = {
		{ "koi8r-cyrillic.eml", "Subject: Отчёт за март", "Отчёт за март готов" },
		{ "koi8r-cyrillic.eml", "From: Ольга Петрова <olga.petrova@example.ru>", "С уважением" },
		{ "iso2022jp-japanese.eml", "Subject: 会議の件について", "明日の会議は十時から" },
		{ "shiftjis-base64.eml", "Subject: 請求書のご案内", "請求書を添付いたします" },
		{ "gb2312-chinese.eml", "Subject: 会议通知", "本周五下午三点开会" },
		{ "big5-qp.eml", "Subject: 系統維護", "暫停服務兩小時" },
		{ "utf16-text-part.eml", "Subject: Export notes", "Résumé of the export" },
		{ "cp1252-labelled-latin1.eml", "Subject: Opening hours",
		  "Café opening hours – “new” € prices" },
		{ "outlook-alternative-cp1252.eml", "Subject: Updated schedule",
		  "Please find the “updated” schedule below – it replaces last week’s version." },
		{ "exchange-latin1-qp.eml", "Subject: Réunion d'équipe déplacée",
		  "La réunion d'équipe est déplacée à mardi." },
		{ "gmail-alternative-qp.eml", "From: Liv Andersen", "Maybe a éclair tart 🍰" },
		{ "raw-utf8-headers.eml", "Subject: Café ☕ meeting — 10:30", "Vi ses på Kaffehuset!" },
		{ "rfc2047-subjects.eml",
		  "Subject: 🎉 Congratulations, 😃 Björn and Zöe - final łódź", "Encoded words" },
		{ "calendar-invite.eml", "Subject: Invitation: Budget review",
		  "When: Thursday 4 April 13:00 – 14:00 UTC" },
		{ "broken-bad-base64.eml", "Subject: Scan with damaged base64", "Hello world!" },
		{ "forward-nested-twice.eml", "Subject: Fwd: Fwd: Correction request",
		  "it is Ærø, not Aero" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct text_capture t = { 0 };
		struct mime_result *r = parse_corpus(cases[i].file, &t);
		assert_false(t.invalid_utf8);
		assert_contains(&t.header, cases[i].header);
		assert_contains(&t.body, cases[i].body);
		mime_result_free(&r);
		capture_free(&t);
	}
}

static void test_search_text_html(void **state)
{
	struct text_capture t = { 0 };
	struct mime_result *r = parse_corpus("html-entities-script.eml", &t);
	assert_contains(&t.body, "Spring sale");
	assert_contains(&t.body, "Tom & Jerry's favourites: 20% off <today> €5 🌷 &unknown;");
	assert_contains(&t.body, "café");
	assert_lacks(&t.body, "tracking");
	assert_lacks(&t.body, "hidden");
	assert_lacks(&t.body, "color");
	assert_lacks(&t.body, "comment with");
	assert_lacks(&t.body, "<p");
	mime_result_free(&r);
	capture_free(&t);

	/* unknown transfer encodings are no text (RFC 2045 6.4) */
	struct text_capture u = { 0 };
	r = parse_corpus("broken-unknown-transfer-encoding.eml", &u);
	assert_contains(&u.body, "An invalid first Content-Transfer-Encoding");
	assert_lacks(&u.body, "begin 644");
	mime_result_free(&r);
	capture_free(&u);
}

static void test_search_text_pieces(void **state)
{
	/* A multibyte character, a QP escape and a base64 quantum cut by
	   every possible split still decode to the same text. */
	const char *msg = "Subject: =?utf-8?q?Gr=C3=BC=C3=9Fe?=\r\n"
			  "MIME-Version: 1.0\r\n"
			  "Content-Type: multipart/mixed; boundary=b\r\n\r\n"
			  "--b\r\nContent-Type: text/plain; charset=utf-8\r\n"
			  "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
			  "Gr=C3=BC=C3=9Fe aus K=C3=B6ln, soft=\r\nbreak=3D\r\n"
			  "--b\r\nContent-Type: text/plain; charset=iso-2022-jp\r\n"
			  "Content-Transfer-Encoding: base64\r\n\r\n"
			  "GyRCJDMkcyRLJEEkTxsoQg==\r\n"
			  "--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
			  "raw \xe2\x82\xac and broken \xe2\x82 bytes\r\n--b--\r\n";
	size_t len = strlen(msg);
	struct text_capture whole = { 0 };
	struct mime_result *r = parse_whole((const uint8_t *)msg, len, NULL, &whole);
	assert_contains(&whole.header, "Subject: Grüße\n");
	assert_contains(&whole.body, "Grüße aus Köln, softbreak=\n");
	assert_contains(&whole.body, "こんにちは");
	assert_contains(&whole.body, "raw € and broken \xef\xbf\xbd bytes");
	mime_result_free(&r);
	for (size_t cut = 1; cut < len; cut++) {
		struct text_capture t = { 0 };
		r = parse_cuts((const uint8_t *)msg, len, &cut, 1, NULL, &t);
		assert_false(t.invalid_utf8);
		assert_int_equal(t.body.len, whole.body.len);
		assert_memory_equal(t.body.data, whole.body.data, t.body.len);
		mime_result_free(&r);
		capture_free(&t);
	}
	capture_free(&whole);
}

/* Past the callback's flush size, pieces must not change the text either. */
static void test_search_text_large(void **state)
{
	struct buf m = BUF_INIT;
	buf_append_str(&m, "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=z\r\n\r\n");
	for (int part = 0; part < 12; part++) {
		static const char *const heads[] = {
			"Content-Type: text/plain; charset=utf-8\r\n\r\n",
			"Content-Type: text/html\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n",
			"Content-Type: text/plain; charset=koi8-r\r\nContent-Transfer-Encoding: base64\r\n\r\n",
		};
		buf_printf(&m, "--z\r\n%s", heads[part % 3]);
		for (int line = 0; line < 700; line++) {
			if (part % 3 == 0)
				buf_printf(&m, "line %d of part %d: caf\xc3\xa9\r\n", line, part);
			else if (part % 3 == 1)
				buf_printf(&m, "<p>line %d &amp; caf=C3=A9 <b>bold</b>=\r\n text</p>\r\n", line);
			else
				buf_append_str(&m, "79Teo9Qg2sEgzcHS1A==\r\n");
		}
	}
	buf_append_str(&m, "--z--\r\n");

	struct text_capture whole = { 0 };
	struct mime_result *r = parse_whole(m.data, m.len, NULL, &whole);
	mime_result_free(&r);
	assert_true(whole.body.len > 3 * 16 * 1024);
	static const size_t pieces[] = { 1, 7, 4095, 16385, 65536 };
	for (size_t k = 0; k < sizeof(pieces) / sizeof(pieces[0]); k++) {
		struct text_capture t = { 0 };
		struct mime_parser *p = mime_parser_create(NULL, capture_cb, &t);
		for (size_t pos = 0; pos < m.len; pos += pieces[k])
			mime_parser_feed(p, m.data + pos, m.len - pos < pieces[k] ? m.len - pos : pieces[k]);
		r = mime_parser_finish(p);
		assert_false(t.invalid_utf8);
		assert_int_equal(t.body.len, whole.body.len);
		assert_memory_equal(t.body.data, whole.body.data, t.body.len);
		mime_result_free(&r);
		capture_free(&t);
	}
	capture_free(&whole);
	buf_free(&m);
}

static void test_decoded_headers(void **state)
{
	struct mime_result *r = parse_corpus("rfc2047-subjects.eml", NULL);
	const struct mime_headers *h = &r->headers;
	assert_string_equal(h->subject, "🎉 Congratulations, 😃 Björn and Zöe - final łódź");
	assert_string_equal(h->from, "André Pirard <PIRARD@vm1.ulg.ac.be>");
	assert_string_equal(h->to, "Keith Moore <moore@cs.utk.edu>, Анна Каренина <anna@example.ru>");
	assert_string_equal(h->cc, "Team Übersicht: <ann@example.de>, <bert@example.de>;");
	assert_string_equal(h->sort_from, "PIRARD");
	assert_string_equal(h->sort_to, "moore");
	assert_string_equal(h->sort_cc, "ann");
	assert_true(h->date_valid);
	assert_int_equal(h->date, 1713031200);
	assert_int_equal(h->date_zone_minutes, 120);
	mime_result_free(&r);

	r = parse_corpus("mailman-list-footer.eml", NULL);
	h = &r->headers;
	assert_string_equal(h->subject, "[dev] Re: Re: Fwd: build fails on arm64 (fwd)");
	assert_string_equal(h->base_subject, "build fails on arm64");
	assert_string_equal(h->message_id, "<20240321181415.GA4242@kenji-laptop>");
	assert_string_equal(h->in_reply_to, "<87zfuo3w1d.fsf@example.org>");
	assert_string_equal(h->sender, "dev <dev-bounces@lists.example.org>");
	assert_null(h->cc);
	assert_null(h->references);
	mime_result_free(&r);

	r = parse_corpus("addresses-groups-routes.eml", NULL);
	h = &r->headers;
	assert_string_equal(h->from, "Smith, John (Sales) <john.smith@example.com>");
	assert_string_equal(h->to, "undisclosed-recipients: ;");
	assert_null(h->sort_to);
	assert_string_equal(h->sort_cc, "quoted local part");
	mime_result_free(&r);

	r = parse_corpus("thunderbird-plain-flowed.eml", NULL);
	assert_string_equal(r->headers.references, "<CAF2x9Lk3mQ@mail.example.net>");
	assert_string_equal(r->headers.cc, "Lindqvist, Erik <erik.lindqvist@example.se>");
	mime_result_free(&r);

	/* no header at all */
	r = parse_str("");
	assert_null(r->headers.subject);
	assert_null(r->headers.base_subject);
	assert_false(r->headers.date_valid);
	assert_string_equal(r->envelope, "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)");
	assert_string_equal(r->bodystructure,
			    "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0 NIL NIL NIL NIL)");
	mime_result_free(&r);
}

/* ------------------------------------------------------------------ */
/* Tables                                                              */

static void test_rfc2047(void **state)
{
	static const struct {
		const char *in, *out;
	} cases[] = {
		{ "plain text", "plain text" },
		{ "=?ISO-8859-1?Q?a?=", "a" },
		{ "=?ISO-8859-1?Q?a?= b", "a b" },
		/* RFC 2047 8: whitespace between adjacent encoded words goes */
		{ "=?ISO-8859-1?Q?a?= =?ISO-8859-1?Q?b?=", "ab" },
		{ "=?ISO-8859-1?Q?a?=  =?ISO-8859-1?Q?b?=", "ab" },
		{ "=?ISO-8859-1?Q?a?=\r\n =?ISO-8859-1?Q?b?=", "ab" },
		{ "=?ISO-8859-1?Q?a_b?=", "a b" },
		{ "=?ISO-8859-1?Q?a?= =?ISO-8859-2?Q?_b?=", "a b" },
		{ "(=?ISO-8859-1?Q?a?=)", "(a)" },
		{ "=?iso-8859-1?q?this=20is=20some=20text?=", "this is some text" },
		{ "=?US-ASCII?Q?Keith_Moore?=", "Keith Moore" },
		{ "=?ISO-8859-1?Q?Andr=E9?= Pirard", "André Pirard" },
		{ "=?UTF-8?B?w6TDtsO8?=", "äöü" },
		{ "=?utf-8?b?w6TDtsO8?=", "äöü" },
		/* a character split across two words (RFC 2047 5 forbids it,
		   mailers do it anyway) */
		{ "=?UTF-8?Q?=E2=82?= =?UTF-8?Q?=AC?=", "€" },
		{ "=?UTF-8?B?4oI=?= =?UTF-8?B?rA==?=", "€" },
		/* RFC 2231 5: a language in the charset */
		{ "=?US-ASCII*EN?Q?Keith_Moore?=", "Keith Moore" },
		{ "=?koi8-r?B?79Teo9Q=?=", "Отчёт" },
		{ "=?iso-2022-jp?B?GyRCJDMkcyRLJEEkTxsoQg==?=", "こんにちは" },
		{ "=?windows-1252?Q?=93quoted=94?=", "“quoted”" },
		/* broken ones stay as they are */
		{ "=?utf-8?q?unterminated", "=?utf-8?q?unterminated" },
		{ "=?utf-8?x?bogus?=", "=?utf-8?x?bogus?=" },
		{ "=??q?nocharset?=", "=??q?nocharset?=" },
		{ "=?utf-8?q?with space?=", "=?utf-8?q?with space?=" },
		/* unknown charset: UTF-8 if valid, else windows-1252 */
		{ "=?x-unknown?q?caf=C3=A9?=", "café" },
		{ "=?x-unknown?q?caf=E9?=", "café" },
		/* invalid UTF-8 in a UTF-8 word becomes U+FFFD */
		{ "=?utf-8?q?a=FFb?=", "a\xef\xbf\xbd" "b" },
		/* raw 8-bit text (RFC 6532), and raw Latin-1 */
		{ "Grüße", "Grüße" },
		{ "Gr\xfc\xdf" "e", "Grüße" },
		{ "a\r\n b", "a b" },
		{ "x=?utf-8?q?glued?=y", "xgluedy" },
		{ "=?utf-8?q?=00?=", "\xef\xbf\xbd" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *out = mime_decode_header(cases[i].in, strlen(cases[i].in));
		if (strcmp(out, cases[i].out) != 0)
			fail_msg("decode(\"%s\") = \"%s\", want \"%s\"", cases[i].in, out, cases[i].out);
		free(out);
	}
}

/* Parameters as BODYSTRUCTURE shows them. Like Dovecot (and as RFC 3501
   leaves it to clients), RFC 2231 sections are joined but not decoded. */
static void test_rfc2231_params(void **state)
{
	static const struct {
		const char *params, *out;
	} cases[] = {
		{ "name=a.txt", "(\"name\" \"a.txt\")" },
		{ "name=\"a b.txt\"", "(\"name\" \"a b.txt\")" },
		{ "name*=utf-8''%E2%82%AC.txt", "(\"name*\" \"utf-8''%E2%82%AC.txt\")" },
		{ "name*0=\"a\"; name*1=\"b\"", "(\"name\" \"ab\")" },
		{ "name*1=\"b\"; name*0=\"a\"", "(\"name\" \"ab\")" },
		{ "name*0*=utf-8''a%20; name*1=\"b%\"", "(\"name*\" \"utf-8''a%20b%25\")" },
		{ "name*0=a%; name*1*=b%20", "(\"name*\" \"''a%25b%20\")" },
		{ "name*0=a; name*2=c", "(\"name*0\" \"a\" \"name*2\" \"c\")" },
		{ "size=12; name*0=a; name*1=b", "(\"size\" \"12\" \"name\" \"ab\")" },
		{ "a=1; a=2", "(\"a\" \"1\" \"a\" \"2\")" },
		/* a broken parameter takes the next ';' with it (as in Dovecot) */
		{ "x; y=1", "NIL" },
		{ "x y=1; z=2", "(\"z\" \"2\")" },
		{ "a=\"un\\\"esc\"", "(\"a\" \"un\\\"esc\")" },
		{ "a=\"folded\r\n value\"", "(\"a\" \"folded value\")" },
		{ "name==?utf-8?b?Zm9v?=", "(\"name\" \"=?utf-8?b?Zm9v?=\")" },
		{ "a=(comment)b", "(\"a\" \"b\")" },
		{ "a=\"unterminated", "NIL" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char msg[512], want[512];
		snprintf(msg, sizeof(msg),
			 "MIME-Version: 1.0\r\nContent-Type: application/x; %s\r\n\r\nx",
			 cases[i].params);
		snprintf(want, sizeof(want),
			 "(\"application\" \"x\" %s NIL NIL \"7bit\" 1 NIL NIL NIL NIL)",
			 cases[i].out);
		struct mime_result *r = parse_str(msg);
		if (strcmp(r->bodystructure, want) != 0)
			fail_msg("params %s: %s, want %s", cases[i].params, r->bodystructure, want);
		mime_result_free(&r);
	}

	/* For SEARCH the message header's parameters are decoded. */
	struct text_capture t = { 0 };
	const char *msg = "MIME-Version: 1.0\r\nContent-Type: text/plain;\r\n"
			  " name*0*=iso-8859-1'fr'R%E9sum%E9; name*1=\".txt\"\r\n"
			  "Content-Disposition: attachment; filename*=utf-8''%E2%82%AC%20rates.pdf;\r\n"
			  " x=\"=?utf-8?q?caf=C3=A9?=\"\r\n\r\nx";
	struct mime_result *r = parse_whole((const uint8_t *)msg, strlen(msg), NULL, &t);
	assert_contains(&t.header, "Content-Type: text/plain; name=Résumé.txt\n");
	assert_contains(&t.header, "Content-Disposition: attachment; x=café; filename=€ rates.pdf\n");
	mime_result_free(&r);
	capture_free(&t);
}

static void test_dates(void **state)
{
	static const struct {
		const char *in;
		int64_t t;
		int zone;
	} good[] = {
		{ "Tue, 1 Jul 2003 10:52:37 +0200", 1057049557, 120 },
		{ "Tue,  1 Jul 2003 10:52:37 +0200 (CEST)", 1057049557, 120 },
		{ "1 Jul 2003 10:52:37 +0200", 1057049557, 120 },
		{ "Tue, 01 Jul 2003 10:52 +0200", 1057049520, 120 },
		{ "Thu, 1 Jan 1970 00:00:00 +0000", 0, 0 },
		{ "Thu, 1 Jan 1970 00:00:00 -0130", 5400, -90 },
		{ "Mon, 29 Feb 2016 23:59:59 -0000", 1456790399, 0 },
		/* RFC 5322 4.3: obsolete years and zones */
		{ "Tue, 1 Jul 03 10:52:37 GMT", 1057056757, 0 },
		{ "Tue, 1 Jul 99 10:52:37 UT", 930826357, 0 },
		{ "Tue, 1 Jul 103 10:52:37 EST", 1057074757, -300 },
		{ "Tue, 1 Jul 2003 10:52:37 PDT", 1057081957, -420 },
		{ "Tue, 1 Jul 2003 10:52:37 Z", 1057056757, 0 },
		{ "Tue, 1 Jul 2003 10:52:37 CEST", 1057056757, 0 },
		{ "Tue 1 July 2003 10:52:37 +0000", 1057056757, 0 },
		{ "Tue, 1 Jul 2003 10 : 52 : 37 +0000", 1057056757, 0 },
		{ " (comment) Tue, (c) 1 Jul 2003 10:52:37 +0000", 1057056757, 0 },
		/* no zone: taken as UTC */
		{ "1 Jul 2003 10:52:37", 1057056757, 0 },
		{ "31 Dec 9999 23:59:59 +0000", 253402300799, 0 },
		{ "30 Jun 1969 00:00:00 +0000", -15984000, 0 },
	};
	static const char *const bad[] = {
		"", "garbage", "Tue, 1 Jul", "32 Jan 2003 10:00:00 +0000",
		"29 Feb 2003 10:00:00 +0000", "1 Foo 2003 10:00:00 +0000",
		"1 Jul 2003 24:00:00 +0000", "1 Jul 2003 10:60:00 +0000",
		"1 Jul 2003 10:00:61 +0000", "1 Jul 2003 10:00:00 +01", "1 Jul 2003 10:00:00 +0160",
		"1 Jul 2003", "1 Jul 2003 10", "1 Jul 5 10:00:00 +0000", "Tue,, 1 Jul 2003 10:00 +0000",
	};
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		int64_t t = 0;
		int zone = 1;
		if (mime_parse_date(good[i].in, &t, &zone) != 0)
			fail_msg("\"%s\" did not parse", good[i].in);
		if (t != good[i].t || zone != good[i].zone)
			fail_msg("\"%s\": %lld %d, want %lld %d", good[i].in, (long long)t, zone,
				 (long long)good[i].t, good[i].zone);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int64_t t;
		int zone;
		if (mime_parse_date(bad[i], &t, &zone) == 0)
			fail_msg("\"%s\" parsed", bad[i]);
	}
}

static void test_base_subject(void **state)
{
	static const struct {
		const char *in, *out;
	} cases[] = {
		{ "hello", "hello" },
		{ "Re: hello", "hello" },
		{ "RE: Fwd: re: hello", "hello" },
		{ "Re[2]: hello", "hello" },
		{ "Re [2]: hello", "hello" },
		{ "[list] Re: hello", "hello" },
		{ "Re: [list] hello", "hello" },
		{ "[list]", "[list]" },
		{ "[a][b] hello", "hello" },
		{ "hello (fwd)", "hello" },
		{ "hello (FWD)  (fwd) ", "hello" },
		{ "[fwd: hello]", "hello" },
		{ "[Fwd: Re: hello (fwd)]", "hello" },
		{ "  lots   of\tspace  ", "lots of space" },
		{ "Re:", "" },
		{ "Fw: x", "x" },
		{ "Fwd:x", "x" },
		{ "Reply: x", "Reply: x" },
		{ "", "" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char msg[256];
		snprintf(msg, sizeof(msg), "Subject: %s\r\n\r\n", cases[i].in);
		struct mime_result *r = parse_str(msg);
		if (strcmp(r->headers.base_subject, cases[i].out) != 0)
			fail_msg("base subject of \"%s\" is \"%s\", want \"%s\"", cases[i].in,
				 r->headers.base_subject, cases[i].out);
		mime_result_free(&r);
	}
}

/* IMAP string forms: quoted when possible, literals otherwise. */
static void test_imap_strings(void **state)
{
	static const struct {
		const char *header, *envelope_start;
	} cases[] = {
		{ "Subject: plain", "(NIL \"plain\" " },
		{ "Subject: tab\there", "(NIL {8}\r\ntab here " },
		{ "Subject: two  spaces", "(NIL {10}\r\ntwo spaces " },
		{ "Subject: \"quoted\"", "(NIL {8}\r\n\"quoted\" " },
		{ "Subject: caf\xc3\xa9", "(NIL {5}\r\ncaf\xc3\xa9 " },
		{ "Subject:  ", "(NIL \"\" " },
		{ "Subject: a\r\n b", "(NIL {3}\r\na b " },
		{ "Message-ID: <a\"b\"c@d>", "(NIL NIL NIL NIL NIL NIL NIL NIL NIL \"<a\\\"b\\\"c@d>\")" },
		{ "Message-ID: <\"a\\\\\"b\"c\"@d>", "(NIL NIL NIL NIL NIL NIL NIL NIL NIL {13}\r\n<\"a\\\\\"b\"c\"@d>)" },
		{ "Message-ID:\r\n <folded@x>", "(NIL NIL NIL NIL NIL NIL NIL NIL NIL \" <folded@x>\")" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char msg[256];
		snprintf(msg, sizeof(msg), "%s\r\n\r\n", cases[i].header);
		struct mime_result *r = parse_str(msg);
		if (strncmp(r->envelope, cases[i].envelope_start, strlen(cases[i].envelope_start)) != 0)
			fail_msg("%s: ENVELOPE %s", cases[i].header, r->envelope);
		assert_true(imap_balanced(r->envelope));
		mime_result_free(&r);
	}
}

/* ------------------------------------------------------------------ */
/* Limits                                                              */

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void test_limit_parts(void **state)
{
	struct buf m = BUF_INIT;
	buf_append_str(&m, "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=p\r\n\r\n");
	for (int i = 0; i < 1200; i++)
		buf_printf(&m, "--p\r\n\r\npart %d\r\n", i + 1);
	buf_append_str(&m, "--p--\r\nepilogue\r\n");

	/* Default limits: the root and 999 parts; then no boundary counts any
	   more, so the 999th part runs to the end (as Dovecot does at its own
	   limit of 10000). */
	struct mime_result *r = parse_whole(m.data, m.len, NULL, NULL);
	check_invariants(r, m.len);
	assert_int_equal(r->part_count, 1000);
	assert_true(r->limits_hit == false); /* nothing was made opaque */
	assert_int_equal(r->parts[0].children, 999);
	const struct mime_part *last = &r->parts[999];
	const char *tail = "part 999\r\n--p\r\n\r\npart 1000\r\n";
	assert_memory_equal(m.data + last->body_offset, tail, strlen(tail));
	assert_int_equal(last->body_offset + last->body_size, m.len);
	assert_true(imap_balanced(r->bodystructure));
	mime_result_free(&r);

	/* A message/rfc822 past the limit stays a leaf, and with the limit
	   reached the closing boundary no longer counts either. */
	buf_clear(&m);
	buf_append_str(&m, "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=p\r\n\r\n");
	buf_append_str(&m, "--p\r\n\r\none\r\n--p\r\nContent-Type: message/rfc822\r\n\r\n"
			   "Subject: inner\r\n\r\nbody\r\n--p--\r\n");
	struct mime_limits three = { 100, 3, 1024 * 1024 };
	r = parse_whole(m.data, m.len, &three, NULL);
	assert_true(r->limits_hit);
	assert_int_equal(r->part_count, 3);
	assert_int_equal(r->parts[2].kind, MIME_PART_LEAF);
	assert_non_null(strstr(r->bodystructure, "(\"application\" \"octet-stream\" NIL NIL NIL \"7bit\" 31 NIL"));
	mime_result_free(&r);
	buf_free(&m);

	/* 100000 parts: linear time, bounded table */
	buf_init(&m, 0);
	buf_append_str(&m, "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=x\r\n\r\n");
	for (int i = 0; i < 100000; i++)
		buf_append_str(&m, "--x\r\n\r\ny\r\n");
	double t0 = now();
	r = parse_whole(m.data, m.len, NULL, NULL);
	assert_true(now() - t0 < 10.0); /* linear; quadratic would take hours */
	assert_int_equal(r->part_count, 1000);
	mime_result_free(&r);
	buf_free(&m);
}

static void test_limit_depth(void **state)
{
	/* 100 nested multiparts are in the corpus; here 5000 levels of both
	   kinds stop at the depth limit, in bounded time. */
	struct buf m = BUF_INIT;
	for (int i = 0; i < 5000; i++)
		buf_printf(&m, "Content-Type: multipart/mixed; boundary=\"d%04d\"\r\n\r\n--d%04d\r\n", i, i);
	double t0 = now();
	struct mime_result *r = parse_whole(m.data, m.len, NULL, NULL);
	assert_true(now() - t0 < 10.0); /* linear; quadratic would take hours */
	check_invariants(r, m.len);
	assert_true(r->limits_hit);
	assert_int_equal(r->part_count, 100);
	assert_int_equal(r->parts[99].kind, MIME_PART_LEAF);
	assert_true(imap_balanced(r->bodystructure));
	mime_result_free(&r);

	buf_clear(&m);
	for (int i = 0; i < 5000; i++)
		buf_append_str(&m, "MIME-Version: 1.0\r\nContent-Type: message/rfc822\r\n\r\n");
	r = parse_whole(m.data, m.len, NULL, NULL);
	check_invariants(r, m.len);
	assert_int_equal(r->part_count, 100);
	assert_true(r->limits_hit);
	mime_result_free(&r);

	/* a tighter limit */
	struct mime_limits two = { 2, 1000, 1024 * 1024 };
	r = parse_str("Content-Type: multipart/mixed; boundary=a\r\n\r\n--a\r\n"
		      "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\nx\r\n--b--\r\n--a--\r\n");
	mime_result_free(&r);
	const char *msg = "Content-Type: multipart/mixed; boundary=a\r\n\r\n--a\r\n"
			  "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\nx\r\n--b--\r\n--a--\r\n";
	r = parse_whole((const uint8_t *)msg, strlen(msg), &two, NULL);
	assert_string_equal(r->body,
			    "((\"application\" \"octet-stream\" (\"boundary\" \"b\") NIL NIL \"7bit\" 15) \"mixed\")");
	mime_result_free(&r);
	buf_free(&m);
}

static void test_limit_header_size(void **state)
{
	struct buf m = BUF_INIT;
	buf_append_str(&m, "Subject: first\r\nX-Filler: ");
	for (int i = 0; i < 3000; i++)
		buf_append_str(&m, "0123456789");
	buf_append_str(&m, "\r\nSubject: past the limit\r\nContent-Type: text/html\r\n\r\nbody\r\n");
	struct mime_limits small = { 100, 1000, 1024 };
	struct mime_result *r = parse_whole(m.data, m.len, &small, NULL);
	/* fields past max_header_size are not parsed */
	assert_non_null(strstr(r->envelope, "\"first\""));
	assert_non_null(strstr(r->bodystructure, "\"text\" \"plain\""));
	assert_int_equal(r->parts[0].body_size, 6);
	mime_result_free(&r);
	buf_free(&m);
}

/* ------------------------------------------------------------------ */
/* Hostile input                                                       */

static void check_split_invariance(const uint8_t *d, size_t len)
{
	struct mime_result *whole = parse_whole(d, len, NULL, NULL);
	check_invariants(whole, len);
	assert_true(imap_balanced(whole->envelope));
	assert_true(imap_balanced(whole->body));
	assert_true(imap_balanced(whole->bodystructure));
	size_t cut = len > 0 ? 1 + rng_next() % (len > 1 ? len - 1 : 1) : 0;
	struct mime_result *split = parse_cuts(d, len, &cut, cut < len ? 1 : 0, NULL, NULL);
	if (!same_result(whole, split))
		fail_msg("split at %zu changes the result", cut);
	mime_result_free(&split);
	mime_result_free(&whole);
}

static void test_hostile_random(void **state)
{
	static const char *const pieces[] = {
		"\r\n", "--", "--b", "--b--", "\r\n\r\n", "Content-Type: multipart/mixed; boundary=b",
		"Content-Type: message/rfc822", "MIME-Version: 1.0", ":", ";", "\"", "(", ")", "\\",
		"<", ">", "@", ",", "=?utf-8?q?", "?=", " ", "\t", "\0", "\xff", "\r", "\n",
		"From: ", "Subject: ", "Content-Transfer-Encoding: base64", "boundary=\"\"",
		"Content-Type: multipart/digest; boundary=b", "Content-Disposition: a; f*0*=x; f*1=y",
	};
	struct text_capture t = { 0 };
	for (int round = 0; round < 3000; round++) {
		struct buf m = BUF_INIT;
		size_t n = rng_next() % 60;
		for (size_t i = 0; i < n; i++) {
			if (rng_next() % 4 == 0) {
				uint8_t c = (uint8_t)rng_next();
				buf_append(&m, &c, 1);
			} else {
				const char *p = pieces[rng_next() % (sizeof(pieces) / sizeof(pieces[0]))];
				buf_append(&m, p, p[0] == '\0' ? 1 : strlen(p));
			}
		}
		check_split_invariance(m.data != NULL ? m.data : (const uint8_t *)"", m.len);
		struct mime_result *r = parse_whole(m.data != NULL ? m.data : (const uint8_t *)"", m.len, NULL, &t);
		assert_false(t.invalid_utf8);
		mime_result_free(&r);
		buf_free(&m);
	}
	capture_free(&t);
}

static void test_hostile_shapes(void **state)
{
	struct buf m = BUF_INIT;

	/* a 2 MB line without LF, in the header and in a body */
	buf_append_str(&m, "Subject: ");
	for (int i = 0; i < 200000; i++)
		buf_append_str(&m, "xxxxxxxxxx");
	check_split_invariance(m.data, m.len);
	buf_clear(&m);
	buf_append_str(&m, "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\n");
	for (int i = 0; i < 200000; i++)
		buf_append_str(&m, "-x-x-x-x-x");
	check_split_invariance(m.data, m.len);

	/* a million lines starting with "--" under 99 open boundaries */
	buf_clear(&m);
	for (int i = 0; i < 99; i++)
		buf_printf(&m, "Content-Type: multipart/mixed; boundary=\"open-%02d\"\r\n\r\n--open-%02d\r\n", i, i);
	buf_append_str(&m, "\r\n");
	for (int i = 0; i < 1000000; i++)
		buf_append_str(&m, "--open-9\r\n");
	double t0 = now();
	struct mime_result *r = parse_whole(m.data, m.len, NULL, NULL);
	assert_true(now() - t0 < 15.0);
	check_invariants(r, m.len);
	mime_result_free(&r);

	/* unterminated everything */
	static const char *const broken[] = {
		"From: (unterminated comment\r\n\r\n",
		"From: \"unterminated quote\r\n\r\n",
		"From: <unterminated@angle\r\n\r\n",
		"To: group: a@b, c@d\r\n\r\n",
		"From: a@[1.2.3.4\r\n\r\n",
		"Content-Type: text/plain; name=\"x\r\n\r\n",
		"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: multipart/mixed; boundary=c\r\n\r\n--c\r\n",
		"Content-Type: message/rfc822\r\n\r\nContent-Type: message/rfc822\r\n\r\n",
		"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b",
		"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n--b\r\n--b\r\n",
		"\r\n\r\n\r\n",
		"\0\0\0\r\n\0: \0\r\n\r\n\0",
		"Subject: =?utf-8?b?",
		"Content-Type: text/html\r\n\r\n<script>never closed &amp",
		"Content-Type: text/plain\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n=",
		"Content-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\n=A",
		"Content-Type: text/plain; charset=utf-16\r\nContent-Transfer-Encoding: base64\r\n\r\n2D3d",
		"Content-Type: text/plain; charset=koi8-r\r\n\r\n",
		"Content-Type: text/plain; charset=utf-7\r\n\r\n+AGEAYgBj\x1a+-+AG",
	};
	for (size_t i = 0; i < sizeof(broken) / sizeof(broken[0]); i++) {
		size_t len = strlen(broken[i]);
		if (i == 11)
			len = 14;
		struct text_capture t = { 0 };
		check_split_invariance((const uint8_t *)broken[i], len);
		r = parse_whole((const uint8_t *)broken[i], len, NULL, &t);
		assert_false(t.invalid_utf8);
		mime_result_free(&r);
		capture_free(&t);
	}
	buf_free(&m);
}

static void test_destroy_unfinished(void **state)
{
	const char *msg = "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nSubject: x";
	struct text_capture t = { 0 };
	struct mime_parser *p = mime_parser_create(NULL, capture_cb, &t);
	mime_parser_feed(p, (const uint8_t *)msg, strlen(msg));
	mime_parser_destroy(&p);
	assert_null(p);
	mime_parser_destroy(&p);
	capture_free(&t);
	struct mime_result *r = NULL;
	mime_result_free(&r);
}

/* Dovecot refuses to store an empty message; RFC 3501 still needs an
   answer, and this is the one its defaults give. */
static void test_empty_message(void **state)
{
	struct mime_result *r = parse_str("");
	assert_int_equal(r->part_count, 1);
	assert_int_equal(r->size, 0);
	assert_string_equal(r->body, "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0)");
	mime_result_free(&r);
}

int main(void)
{
	static const struct CMUnitTest fixed[] = {
		cmocka_unit_test(test_corpus_size),
		cmocka_unit_test(test_search_text_charsets),
		cmocka_unit_test(test_search_text_html),
		cmocka_unit_test(test_search_text_pieces),
		cmocka_unit_test(test_search_text_large),
		cmocka_unit_test(test_decoded_headers),
		cmocka_unit_test(test_rfc2047),
		cmocka_unit_test(test_rfc2231_params),
		cmocka_unit_test(test_dates),
		cmocka_unit_test(test_base_subject),
		cmocka_unit_test(test_imap_strings),
		cmocka_unit_test(test_limit_parts),
		cmocka_unit_test(test_limit_depth),
		cmocka_unit_test(test_limit_header_size),
		cmocka_unit_test(test_hostile_random),
		cmocka_unit_test(test_hostile_shapes),
		cmocka_unit_test(test_destroy_unfinished),
		cmocka_unit_test(test_empty_message),
	};
	size_t nfixed = sizeof(fixed) / sizeof(fixed[0]);
	char **names = NULL;
	corpus_count = list_corpus(&names);

	struct CMUnitTest *tests = calloc(corpus_count + nfixed, sizeof(*tests));
	for (size_t i = 0; i < corpus_count; i++)
		tests[i] = (struct CMUnitTest){ names[i], test_corpus_message, NULL, NULL, names[i] };
	memcpy(tests + corpus_count, fixed, sizeof(fixed));
	int failed = _cmocka_run_group_tests("test_mime", tests, corpus_count + nfixed, NULL, NULL);
	for (size_t i = 0; i < corpus_count; i++)
		free(names[i]);
	free(names);
	free(tests);
	return failed;
}
