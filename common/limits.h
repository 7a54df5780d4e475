/*
 * Connection counting and the authentication-failure penalty.
 *
 * Both are keyed tables in one process. With `workers` > 1 (future) each
 * process counts its own connections; the per-IP and per-user limits are
 * then per worker, which is documented in conf/petrel.conf.
 */
#ifndef PETREL_COMMON_LIMITS_H
#define PETREL_COMMON_LIMITS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A hash table from byte strings to a counter and a timestamp. */
struct count_entry {
	struct count_entry *next;
	uint32_t hash;
	uint32_t count;
	uint64_t stamp;
	size_t keylen;
	uint8_t key[];
};

struct count_table {
	struct count_entry **buckets;
	size_t nbuckets;
	size_t entries;
};

void count_table_init(struct count_table *t);
void count_table_deinit(struct count_table *t);
/* Finds the entry for key; creates it (count 0) when `create`. */
struct count_entry *count_table_get(struct count_table *t, const void *key, size_t keylen,
				    bool create);
void count_table_remove(struct count_table *t, struct count_entry *e);

struct conn_limits {
	struct count_table by_ip;
	struct count_table by_user;
};

void conn_limits_init(struct conn_limits *l);
void conn_limits_deinit(struct conn_limits *l);
/* Counts one more connection for the key unless it already has `max`.
   Returns 0, or -1 (nothing counted) at the limit. */
int conn_limits_add(struct count_table *t, const void *key, size_t keylen, unsigned int max);
void conn_limits_remove(struct count_table *t, const void *key, size_t keylen);

/*
 * Failed logins make the next reply to that client address slower: the
 * n-th failure within `window` is answered after base * 2^(n-1), at most
 * `max`. A success from the address clears its record; records older than
 * the window are swept.
 */
struct auth_penalty {
	struct count_table by_ip;
	uint64_t base_ms, max_ms, window_ms;
	size_t max_entries; /* when full, unknown addresses get max_ms */
};

#define AUTH_PENALTY_MAX_ENTRIES 100000

void auth_penalty_init(struct auth_penalty *p, uint64_t base_ms, uint64_t max_ms,
		       uint64_t window_ms);
void auth_penalty_deinit(struct auth_penalty *p);
/* Records a failure and returns how long to delay its reply. */
uint64_t auth_penalty_failure(struct auth_penalty *p, const void *key, size_t keylen,
			      uint64_t now_ms);
void auth_penalty_success(struct auth_penalty *p, const void *key, size_t keylen);
void auth_penalty_sweep(struct auth_penalty *p, uint64_t now_ms);

#endif
