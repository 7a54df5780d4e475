#include "common/arena.h"

#include <stdalign.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/xalloc.h"

struct arena_block {
	struct arena_block *next;
	size_t used, cap;
	alignas(max_align_t) unsigned char data[];
};

void arena_init(struct arena *a, size_t block_size)
{
	a->blocks = NULL;
	a->block_size = block_size;
}

void *arena_alloc(struct arena *a, size_t size)
{
	const size_t align = alignof(max_align_t);
	if (size > SIZE_MAX - align)
		abort();
	size = (size + align - 1) & ~(align - 1);
	struct arena_block *b = a->blocks;
	if (b == NULL || b->cap - b->used < size) {
		size_t cap = size > a->block_size ? size : a->block_size;
		b = xmalloc(sizeof(*b) + cap);
		b->used = 0;
		b->cap = cap;
		b->next = a->blocks;
		a->blocks = b;
	}
	void *p = b->data + b->used;
	b->used += size;
	return p;
}

void *arena_memdup(struct arena *a, const void *data, size_t len)
{
	void *p = arena_alloc(a, len + 1);
	memcpy(p, data, len);
	((char *)p)[len] = '\0';
	return p;
}

void arena_reset(struct arena *a)
{
	struct arena_block *b = a->blocks;
	while (b != NULL) {
		struct arena_block *next = b->next;
		free(b);
		b = next;
	}
	a->blocks = NULL;
}
