#include "common/outq.h"

#include <stdlib.h>
#include <string.h>

#include "common/xalloc.h"

void outq_init(struct outq *q)
{
	q->head = q->tail = NULL;
	q->pending = 0;
}

void outq_free(struct outq *q)
{
	struct outq_chunk *c = q->head;
	while (c != NULL) {
		struct outq_chunk *next = c->next;
		free(c);
		c = next;
	}
	outq_init(q);
}

static struct outq_chunk *chunk_new(size_t cap)
{
	struct outq_chunk *c = xmalloc(sizeof(*c) + cap);
	c->next = NULL;
	c->start = c->len = 0;
	c->cap = cap;
	return c;
}

void outq_append(struct outq *q, const void *data, size_t len)
{
	const uint8_t *p = data;
	q->pending += len;
	while (len > 0) {
		struct outq_chunk *t = q->tail;
		if (t == NULL || t->len == t->cap) {
			/* A small first write gets a small chunk: most responses are
			   one short line, and idle-time memory matters more than the
			   odd extra allocation for a big response. */
			size_t cap = OUTQ_CHUNK_SIZE;
			if (t == NULL && len < 512)
				cap = 512;
			struct outq_chunk *c = chunk_new(cap);
			if (t == NULL)
				q->head = c;
			else
				t->next = c;
			q->tail = t = c;
		}
		size_t n = t->cap - t->len;
		if (n > len)
			n = len;
		memcpy(t->data + t->len, p, n);
		t->len += n;
		p += n;
		len -= n;
	}
}

unsigned int outq_peek(const struct outq *q, uv_buf_t *bufs, unsigned int max_bufs)
{
	unsigned int n = 0;
	for (const struct outq_chunk *c = q->head; c != NULL && n < max_bufs; c = c->next) {
		if (c->len == c->start)
			continue;
		bufs[n++] = uv_buf_init((char *)c->data + c->start, (unsigned int)(c->len - c->start));
	}
	return n;
}

void outq_consume(struct outq *q, size_t n)
{
	q->pending -= n;
	while (n > 0 && q->head != NULL) {
		struct outq_chunk *c = q->head;
		size_t avail = c->len - c->start;
		if (n < avail) {
			c->start += n;
			return;
		}
		n -= avail;
		q->head = c->next;
		if (q->head == NULL)
			q->tail = NULL;
		free(c);
	}
	/* Drop a fully written tail chunk too, so nothing lingers while idle. */
	if (q->head != NULL && q->head->start == q->head->len && q->head->next == NULL) {
		free(q->head);
		q->head = q->tail = NULL;
	}
}
