#include "common/limits.h"

#include <stdlib.h>
#include <string.h>

#include "common/xalloc.h"

/* FNV-1a: keys are short (addresses, user names) and not attacker-chosen in
   bulk beyond what the connection limits already bound. */
static uint32_t hash_bytes(const uint8_t *p, size_t len)
{
	uint32_t h = 2166136261u;
	for (size_t i = 0; i < len; i++) {
		h ^= p[i];
		h *= 16777619u;
	}
	return h;
}

void count_table_init(struct count_table *t)
{
	t->nbuckets = 64;
	t->buckets = xcalloc(t->nbuckets, sizeof(*t->buckets));
	t->entries = 0;
}

void count_table_deinit(struct count_table *t)
{
	for (size_t i = 0; i < t->nbuckets; i++) {
		struct count_entry *e = t->buckets[i];
		while (e != NULL) {
			struct count_entry *next = e->next;
			free(e);
			e = next;
		}
	}
	free(t->buckets);
	t->buckets = NULL;
	t->nbuckets = t->entries = 0;
}

static void grow(struct count_table *t)
{
	size_t n = t->nbuckets * 2;
	struct count_entry **b = xcalloc(n, sizeof(*b));
	for (size_t i = 0; i < t->nbuckets; i++) {
		struct count_entry *e = t->buckets[i];
		while (e != NULL) {
			struct count_entry *next = e->next;
			e->next = b[e->hash & (n - 1)];
			b[e->hash & (n - 1)] = e;
			e = next;
		}
	}
	free(t->buckets);
	t->buckets = b;
	t->nbuckets = n;
}

struct count_entry *count_table_get(struct count_table *t, const void *key, size_t keylen,
				    bool create)
{
	uint32_t h = hash_bytes(key, keylen);
	for (struct count_entry *e = t->buckets[h & (t->nbuckets - 1)]; e != NULL; e = e->next)
		if (e->hash == h && e->keylen == keylen && memcmp(e->key, key, keylen) == 0)
			return e;
	if (!create)
		return NULL;
	if (t->entries >= t->nbuckets)
		grow(t);
	struct count_entry *e = xcalloc(1, sizeof(*e) + keylen);
	e->hash = h;
	e->keylen = keylen;
	memcpy(e->key, key, keylen);
	size_t idx = h & (t->nbuckets - 1);
	e->next = t->buckets[idx];
	t->buckets[idx] = e;
	t->entries++;
	return e;
}

void count_table_remove(struct count_table *t, struct count_entry *e)
{
	struct count_entry **pp = &t->buckets[e->hash & (t->nbuckets - 1)];
	while (*pp != NULL && *pp != e)
		pp = &(*pp)->next;
	if (*pp == NULL)
		abort(); /* not ours: a broken invariant */
	*pp = e->next;
	t->entries--;
	free(e);
}

void conn_limits_init(struct conn_limits *l)
{
	count_table_init(&l->by_ip);
	count_table_init(&l->by_user);
}

void conn_limits_deinit(struct conn_limits *l)
{
	count_table_deinit(&l->by_ip);
	count_table_deinit(&l->by_user);
}

int conn_limits_add(struct count_table *t, const void *key, size_t keylen, unsigned int max)
{
	struct count_entry *e = count_table_get(t, key, keylen, true);
	if (e->count >= max) {
		if (e->count == 0)
			count_table_remove(t, e);
		return -1;
	}
	e->count++;
	return 0;
}

void conn_limits_remove(struct count_table *t, const void *key, size_t keylen)
{
	struct count_entry *e = count_table_get(t, key, keylen, false);
	if (e == NULL || e->count == 0)
		abort(); /* removing what was never added */
	if (--e->count == 0)
		count_table_remove(t, e);
}

void auth_penalty_init(struct auth_penalty *p, uint64_t base_ms, uint64_t max_ms,
		       uint64_t window_ms)
{
	count_table_init(&p->by_ip);
	p->base_ms = base_ms;
	p->max_ms = max_ms < base_ms ? base_ms : max_ms;
	p->window_ms = window_ms;
	p->max_entries = AUTH_PENALTY_MAX_ENTRIES;
}

void auth_penalty_deinit(struct auth_penalty *p)
{
	count_table_deinit(&p->by_ip);
}

uint64_t auth_penalty_failure(struct auth_penalty *p, const void *key, size_t keylen,
			      uint64_t now_ms)
{
	struct count_entry *e = count_table_get(&p->by_ip, key, keylen, false);
	if (e == NULL) {
		/* Someone failing from very many addresses must not grow the
		   table without bound; they get the full penalty instead. */
		if (p->by_ip.entries >= p->max_entries)
			return p->max_ms;
		e = count_table_get(&p->by_ip, key, keylen, true);
	}
	if (e->count > 0 && now_ms - e->stamp > p->window_ms)
		e->count = 0;
	if (e->count < 64)
		e->count++;
	e->stamp = now_ms;
	uint64_t delay = p->base_ms;
	for (uint32_t i = 1; i < e->count && delay < p->max_ms; i++)
		delay *= 2;
	return delay < p->max_ms ? delay : p->max_ms;
}

void auth_penalty_success(struct auth_penalty *p, const void *key, size_t keylen)
{
	struct count_entry *e = count_table_get(&p->by_ip, key, keylen, false);
	if (e != NULL)
		count_table_remove(&p->by_ip, e);
}

void auth_penalty_sweep(struct auth_penalty *p, uint64_t now_ms)
{
	for (size_t i = 0; i < p->by_ip.nbuckets; i++) {
		struct count_entry *e = p->by_ip.buckets[i];
		while (e != NULL) {
			struct count_entry *next = e->next;
			if (now_ms - e->stamp > p->window_ms)
				count_table_remove(&p->by_ip, e);
			e = next;
		}
	}
}
