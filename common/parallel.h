/*
 * A loop of independent items shared with helper threads, for work whose
 * cost is the kernel's rather than ours: opening and reading a few hundred
 * small message files for one FETCH spends two thirds of its time in
 * openat, pread and close, and a second core can do half of that.
 *
 * The caller always works through the items itself; the helpers (one per
 * further CPU, at most PARALLEL_MAX_HELPERS, started on first use and kept
 * for the life of the process) take items from the same counter while
 * they have nothing else to do. So a busy machine degrades to the plain
 * loop, never to waiting for a helper: parallel_for returns once every
 * item is done, and a helper that took none costs one wakeup.
 *
 * fn(ctx, i) runs once per i in [0, count), on any of the threads, in no
 * particular order; it must touch only what belongs to item i (and what
 * no one writes meanwhile).
 */
#ifndef PETREL_COMMON_PARALLEL_H
#define PETREL_COMMON_PARALLEL_H

#include <stddef.h>

#define PARALLEL_MAX_HELPERS 3
/* Fewer items than this run in line: a wakeup costs more than they do. */
#define PARALLEL_MIN_ITEMS 8

typedef void parallel_item_fn(void *ctx, size_t i);

void parallel_for(size_t count, parallel_item_fn *fn, void *ctx);

/* How many helper threads parallel_for uses (0 on one CPU); for logs and
   tests. Starts them if not yet started. */
unsigned int parallel_helpers(void);

#endif
