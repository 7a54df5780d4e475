/*
 * One part described for people and tools (`petrelctl inspect`): type,
 * charset, transfer encoding, disposition and file name from its MIME
 * header, and its body with the transfer encoding removed. Uses the same
 * header parsing as the index, so inspect shows what IMAP clients see.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "common/mailheader.h"
#include "common/xalloc.h"
#include "store/mime_internal.h"

static char *lower_dup(const char *s)
{
	if (s == NULL)
		return NULL;
	char *out = xstrdup(s);
	for (char *c = out; *c; c++)
		*c = (char)tolower((unsigned char)*c);
	return out;
}

void mime_part_info_get(const uint8_t *header, size_t len, struct mime_part_info *info)
{
	memset(info, 0, sizeof(*info));
	struct arena a;
	arena_init(&a, 4096);
	struct mime_content c;
	memset(&c, 0, sizeof(c));
	struct buf value = BUF_INIT;
	size_t pos = 0, start, flen;
	while (mailheader_next_field(header, len, &pos, &start, &flen)) {
		size_t value_off;
		size_t name_len = mailheader_field_name(header + start, flen, &value_off);
		if (name_len == 0)
			continue;
		/* The value as the parser wants it: folding kept as "\n", CRs
		   dropped, leading whitespace skipped. */
		buf_clear(&value);
		const uint8_t *v = header + start + value_off, *end = header + start + flen;
		while (v < end && (*v == ' ' || *v == '\t'))
			v++;
		for (; v < end; v++)
			if (*v != '\r')
				buf_append_byte(&value, *v);
		struct mime_field f = {
			.name = (const char *)header + start,
			.name_len = name_len,
			.value = value.data,
			.value_len = value.len,
		};
		mime_content_apply(&a, &c, &f);
	}
	buf_free(&value);

	if (c.type != NULL && c.subtype != NULL)
		info->type = xasprintf("%s/%s", c.type, c.subtype);
	else
		info->type = xstrdup("text/plain"); /* RFC 2045 5.2 */
	char *type = lower_dup(info->type);
	free(info->type);
	info->type = type;
	const char *charset = mime_param_get(c.params, c.param_count, "charset");
	info->charset = lower_dup(charset);
	info->encoding = lower_dup(c.transfer_encoding != NULL ? c.transfer_encoding : "7bit");
	info->disposition = lower_dup(c.disposition);
	info->filename = mime_param_decoded(c.disposition_params, c.disposition_param_count,
					    "filename");
	if (info->filename == NULL)
		info->filename = mime_param_decoded(c.params, c.param_count, "name");
	arena_free(&a);
}

void mime_part_info_free(struct mime_part_info *info)
{
	free(info->type);
	free(info->charset);
	free(info->encoding);
	free(info->disposition);
	free(info->filename);
	memset(info, 0, sizeof(*info));
}

void mime_decode_body(const char *encoding, const uint8_t *in, size_t len, struct buf *out)
{
	struct mime_cte_decoder d;
	mime_cte_decoder_init(&d, mime_cte_from_name(encoding != NULL ? encoding : "7bit"));
	mime_cte_decode(&d, in, len, true, out);
}
