/*
 * parallel_for: see parallel.h. Jobs wait in a queue under one mutex;
 * items are handed out by an atomic counter, so the lock is taken only to
 * join or leave a job, not per item.
 */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <unistd.h>

#include "common/parallel.h"

struct par_job {
	parallel_item_fn *fn;
	void *ctx;
	size_t count;
	atomic_size_t next;	 /* the next item to take */
	unsigned int helpers;	 /* helpers working on it (under lock) */
	bool queued;		 /* (under lock) */
	struct par_job *next_job; /* (under lock) */
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t work_ready = PTHREAD_COND_INITIALIZER;
static pthread_cond_t helper_left = PTHREAD_COND_INITIALIZER;
static struct par_job *queue_head, *queue_tail; /* under lock */
static pthread_once_t start_once = PTHREAD_ONCE_INIT;
static unsigned int helper_count;

static void run_items(struct par_job *job)
{
	size_t i;
	while ((i = atomic_fetch_add_explicit(&job->next, 1, memory_order_relaxed)) < job->count)
		job->fn(job->ctx, i);
}

/* Under lock. */
static void unlink_job(struct par_job *job)
{
	struct par_job **p = &queue_head, *prev = NULL;
	while (*p != NULL && *p != job) {
		prev = *p;
		p = &(*p)->next_job;
	}
	if (*p == NULL)
		return;
	*p = job->next_job;
	if (queue_tail == job)
		queue_tail = prev;
	job->queued = false;
}

static void *helper_main(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&lock);
	for (;;) {
		struct par_job *job = queue_head;
		if (job == NULL) {
			pthread_cond_wait(&work_ready, &lock);
			continue;
		}
		if (atomic_load_explicit(&job->next, memory_order_relaxed) >= job->count) {
			unlink_job(job); /* all taken; its caller finishes it */
			continue;
		}
		job->helpers++;
		pthread_mutex_unlock(&lock);
		run_items(job);
		pthread_mutex_lock(&lock);
		/* The caller may free the job as soon as this reaches 0. */
		if (--job->helpers == 0)
			pthread_cond_broadcast(&helper_left);
	}
	return NULL;
}

static void start_helpers(void)
{
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	unsigned int want = cpus > 1 ? (unsigned int)(cpus - 1) : 0;
	if (want > PARALLEL_MAX_HELPERS)
		want = PARALLEL_MAX_HELPERS;
	pthread_attr_t attr;
	if (want == 0 || pthread_attr_init(&attr) != 0)
		return;
	/* Helpers call open, pread and close; signals stay with the loop. */
	pthread_attr_setstacksize(&attr, 128 * 1024);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	for (unsigned int i = 0; i < want; i++) {
		pthread_t t;
		if (pthread_create(&t, &attr, helper_main, NULL) != 0)
			break;
		helper_count++;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_attr_destroy(&attr);
}

unsigned int parallel_helpers(void)
{
	pthread_once(&start_once, start_helpers);
	return helper_count;
}

void parallel_for(size_t count, parallel_item_fn *fn, void *ctx)
{
	struct par_job job = { .fn = fn, .ctx = ctx, .count = count };
	atomic_init(&job.next, 0);
	bool shared = count >= PARALLEL_MIN_ITEMS && parallel_helpers() > 0;
	if (shared) {
		pthread_mutex_lock(&lock);
		job.queued = true;
		if (queue_tail != NULL)
			queue_tail->next_job = &job;
		else
			queue_head = &job;
		queue_tail = &job;
		pthread_cond_broadcast(&work_ready);
		pthread_mutex_unlock(&lock);
	}
	run_items(&job);
	if (!shared)
		return;
	pthread_mutex_lock(&lock);
	if (job.queued)
		unlink_job(&job);
	while (job.helpers > 0)
		pthread_cond_wait(&helper_left, &lock);
	pthread_mutex_unlock(&lock);
}
