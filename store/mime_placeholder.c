/*
 * TEMPORARY development placeholder for store/mime.c, used by the build
 * only while store/mime.c does not exist (see store/CMakeLists.txt). It
 * treats every message as one text/plain part. It is deleted when the real
 * parser lands and must never be shipped.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/buf.h"
#include "common/xalloc.h"
#include "store/mime.h"

struct mime_parser {
	mime_text_cb *text_cb;
	void *ctx;
	struct buf all;
};

struct mime_parser *mime_parser_create(const struct mime_limits *limits, mime_text_cb *text_cb,
				       void *ctx)
{
	struct mime_parser *p = xcalloc(1, sizeof(*p));
	p->text_cb = text_cb;
	p->ctx = ctx;
	return p;
}

void mime_parser_feed(struct mime_parser *p, const uint8_t *data, size_t len)
{
	buf_append(&p->all, data, len);
}

struct mime_result *mime_parser_finish(struct mime_parser *p)
{
	struct mime_result *r = xcalloc(1, sizeof(*r));
	r->size = p->all.len;
	const char *data = (const char *)p->all.data ? (const char *)p->all.data : "";
	const char *end_hdr = memmem(data, p->all.len, "\r\n\r\n", 4);
	size_t hsize = end_hdr ? (size_t)(end_hdr - data) + 4 : p->all.len;
	const char *subj = memmem(data, hsize, "Subject: ", 9);
	if (subj != NULL) {
		const char *eol = memchr(subj, '\r', hsize - (size_t)(subj - data));
		r->headers.subject = xstrndup(subj + 9, eol ? (size_t)(eol - subj - 9) : 0);
	}
	r->envelope = xstrdup("(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)");
	r->body = xasprintf("(\"text\" \"plain\" NIL NIL NIL \"7bit\" %zu 0)", p->all.len - hsize);
	r->bodystructure = xstrdup(r->body);
	r->parts = xcalloc(1, sizeof(*r->parts));
	r->part_count = 1;
	r->parts[0] = (struct mime_part){ UINT32_MAX, 0, MIME_PART_LEAF, 0, hsize, hsize,
					  p->all.len - hsize, 0 };
	if (p->text_cb != NULL) {
		p->text_cb(p->ctx, MIME_TEXT_HEADER, data, hsize);
		p->text_cb(p->ctx, MIME_TEXT_BODY, data + hsize, p->all.len - hsize);
	}
	buf_free(&p->all);
	free(p);
	return r;
}

void mime_parser_destroy(struct mime_parser **pp)
{
	if (*pp != NULL) {
		buf_free(&(*pp)->all);
		free(*pp);
		*pp = NULL;
	}
}

void mime_result_free(struct mime_result **rp)
{
	struct mime_result *r = *rp;
	if (r == NULL)
		return;
	free(r->envelope);
	free(r->body);
	free(r->bodystructure);
	free(r->parts);
	free(r->headers.subject);
	free(r);
	*rp = NULL;
}

char *mime_decode_header(const char *value, size_t len)
{
	return xstrndup(value, len);
}

int mime_parse_date(const char *value, int64_t *time_r, int *zone_minutes_r)
{
	return -1;
}
