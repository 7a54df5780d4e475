/*
 * What the index derives from a message's content, computed the same way
 * at delivery (draft.c), when re-reading a stored file (check, copy,
 * search verification): the folded search text, the message's words for
 * the word index, and the header lines of the fields clients fetch most.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "common/xalloc.h"
#include "store/internal.h"

/* Header fields whose raw lines the index keeps, so FETCH BODY.PEEK
   [HEADER.FIELDS (...)] and SEARCH HEADER on them never open the file:
   what Thunderbird, phones and mutt ask for in message lists. */
static const char *const cached_fields[] = {
	"from", "to", "cc", "bcc", "subject", "date", "message-id", "in-reply-to",
	"references", "reply-to", "sender", "content-type", "importance", "priority",
	"x-priority", "list-id", "list-post", "newsgroups", "disposition-notification-to",
	"return-path", "x-spam-flag", "x-spam-status", "content-class", "x-mailer",
};

bool msgtext_field_cached(const char *name, size_t len)
{
	for (size_t i = 0; i < sizeof(cached_fields) / sizeof(cached_fields[0]); i++)
		if (strlen(cached_fields[i]) == len && strncasecmp(cached_fields[i], name, len) == 0)
			return true;
	return false;
}

void msgtext_cached_lines(struct span header, struct buf *out)
{
	if (header.len == 0)
		return;
	const uint8_t *p = header.ptr, *end = p + header.len;
	bool keep = false;
	while (p < end) {
		const uint8_t *eol = memchr(p, '\n', (size_t)(end - p));
		const uint8_t *next = eol != NULL ? eol + 1 : end;
		if (*p == ' ' || *p == '\t') {
			/* A continuation belongs to the field before it. */
		} else {
			const uint8_t *colon = memchr(p, ':', (size_t)(next - p));
			keep = colon != NULL && msgtext_field_cached((const char *)p, (size_t)(colon - p));
		}
		if (keep)
			buf_append(out, p, (size_t)(next - p));
		p = next;
	}
}

/* ------------------------------------------------------------------ words */

struct list_ctx {
	struct buf *out;
	uint32_t count;
};

static void add_word(struct span word, void *ctx)
{
	struct list_ctx *lc = ctx;
	buf_append(lc->out, word.ptr, word.len);
	buf_append_byte(lc->out, '\0');
	lc->count++;
}

static void append_list(struct span text, bool fold, struct buf *out)
{
	size_t count_at = out->len;
	uint32_t zero = 0;
	buf_append(out, &zero, sizeof(zero));
	struct list_ctx lc = { out, 0 };
	words_each_unique(text, fold, add_word, &lc);
	memcpy(out->data + count_at, &lc.count, sizeof(lc.count));
}

/* Trace, signature and reference fields are left out of the word index:
   their values are unique tokens (hashes, base64, message ids) that would
   fill most of the dictionary while nobody searches their text. SEARCH
   HEADER still finds them (it reads header lines, not words). Names are
   folded, as the text is. */
static const char *const unindexed_fields[] = {
	"received", "x-received", "dkim-signature", "x-google-dkim-signature", "arc-seal",
	"arc-message-signature", "arc-authentication-results", "authentication-results",
	"received-spf", "message-id", "references", "in-reply-to", "x-gm-message-state",
	"x-google-smtp-source", "x-ms-exchange-", "x-microsoft-", "x-forefront-", "domainkey-signature",
};

static bool field_unindexed(const uint8_t *line, size_t len)
{
	const uint8_t *colon = memchr(line, ':', len);
	if (colon == NULL)
		return false;
	size_t nlen = (size_t)(colon - line);
	for (size_t i = 0; i < sizeof(unindexed_fields) / sizeof(unindexed_fields[0]); i++) {
		size_t flen = strlen(unindexed_fields[i]);
		bool prefix = unindexed_fields[i][flen - 1] == '-';
		if ((prefix ? nlen >= flen : nlen == flen) && memcmp(line, unindexed_fields[i], flen) == 0)
			return true;
	}
	return false;
}

void msgtext_word_lists(struct span text, size_t header_len, bool folded, struct buf *out)
{
	/* Header text is one "name: value" line per field (mime.h), chosen
	   by folded name: a header not folded yet is folded first (it is
	   small; the body is folded while its words are scanned). */
	struct buf header = BUF_INIT, indexed = BUF_INIT;
	struct span h = span_make(text.ptr, header_len);
	if (!folded) {
		words_fold(h, &header);
		h = buf_span(&header);
	}
	const uint8_t *p = h.ptr, *end = h.len > 0 ? p + h.len : p;
	while (p < end) {
		const uint8_t *nl = memchr(p, '\n', (size_t)(end - p));
		const uint8_t *next = nl != NULL ? nl + 1 : end;
		if (!field_unindexed(p, (size_t)(next - p)))
			buf_append(&indexed, p, (size_t)(next - p));
		p = next;
	}
	buf_free(&header);
	append_list(buf_span(&indexed), false, out);
	buf_free(&indexed);
	append_list(text.len > header_len ? span_make(text.ptr + header_len, text.len - header_len)
					  : span_make("", 0),
		    !folded, out);
}

int msgtext_each_word(struct span lists, void (*cb)(char kind, struct span word, void *ctx),
		      void *ctx)
{
	if (lists.len == 0)
		return STORE_ERR_IO;
	const uint8_t *p = lists.ptr, *end = p + lists.len;
	for (int part = 0; part < 2; part++) {
		uint32_t count;
		if ((size_t)(end - p) < sizeof(count))
			return STORE_ERR_IO;
		memcpy(&count, p, sizeof(count));
		p += sizeof(count);
		for (uint32_t i = 0; i < count; i++) {
			const uint8_t *nul = memchr(p, '\0', (size_t)(end - p));
			if (nul == NULL)
				return STORE_ERR_IO;
			cb(part == 0 ? 'h' : 'b', span_make(p, (size_t)(nul - p)), ctx);
			p = nul + 1;
		}
	}
	return STORE_OK;
}

/* -------------------------------------------------------- stored files */

/* The search text of a message a mime parser hands over, split in header
   and body parts as draft_capture_text does. */
struct capture {
	struct buf text;
	size_t header_len;
};

static void capture_cb(void *ctx, enum mime_text_kind kind, const char *utf8, size_t len)
{
	struct capture *c = ctx;
	if (c->text.len + len > MAX_SEARCH_TEXT)
		len = MAX_SEARCH_TEXT - c->text.len;
	buf_append(&c->text, utf8, len);
	if (kind == MIME_TEXT_HEADER)
		c->header_len = c->text.len;
}

int msgtext_load(int fd, struct msgtext *mt)
{
	memset(mt, 0, sizeof(*mt));
	struct capture c = { BUF_INIT, 0 };
	const struct mime_limits limits = MIME_DEFAULT_LIMITS;
	struct mime_parser *p = mime_parser_create(&limits, capture_cb, &c);
	uint8_t chunk[65536];
	ssize_t n;
	uint64_t offset = 0;
	while ((n = read(fd, chunk, sizeof(chunk))) > 0) {
		mime_parser_feed(p, chunk, (size_t)n);
		if (offset < MAX_INDEXED_HEADER) {
			size_t keep = (size_t)n < MAX_INDEXED_HEADER - offset ?
					      (size_t)n :
					      (size_t)(MAX_INDEXED_HEADER - offset);
			buf_append(&mt->header, chunk, keep);
		}
		offset += (uint64_t)n;
	}
	mt->mime = mime_parser_finish(p);
	if (n < 0) {
		buf_free(&c.text);
		msgtext_free(mt);
		return STORE_ERR_IO;
	}
	uint64_t hsize = mt->mime->part_count > 0 ? mt->mime->parts[0].header_size : 0;
	if (hsize < mt->header.len)
		mt->header.len = (size_t)hsize;
	words_fold(buf_slice(&c.text, 0, c.header_len), &mt->folded);
	mt->folded_header_len = mt->folded.len;
	words_fold(buf_slice(&c.text, c.header_len, c.text.len), &mt->folded);
	buf_free(&c.text);
	return STORE_OK;
}

void msgtext_free(struct msgtext *mt)
{
	mime_result_free(&mt->mime);
	buf_free(&mt->header);
	buf_free(&mt->folded);
}
