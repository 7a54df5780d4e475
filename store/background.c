/*
 * The store's background thread: work that follows a commit but that no
 * client's answer should wait for.
 *
 *   purge  removing the files an expunge left to the graveyard
 *          (graveyard.c), so a POP3 QUIT or IMAP EXPUNGE answers first;
 *   merge  moving a mailbox's pending word lists into its word index
 *          (wordindex.c). A merge of MERGE_CHUNK 100 KB messages takes
 *          about half a second; done by the delivery that crossed
 *          MERGE_BATCH, it held back that delivery's 250 for as long, and
 *          under load one connection in sixteen sat idle meanwhile.
 *
 * One thread per process, started on first use and stopped by store_close
 * once its queue is done. A request holds a reference to its user, so the
 * user stays open until its work is done. A request that waits for the
 * same work as one already queued is dropped: the queued one will see its
 * state too.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/xalloc.h"
#include "store/internal.h"

struct background_request {
	struct background_request *next;
	enum background_job job;
	struct store_user *u; /* a reference of ours */
	char *mailbox;	      /* for a merge */
};

static void run_job(enum background_job job, struct store_user *u, const char *mailbox)
{
	char *error = NULL;
	switch (job) {
	case BACKGROUND_PURGE:
		if (graveyard_purge(u, &error) < 0)
			fprintf(stderr, "petrel store: removing expunged files of %s: %s\n",
				store_user_name(u), error != NULL ? error : "failed");
		break;
	case BACKGROUND_MERGE:
		append_merge_due(u, mailbox);
		break;
	}
	free(error);
}

static void *background_main(void *arg)
{
	struct store *s = arg;
	pthread_mutex_lock(&s->bg_lock);
	for (;;) {
		struct background_request *r = s->bg_queue;
		if (r == NULL) {
			if (s->bg_stop)
				break;
			s->bg_idle = true;
			pthread_cond_broadcast(&s->bg_cond);
			pthread_cond_wait(&s->bg_cond, &s->bg_lock);
			continue;
		}
		s->bg_idle = false;
		s->bg_queue = r->next;
		pthread_mutex_unlock(&s->bg_lock);
		run_job(r->job, r->u, r->mailbox);
		store_user_close(&r->u);
		free(r->mailbox);
		free(r);
		pthread_mutex_lock(&s->bg_lock);
	}
	pthread_mutex_unlock(&s->bg_lock);
	return NULL;
}

void background_queue(struct store_user *u, enum background_job job, const char *mailbox)
{
	struct store *s = u->store;
	pthread_mutex_lock(&s->bg_lock);
	struct background_request **tail = &s->bg_queue;
	for (; *tail != NULL; tail = &(*tail)->next) {
		const struct background_request *r = *tail;
		if (r->u == u && r->job == job &&
		    (mailbox == NULL || strcmp(r->mailbox, mailbox) == 0)) {
			pthread_mutex_unlock(&s->bg_lock); /* not started yet */
			return;
		}
	}
	if (!s->bg_started) {
		pthread_attr_t attr;
		pthread_attr_init(&attr);
		/* LMDB, unlink and fsync, and a merge's own small frames. */
		pthread_attr_setstacksize(&attr, 512 * 1024);
		s->bg_started = pthread_create(&s->bg_thread, &attr, background_main, s) == 0;
		pthread_attr_destroy(&attr);
	}
	if (!s->bg_started) {
		/* No thread: in line (the caller's answer waits for it). */
		pthread_mutex_unlock(&s->bg_lock);
		run_job(job, u, mailbox);
		return;
	}
	struct background_request *r = xcalloc(1, sizeof(*r));
	r->job = job;
	r->u = store_user_ref(u);
	r->mailbox = mailbox != NULL ? xstrdup(mailbox) : NULL;
	*tail = r;
	s->bg_idle = false;
	pthread_cond_broadcast(&s->bg_cond);
	pthread_mutex_unlock(&s->bg_lock);
}

void background_wait(struct store *s)
{
	pthread_mutex_lock(&s->bg_lock);
	while (s->bg_started && (s->bg_queue != NULL || !s->bg_idle))
		pthread_cond_wait(&s->bg_cond, &s->bg_lock);
	pthread_mutex_unlock(&s->bg_lock);
}

void background_stop(struct store *s)
{
	pthread_mutex_lock(&s->bg_lock);
	bool started = s->bg_started;
	s->bg_stop = true;
	pthread_cond_broadcast(&s->bg_cond);
	pthread_mutex_unlock(&s->bg_lock);
	if (started)
		pthread_join(s->bg_thread, NULL); /* after the queue is done */
	s->bg_started = false;
}
