#include "imapd/imap_notify.h"

#include <stdlib.h>
#include <string.h>

#include "common/xalloc.h"
#include "imapd/imap_session.h"
#include "store/store.h"

/* The logged-in sessions of one user. */
struct user_sessions {
	char *user;
	struct imap_session *head;
	struct user_sessions *next; /* hash chain */
};

struct imap_notify {
	struct store *store;
	uv_poll_t poll;
	struct user_sessions **buckets;
	size_t bucket_count, user_count;
};

static size_t user_hash(const char *user)
{
	size_t h = 14695981039346656037ull; /* FNV-1a */
	for (const unsigned char *p = (const unsigned char *)user; *p != '\0'; p++)
		h = (h ^ *p) * 1099511628211ull;
	return h;
}

static struct user_sessions **find_slot(struct imap_notify *n, const char *user)
{
	struct user_sessions **slot = &n->buckets[user_hash(user) & (n->bucket_count - 1)];
	while (*slot != NULL && strcmp((*slot)->user, user) != 0)
		slot = &(*slot)->next;
	return slot;
}

static void grow(struct imap_notify *n)
{
	size_t old_count = n->bucket_count;
	struct user_sessions **old = n->buckets;
	n->bucket_count = old_count * 2;
	n->buckets = xcalloc(n->bucket_count, sizeof(*n->buckets));
	for (size_t i = 0; i < old_count; i++) {
		for (struct user_sessions *e = old[i], *next; e != NULL; e = next) {
			next = e->next;
			struct user_sessions **slot = &n->buckets[user_hash(e->user) & (n->bucket_count - 1)];
			e->next = *slot;
			*slot = e;
		}
	}
	free(old);
}

void imap_notify_add(struct imap_notify *n, struct imap_session *s)
{
	if (n == NULL)
		return;
	struct user_sessions **slot = find_slot(n, s->user_name);
	if (*slot == NULL) {
		if (n->user_count + 1 > n->bucket_count) {
			grow(n);
			slot = find_slot(n, s->user_name);
		}
		*slot = xcalloc(1, sizeof(**slot));
		(*slot)->user = xstrdup(s->user_name);
		n->user_count++;
	}
	struct user_sessions *e = *slot;
	s->notify_prev = NULL;
	s->notify_next = e->head;
	if (e->head != NULL)
		e->head->notify_prev = s;
	e->head = s;
}

void imap_notify_remove(struct imap_notify *n, struct imap_session *s)
{
	if (n == NULL || s->user_name == NULL)
		return;
	struct user_sessions **slot = find_slot(n, s->user_name);
	struct user_sessions *e = *slot;
	if (e == NULL)
		return;
	if (s->notify_prev != NULL)
		s->notify_prev->notify_next = s->notify_next;
	else if (e->head == s)
		e->head = s->notify_next;
	else
		return; /* not registered */
	if (s->notify_next != NULL)
		s->notify_next->notify_prev = s->notify_prev;
	s->notify_prev = s->notify_next = NULL;
	if (e->head == NULL) {
		*slot = e->next;
		free(e->user);
		free(e);
		n->user_count--;
	}
}

static void changed_cb(const char *user, const char *mailbox, void *ctx)
{
	struct imap_notify *n = ctx;
	struct user_sessions *e = *find_slot(n, user);
	if (e == NULL)
		return;
	for (struct imap_session *s = e->head, *next; s != NULL; s = next) {
		next = s->notify_next; /* the session may finish IDLE meanwhile */
		if (s->selected != NULL && strcmp(s->selected, mailbox) == 0)
			imap_session_changed(s);
	}
}

static void poll_cb(uv_poll_t *poll, int status, int events)
{
	(void)status;
	(void)events;
	struct imap_notify *n = poll->data;
	store_notify_read(n->store, changed_cb, n);
}

struct imap_notify *imap_notify_new(uv_loop_t *loop, struct store *store)
{
	int fd = store_notify_fd(store);
	if (fd < 0)
		return NULL;
	struct imap_notify *n = xcalloc(1, sizeof(*n));
	n->store = store;
	n->bucket_count = 64;
	n->buckets = xcalloc(n->bucket_count, sizeof(*n->buckets));
	uv_poll_init(loop, &n->poll, fd);
	n->poll.data = n;
	uv_poll_start(&n->poll, UV_READABLE, poll_cb);
	return n;
}

static void poll_closed_cb(uv_handle_t *h)
{
	free(h->data);
}

void imap_notify_free(struct imap_notify **np)
{
	struct imap_notify *n = *np;
	if (n == NULL)
		return;
	*np = NULL;
	for (size_t i = 0; i < n->bucket_count; i++) {
		for (struct user_sessions *e = n->buckets[i], *next; e != NULL; e = next) {
			next = e->next;
			free(e->user);
			free(e);
		}
	}
	free(n->buckets);
	/* The handle's memory (n itself) goes once libuv has closed it. */
	n->poll.data = n;
	uv_close((uv_handle_t *)&n->poll, poll_closed_cb);
}
