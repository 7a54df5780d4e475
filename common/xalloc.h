/*
 * Allocation that never returns NULL.
 *
 * Running out of memory is not something a mail server can recover from
 * half-way, so every allocation goes through these wrappers, which log and
 * abort. Memory a client can make us use is bounded by configured limits, not
 * by malloc failing.
 */
#ifndef PETREL_COMMON_XALLOC_H
#define PETREL_COMMON_XALLOC_H

#include <stddef.h>

void *xmalloc(size_t size);
void *xcalloc(size_t nmemb, size_t size);
void *xrealloc(void *ptr, size_t size);
/* xreallocarray aborts on nmemb * size overflow as well. */
void *xreallocarray(void *ptr, size_t nmemb, size_t size);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
/* Returns a malloc'd string; aborts on encoding errors or OOM. */
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
