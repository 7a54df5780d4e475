/*
 * Per-message DNS answer cache (see dns.h). A message asks a few dozen
 * questions at most, so a flat array searched linearly is both the
 * simplest and the fastest structure here.
 */
#include "mailauth/dns.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "common/xalloc.h"

enum entry_state {
	ENTRY_QUEUED,
	ENTRY_TAKEN,
	ENTRY_ANSWERED,
};

struct entry {
	char *name;
	enum dns_type type;
	enum entry_state state;
	struct dns_answer answer;
};

struct dns_cache {
	struct entry *entries;
	size_t count, alloc;
	size_t asked; /* distinct questions asked through dns_cache_get */
};

static const struct dns_answer tempfail_answer = {.status = DNS_TEMPFAIL};
static const struct dns_answer nxdomain_answer = {.status = DNS_NXDOMAIN};

struct dns_cache *dns_cache_new(void)
{
	return xcalloc(1, sizeof(struct dns_cache));
}

static void answer_free(struct dns_answer *a)
{
	for (size_t i = 0; i < a->count; i++)
		free(a->records[i].data);
	free(a->records);
	a->records = NULL;
	a->count = 0;
}

void dns_cache_free(struct dns_cache *cache)
{
	if (cache == NULL)
		return;
	for (size_t i = 0; i < cache->count; i++) {
		free(cache->entries[i].name);
		answer_free(&cache->entries[i].answer);
	}
	free(cache->entries);
	free(cache);
}

/* Lowercase copy without a trailing dot; NULL when too long or empty. */
static char *normalise(const char *name)
{
	size_t len = strlen(name);
	if (len > 0 && name[len - 1] == '.')
		len--;
	if (len == 0 || len > DNS_NAME_MAX)
		return NULL;
	char *out = xmalloc(len + 1);
	for (size_t i = 0; i < len; i++)
		out[i] = (char)tolower((unsigned char)name[i]);
	out[len] = '\0';
	return out;
}

static struct entry *find(struct dns_cache *cache, const char *norm, enum dns_type type)
{
	for (size_t i = 0; i < cache->count; i++) {
		struct entry *e = &cache->entries[i];
		if (e->type == type && strcmp(e->name, norm) == 0)
			return e;
	}
	return NULL;
}

static struct entry *add(struct dns_cache *cache, char *norm, enum dns_type type)
{
	if (cache->count == cache->alloc) {
		cache->alloc = cache->alloc ? cache->alloc * 2 : 16;
		cache->entries = xreallocarray(cache->entries, cache->alloc, sizeof(*cache->entries));
	}
	struct entry *e = &cache->entries[cache->count++];
	memset(e, 0, sizeof(*e));
	e->name = norm;
	e->type = type;
	e->state = ENTRY_QUEUED;
	return e;
}

const struct dns_answer *dns_cache_get(struct dns_cache *cache, const char *name,
				       enum dns_type type)
{
	char *norm = normalise(name);
	if (norm == NULL)
		return &nxdomain_answer;
	struct entry *e = find(cache, norm, type);
	if (e != NULL) {
		free(norm);
		return e->state == ENTRY_ANSWERED ? &e->answer : NULL;
	}
	if (cache->asked >= DNS_CACHE_MAX_QUERIES) {
		free(norm);
		return &tempfail_answer;
	}
	cache->asked++;
	add(cache, norm, type);
	return NULL;
}

size_t dns_cache_take_questions(struct dns_cache *cache, struct dns_question *out, size_t max)
{
	size_t n = 0;
	for (size_t i = 0; i < cache->count && n < max; i++) {
		struct entry *e = &cache->entries[i];
		if (e->state != ENTRY_QUEUED)
			continue;
		e->state = ENTRY_TAKEN;
		out[n].name = e->name;
		out[n].type = e->type;
		n++;
	}
	return n;
}

bool dns_cache_has_open_questions(const struct dns_cache *cache)
{
	for (size_t i = 0; i < cache->count; i++)
		if (cache->entries[i].state != ENTRY_ANSWERED)
			return true;
	return false;
}

void dns_cache_put(struct dns_cache *cache, const char *name, enum dns_type type,
		   enum dns_status status, const struct dns_record *records, size_t count)
{
	char *norm = normalise(name);
	if (norm == NULL)
		return;
	struct entry *e = find(cache, norm, type);
	if (e == NULL) {
		e = add(cache, norm, type);
	} else {
		free(norm);
		if (e->state == ENTRY_ANSWERED)
			return;
	}
	e->state = ENTRY_ANSWERED;
	if (status == DNS_OK && count == 0)
		status = DNS_NODATA;
	e->answer.status = status;
	if (status != DNS_OK)
		return;
	e->answer.records = xcalloc(count, sizeof(struct dns_record));
	e->answer.count = count;
	for (size_t i = 0; i < count; i++) {
		struct dns_record *dst = &e->answer.records[i];
		*dst = records[i];
		dst->data = NULL;
		if (records[i].data != NULL) {
			dst->data = xmalloc(records[i].len + 1);
			memcpy(dst->data, records[i].data, records[i].len);
			dst->data[records[i].len] = '\0';
		}
	}
}

size_t dns_cache_question_count(const struct dns_cache *cache)
{
	return cache->asked;
}

const char *dns_type_name(enum dns_type type)
{
	switch (type) {
	case DNS_T_A:
		return "A";
	case DNS_T_PTR:
		return "PTR";
	case DNS_T_MX:
		return "MX";
	case DNS_T_TXT:
		return "TXT";
	case DNS_T_AAAA:
		return "AAAA";
	}
	return "?";
}
