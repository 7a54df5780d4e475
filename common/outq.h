/*
 * Output queue: bytes waiting to go to a socket.
 *
 * Appends are copied into a list of chunks (small writes share a chunk, so a
 * thousand FETCH lines cost a handful of allocations). The connection takes
 * chunks from the head to write them and releases them once written. Chunks
 * are freed as soon as they are sent: an idle connection's queue holds no
 * memory.
 *
 * The queue itself has no limit; the connection compares outq_pending()
 * with its high-water mark and stops reading client input above it, so a
 * client that never reads cannot make us queue more than roughly one
 * command's response beyond the mark (streaming commands stop producing at
 * the mark, see conn_output_full()).
 */
#ifndef PETREL_COMMON_OUTQ_H
#define PETREL_COMMON_OUTQ_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#define OUTQ_CHUNK_SIZE 16384

struct outq_chunk {
	struct outq_chunk *next;
	size_t start; /* first byte not yet written */
	size_t len;   /* bytes used */
	size_t cap;
	uint8_t data[];
};

struct outq {
	struct outq_chunk *head, *tail;
	size_t pending; /* bytes queued and not yet written */
};

void outq_init(struct outq *q);
void outq_free(struct outq *q);
void outq_append(struct outq *q, const void *data, size_t len);

/* Fills up to max_bufs uv_buf_t with the queued bytes from the head on;
   returns how many were filled. The buffers stay valid until outq_consume()
   releases them. */
unsigned int outq_peek(const struct outq *q, uv_buf_t *bufs, unsigned int max_bufs);
/* Marks n bytes from the head as written, freeing finished chunks. */
void outq_consume(struct outq *q, size_t n);

static inline size_t outq_pending(const struct outq *q)
{
	return q->pending;
}

#endif
