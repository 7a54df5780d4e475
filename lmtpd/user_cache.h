/*
 * Recently delivered-to users stay open for a while. Opening a user maps
 * its index and checks for crashed writers, which costs more than a small
 * delivery; an MTA sends one user several messages in a row, often on one
 * connection, where the user would otherwise be closed and reopened for
 * each. The cache holds one store reference per user; RCPT's
 * store_user_open() then finds it open. Loop thread only.
 */
#ifndef PETREL_LMTPD_USER_CACHE_H
#define PETREL_LMTPD_USER_CACHE_H

#include <stdbool.h>
#include <stdint.h>

#include <uv.h>

struct store_user;

#define USER_CACHE_SIZE 64
#define USER_CACHE_IDLE_MS 10000

struct user_cache {
	struct {
		struct store_user *u;
		uint64_t last_used;
	} entries[USER_CACHE_SIZE];
	uv_timer_t timer;
	bool timer_started;
};

void user_cache_init(struct user_cache *c, uv_loop_t *loop);
/* Takes over the caller's reference. */
void user_cache_put(struct user_cache *c, struct store_user **u);
/* Whether the user (a store user name) is held open. */
bool user_cache_holds(const struct user_cache *c, const char *name);
/* Closes every entry and the timer (the loop must run to finish). */
void user_cache_deinit(struct user_cache *c);

#endif
