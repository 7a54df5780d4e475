#include "lmtpd/user_cache.h"

#include <string.h>

#include "store/store.h"

static void sweep_cb(uv_timer_t *t)
{
	struct user_cache *c = t->data;
	uint64_t now = uv_now(t->loop);
	bool any = false;
	for (size_t i = 0; i < USER_CACHE_SIZE; i++) {
		if (c->entries[i].u == NULL)
			continue;
		if (now - c->entries[i].last_used >= USER_CACHE_IDLE_MS)
			store_user_close(&c->entries[i].u);
		else
			any = true;
	}
	if (!any) {
		uv_timer_stop(t);
		c->timer_started = false;
	}
}

void user_cache_init(struct user_cache *c, uv_loop_t *loop)
{
	for (size_t i = 0; i < USER_CACHE_SIZE; i++)
		c->entries[i].u = NULL;
	uv_timer_init(loop, &c->timer);
	c->timer.data = c;
	/* The timer must not keep a stopping server alive. */
	uv_unref((uv_handle_t *)&c->timer);
	c->timer_started = false;
}

bool user_cache_holds(const struct user_cache *c, const char *name)
{
	for (size_t i = 0; i < USER_CACHE_SIZE; i++)
		if (c->entries[i].u != NULL && strcmp(store_user_name(c->entries[i].u), name) == 0)
			return true;
	return false;
}

void user_cache_put(struct user_cache *c, struct store_user **up)
{
	struct store_user *u = *up;
	*up = NULL;
	if (u == NULL)
		return;
	uint64_t now = uv_now(c->timer.loop);
	size_t oldest = 0, free_slot = USER_CACHE_SIZE;
	for (size_t i = 0; i < USER_CACHE_SIZE; i++) {
		if (c->entries[i].u == u) {
			/* Already held: one reference is enough. */
			c->entries[i].last_used = now;
			store_user_close(&u);
			return;
		}
		if (c->entries[i].u == NULL) {
			if (free_slot == USER_CACHE_SIZE)
				free_slot = i;
		} else if (c->entries[i].last_used < c->entries[oldest].last_used ||
			   c->entries[oldest].u == NULL) {
			oldest = i;
		}
	}
	size_t slot = free_slot != USER_CACHE_SIZE ? free_slot : oldest;
	if (c->entries[slot].u != NULL)
		store_user_close(&c->entries[slot].u);
	c->entries[slot].u = u;
	c->entries[slot].last_used = now;
	if (!c->timer_started) {
		uv_timer_start(&c->timer, sweep_cb, 1000, 1000);
		c->timer_started = true;
	}
}

void user_cache_deinit(struct user_cache *c)
{
	for (size_t i = 0; i < USER_CACHE_SIZE; i++)
		store_user_close(&c->entries[i].u);
	uv_close((uv_handle_t *)&c->timer, NULL);
}
