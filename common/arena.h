/*
 * Arena allocation for per-command scratch memory.
 *
 * Everything allocated from an arena is freed at once by arena_reset() or
 * arena_free(); nothing is freed individually. A command's parse tree lives
 * in the session's arena and dies when the command completes.
 * arena_reset() returns all blocks to malloc, so an idle session holds none.
 */
#ifndef PETREL_COMMON_ARENA_H
#define PETREL_COMMON_ARENA_H

#include <stddef.h>

struct arena_block;

struct arena {
	struct arena_block *blocks;
	size_t block_size;
};

void arena_init(struct arena *a, size_t block_size);
/* Aligned for any type; aborts on overflow (sizes come from our code, which
   bounds them by configured limits). */
void *arena_alloc(struct arena *a, size_t size);
void *arena_memdup(struct arena *a, const void *data, size_t len);
void arena_reset(struct arena *a);
#define arena_free arena_reset

#endif
