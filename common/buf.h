/*
 * Byte spans and growable byte buffers.
 *
 * struct span is how bytes cross module boundaries: a pointer and a length,
 * never a NUL-terminated guess. A span is always borrowed; the function that
 * hands one out says how long it stays valid.
 *
 * struct buf owns its bytes. It grows on demand up to an optional hard
 * maximum; buf_append() and friends return -1 instead of growing past it so
 * a client can never make us allocate more than the configured limit.
 * buf.data is always NUL-terminated (one byte beyond len) when cap > 0, so
 * text content can be passed to C string functions once checked for NULs.
 */
#ifndef PETREL_COMMON_BUF_H
#define PETREL_COMMON_BUF_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct span {
	const uint8_t *ptr;
	size_t len;
};

#define SPAN_LIT(s) ((struct span){ (const uint8_t *)(s), sizeof(s) - 1 })

static inline struct span span_make(const void *ptr, size_t len)
{
	return (struct span){ ptr, len };
}

static inline struct span span_cstr(const char *s)
{
	return (struct span){ (const uint8_t *)s, strlen(s) };
}

/* True when the span equals the ASCII string s, ignoring ASCII case. */
bool span_eq_ci(struct span a, const char *s);
bool span_eq(struct span a, const char *s);
bool span_has_prefix_ci(struct span a, const char *prefix);
/* Splits off the first word: returns the bytes before the first space and
   leaves *rest after that space (empty if there was none). */
struct span span_next_word(struct span *rest);
/* Returns a malloc'd NUL-terminated copy (NUL bytes inside are kept). */
char *span_strdup(struct span a);

struct buf {
	uint8_t *data;
	size_t len;
	size_t cap;
	size_t max; /* 0 = unlimited */
};

#define BUF_INIT { NULL, 0, 0, 0 }

void buf_init(struct buf *b, size_t max);
/* Frees the memory; the buffer can be reused afterwards (empty). */
void buf_free(struct buf *b);
/* Empties the buffer, keeping its memory. */
static inline void buf_clear(struct buf *b)
{
	b->len = 0;
	if (b->data)
		b->data[0] = '\0';
}
/* Makes room for `extra` more bytes. Returns 0, or -1 past b->max. */
int buf_reserve(struct buf *b, size_t extra);
int buf_append(struct buf *b, const void *data, size_t len);
int buf_append_str(struct buf *b, const char *s);
int buf_append_byte_slow(struct buf *b, uint8_t c);
/* Inline: the MIME decoders and the word folder append one byte at a time.
   cap never exceeds max + 1, so room in cap is room under max. */
static inline int buf_append_byte(struct buf *b, uint8_t c)
{
	if (b->len + 2 <= b->cap) {
		b->data[b->len++] = c;
		b->data[b->len] = '\0';
		return 0;
	}
	return buf_append_byte_slow(b, c);
}
int buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A decimal number: what buf_printf("%llu") gives, without the format
   machinery (IMAP FETCH writes several per message). */
int buf_append_u64(struct buf *b, uint64_t v);
int buf_vprintf(struct buf *b, const char *fmt, va_list ap);
/* Drops the first n bytes (n <= len), moving the rest to the front. */
void buf_consume(struct buf *b, size_t n);
/* Releases memory beyond len when the buffer is empty (idle connections). */
void buf_trim(struct buf *b);

static inline struct span buf_span(const struct buf *b)
{
	return (struct span){ b->data, b->len };
}

/* Bytes [from, to) of the buffer; safe on a never-used (NULL) buffer. */
static inline struct span buf_slice(const struct buf *b, size_t from, size_t to)
{
	return b->data != NULL ? (struct span){ b->data + from, to - from } :
				 (struct span){ (const uint8_t *)"", 0 };
}

static inline const char *buf_cstr(const struct buf *b)
{
	return b->data ? (const char *)b->data : "";
}

#endif
