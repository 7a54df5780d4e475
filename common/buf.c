#include "common/buf.h"

#include <stdio.h>
#include <stdlib.h>

#include "common/xalloc.h"

static inline uint8_t ascii_lower(uint8_t c)
{
	return (c >= 'A' && c <= 'Z') ? (uint8_t)(c + 32) : c;
}

bool span_eq_ci(struct span a, const char *s)
{
	size_t n = strlen(s);
	if (a.len != n)
		return false;
	for (size_t i = 0; i < n; i++)
		if (ascii_lower(a.ptr[i]) != ascii_lower((uint8_t)s[i]))
			return false;
	return true;
}

bool span_eq(struct span a, const char *s)
{
	size_t n = strlen(s);
	return a.len == n && memcmp(a.ptr, s, n) == 0;
}

bool span_has_prefix_ci(struct span a, const char *prefix)
{
	size_t n = strlen(prefix);
	if (a.len < n)
		return false;
	return span_eq_ci(span_make(a.ptr, n), prefix);
}

struct span span_next_word(struct span *rest)
{
	const uint8_t *sp = rest->len ? memchr(rest->ptr, ' ', rest->len) : NULL;
	if (sp == NULL) {
		struct span word = *rest;
		*rest = span_make(rest->ptr + rest->len, 0);
		return word;
	}
	struct span word = span_make(rest->ptr, (size_t)(sp - rest->ptr));
	*rest = span_make(sp + 1, rest->len - word.len - 1);
	return word;
}

char *span_strdup(struct span a)
{
	char *s = xmalloc(a.len + 1);
	if (a.len)
		memcpy(s, a.ptr, a.len);
	s[a.len] = '\0';
	return s;
}

void buf_init(struct buf *b, size_t max)
{
	*b = (struct buf){ .max = max };
}

void buf_free(struct buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

int buf_reserve(struct buf *b, size_t extra)
{
	size_t need;
	/* +1 keeps room for the terminating NUL. */
	if (__builtin_add_overflow(b->len, extra, &need) || need == SIZE_MAX)
		return -1;
	if (b->max != 0 && need > b->max)
		return -1;
	if (need + 1 <= b->cap)
		return 0;
	size_t cap = b->cap ? b->cap : 64;
	while (cap < need + 1)
		cap = cap > SIZE_MAX / 2 ? need + 1 : cap * 2;
	if (b->max != 0 && cap > b->max + 1)
		cap = b->max + 1;
	b->data = xrealloc(b->data, cap);
	b->cap = cap;
	b->data[b->len] = '\0'; /* a fresh buffer reads as "" */
	return 0;
}

int buf_append(struct buf *b, const void *data, size_t len)
{
	if (buf_reserve(b, len) < 0)
		return -1;
	if (len)
		memcpy(b->data + b->len, data, len);
	b->len += len;
	b->data[b->len] = '\0';
	return 0;
}

int buf_append_str(struct buf *b, const char *s)
{
	return buf_append(b, s, strlen(s));
}

int buf_append_u64(struct buf *b, uint64_t v)
{
	char digits[20];
	size_t n = 0;
	do {
		digits[sizeof(digits) - ++n] = (char)('0' + v % 10);
		v /= 10;
	} while (v > 0);
	return buf_append(b, digits + sizeof(digits) - n, n);
}

int buf_append_byte_slow(struct buf *b, uint8_t c)
{
	return buf_append(b, &c, 1);
}

int buf_vprintf(struct buf *b, const char *fmt, va_list ap)
{
	va_list ap2;
	va_copy(ap2, ap);
	char small[256];
	int n = vsnprintf(small, sizeof(small), fmt, ap2);
	va_end(ap2);
	if (n < 0)
		return -1;
	if ((size_t)n < sizeof(small))
		return buf_append(b, small, (size_t)n);
	if (buf_reserve(b, (size_t)n) < 0)
		return -1;
	vsnprintf((char *)b->data + b->len, (size_t)n + 1, fmt, ap);
	b->len += (size_t)n;
	return 0;
}

int buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int ret = buf_vprintf(b, fmt, ap);
	va_end(ap);
	return ret;
}

void buf_consume(struct buf *b, size_t n)
{
	if (n >= b->len) {
		buf_clear(b);
		return;
	}
	memmove(b->data, b->data + n, b->len - n);
	b->len -= n;
	b->data[b->len] = '\0';
}

void buf_trim(struct buf *b)
{
	if (b->len == 0)
		buf_free(b);
}
