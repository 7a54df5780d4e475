/*
 * Streaming MIME parser (contract in mime.h).
 *
 * The input is cut into lines as it arrives. At the start of each line a
 * decision may be needed, made from at most PEEK_MAX bytes of lookahead:
 * in a header block, does the line end the header (blank line), continue
 * the current field (leading whitespace) or start a new one; anywhere while
 * a multipart is open, is it a boundary. When a piece of input ends before
 * the decision can be made, those few bytes wait in `peek`. Everything
 * else streams: body bytes are counted (and, for text parts, handed to the
 * search text decoder) and never stored; header fields are buffered one at
 * a time, and only those the index needs.
 *
 * Parts are ranges of the input. A part ends where the line break before
 * its closing boundary line starts (RFC 2046 5.1.1: that CRLF belongs to
 * the boundary), so sizes and line counts come from offsets and running
 * LF counts; nothing is added up part by part.
 *
 * Broken mail gets the structure Dovecot 2.3 gives it, because clients see
 * it and the tests compare with Dovecot (tests/data/mime):
 *   - a boundary is any line starting with "--" and a known boundary (the
 *     longest match wins, the newest one between equals: RFC 2046 5.1.2
 *     nesting), whatever follows it ("transport padding" or garbage);
 *   - a boundary line ends every part opened since its multipart, header
 *     blocks included; a missing closing boundary lets the last part run
 *     to the end of its parent (or of the message);
 *   - a multipart whose boundary never appears keeps everything as
 *     preamble and has no parts; one without a boundary parameter too;
 *   - Content-* fields count only with MIME-Version or a Content-Type in
 *     the message header (RFC 2045 4); parts without Content-Type are
 *     text/plain (RFC 2045 5.2), message/rfc822 inside multipart/digest
 *     (RFC 2046 5.1.5);
 *   - message/rfc822 is parsed whatever its Content-Transfer-Encoding
 *     (RFC 2046 5.2.1 allows none but 7bit, 8bit and binary; a base64 one
 *     is shown as the garbage it parses to, as Dovecot does).
 *
 * Limits (struct mime_limits), again as Dovecot applies its own: a
 * multipart or message/rfc822 whose children would be at depth max_depth
 * or deeper becomes a leaf shown as application/octet-stream; once
 * max_parts parts exist, no boundary is recognised any more (the rest of
 * the message belongs to the part being read) and message/rfc822 parts
 * stay leaves. Work is linear in the input: each line is looked at once,
 * boundary matching costs at most (open boundaries x 80) per line that
 * starts with "--".
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/xalloc.h"
#include "store/mime_internal.h"

/* "--" boundary "--": enough to recognise any boundary line. */
#define PEEK_MAX (2 + MIME_BOUNDARY_MAX + 2)
/* Rendering recurses once per nesting level. */
#define MAX_DEPTH_CAP 1000
#define ARENA_BLOCK 8192

enum parse_mode {
	MODE_HEADER,	     /* in a header block */
	MODE_HEADER_EOH,     /* the blank line ending a header block */
	MODE_BODY,
	MODE_BOUNDARY_LINE,  /* the rest of a boundary line */
};

struct boundary {
	uint32_t part;
	size_t len;
	char str[MIME_BOUNDARY_MAX];
};

/* A position in the input with the line counts before it. */
struct mark {
	uint64_t offset, lf, bare_lf;
};

struct mime_parser {
	struct mime_limits limits;
	struct arena arena;
	struct mime_text *text; /* NULL without a text callback */

	struct mime_node *nodes;
	uint32_t node_count, node_cap;
	uint32_t cur; /* innermost open part */
	bool limits_hit;

	struct boundary *bounds; /* open boundaries, newest last */
	uint32_t bound_count, bound_cap;

	/* Position and line accounting. */
	uint64_t offset;		/* bytes consumed */
	uint64_t lf_count, bare_lf_count;
	bool last_was_cr;		/* the byte before `offset` */
	bool at_line_start;		/* no decision made for this line yet */
	struct mark eol;		/* where the last line break starts */
	uint64_t seg_start;		/* first line of this header or body */

	enum parse_mode mode;
	/* The part whose header block just ended with a blank line, and
	   where its body starts (see boundary_found). */
	uint32_t blank_owner;
	uint64_t blank_body_offset;

	uint8_t peek[PEEK_MAX];
	size_t peek_len;

	/* The header field being read. */
	struct buf field;
	bool field_open, field_named, field_skip, field_cr_held;
	size_t field_colon;
	uint64_t header_bytes; /* of the current header block */
	char *references;      /* message header only */

	/* Search text of the current part. */
	bool text_active, text_cr_held;
	uint8_t text_eol_len; /* line break held until the next line is known */

	struct buf scratch;
};

/* ------------------------------------------------------------------ */
/* Parts                                                               */

static inline struct mime_node *cur_node(struct mime_parser *p)
{
	return &p->nodes[p->cur];
}

static struct mark here(const struct mime_parser *p)
{
	return (struct mark){ p->offset, p->lf_count, p->bare_lf_count };
}

/* A new part whose header starts at `at`. */
static uint32_t node_new(struct mime_parser *p, uint32_t parent, uint64_t at)
{
	if (p->node_count == p->node_cap) {
		p->node_cap = p->node_cap == 0 ? 8 : p->node_cap * 2;
		p->nodes = xreallocarray(p->nodes, p->node_cap, sizeof(*p->nodes));
	}
	uint32_t idx = p->node_count++;
	struct mime_node *n = &p->nodes[idx];
	*n = (struct mime_node){
		.parent = parent,
		.first_child = MIME_NONE,
		.last_child = MIME_NONE,
		.next_sibling = MIME_NONE,
		.header_offset = at,
	};
	if (parent == MIME_NONE || (p->nodes[parent].flags & MIME_NODE_MESSAGE) != 0) {
		n->envelope = arena_alloc(&p->arena, sizeof(*n->envelope));
		*n->envelope = (struct mime_envelope){ 0 };
	}
	if (parent != MIME_NONE) {
		struct mime_node *pn = &p->nodes[parent];
		n->depth = pn->depth + 1;
		/* every body part of a multipart is MIME (RFC 2046 5.1) */
		if ((pn->flags & MIME_NODE_MULTIPART) != 0)
			n->flags |= MIME_NODE_MIME;
		if (pn->last_child == MIME_NONE)
			pn->first_child = idx;
		else
			p->nodes[pn->last_child].next_sibling = idx;
		pn->last_child = idx;
		pn->children++;
	}
	return idx;
}

/* Starts reading the header block of part idx, which starts at `at`. */
static void header_begin(struct mime_parser *p, uint32_t idx, uint64_t at)
{
	p->cur = idx;
	p->mode = MODE_HEADER;
	p->seg_start = at;
	p->at_line_start = true;
	p->header_bytes = 0;
	p->field_open = false;
}

static void node_close(struct mime_parser *p, uint32_t idx, struct mark end)
{
	struct mime_node *n = &p->nodes[idx];
	n->body_size = end.offset - n->body_offset;
	n->body_lines = end.lf - n->body_lf_start;
	n->body_vsize = n->body_size + (end.bare_lf - n->body_bare_lf_start);
}

static bool checking_boundaries(const struct mime_parser *p)
{
	/* past max_parts no boundary creates a part any more */
	return p->bound_count > 0 && p->node_count < p->limits.max_parts;
}

static bool is_text_leaf(const struct mime_node *n)
{
	if ((n->flags & (MIME_NODE_MULTIPART | MIME_NODE_MESSAGE | MIME_NODE_OVERFLOW)) != 0)
		return false;
	return n->content.type == NULL || strcasecmp(n->content.type, "text") == 0;
}

/* ------------------------------------------------------------------ */
/* Search text of a part                                               */

static void text_begin(struct mime_parser *p)
{
	const struct mime_node *n = cur_node(p);
	if (p->text == NULL || !is_text_leaf(n))
		return;
	/* RFC 2045 6.4: an unknown transfer encoding makes the part opaque */
	enum mime_cte cte = mime_cte_from_name(n->content.transfer_encoding);
	if (cte == MIME_CTE_UNKNOWN)
		return;
	const char *charset = mime_param_get(n->content.params, n->content.param_count, "charset");
	bool html = n->content.subtype != NULL && strcasecmp(n->content.subtype, "html") == 0;
	mime_text_part_begin(p->text, cte, charset, html);
	p->text_active = true;
	p->text_cr_held = false;
	p->text_eol_len = 0;
}

/* Content bytes of a body line (never its final LF). A CR at the end of a
   piece may be the start of the line break; it waits. */
static void text_content(struct mime_parser *p, const uint8_t *d, size_t n, bool line_ends)
{
	if (p->text_cr_held) {
		p->text_cr_held = false;
		if (n == 0 && line_ends) {
			p->text_eol_len = 2;
			return;
		}
		mime_text_part_data(p->text, (const uint8_t *)"\r", 1);
	}
	bool cr_last = n > 0 && d[n - 1] == '\r';
	mime_text_part_data(p->text, d, cr_last ? n - 1 : n);
	if (line_ends)
		p->text_eol_len = cr_last ? 2 : 1;
	else
		p->text_cr_held = cr_last;
}

/* The next line is not a boundary: the line break was text after all. */
static void text_release_eol(struct mime_parser *p)
{
	if (p->text_eol_len > 0)
		mime_text_part_data(p->text, (const uint8_t *)"\r\n" + (2 - p->text_eol_len),
				    p->text_eol_len);
	p->text_eol_len = 0;
}

static void text_end(struct mime_parser *p, bool keep_eol)
{
	if (!p->text_active)
		return;
	if (keep_eol)
		text_release_eol(p);
	if (p->text_cr_held)
		mime_text_part_data(p->text, (const uint8_t *)"\r", 1);
	mime_text_part_end(p->text);
	p->text_active = false;
	p->text_cr_held = false;
	p->text_eol_len = 0;
}

/* ------------------------------------------------------------------ */
/* Header fields                                                       */

static bool name_has_prefix(const char *name, size_t len, const char *prefix)
{
	size_t n = strlen(prefix);
	return len >= n && strncasecmp(name, prefix, n) == 0;
}

static bool is_envelope_field(const struct mime_field *f)
{
	static const char *const names[] = { "Date", "Subject",	 "From",	"Sender",
					     "Reply-To", "To",	 "Cc",	 "Bcc",
					     "In-Reply-To", "Message-ID" };
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (mime_field_is(f, names[i]))
			return true;
	return false;
}

/* Is the field worth buffering? Decided as soon as its name is known. */
static bool field_wanted(const struct mime_parser *p, const struct mime_field *f)
{
	const struct mime_node *n = &p->nodes[p->cur];
	if (name_has_prefix(f->name, f->name_len, "Content-") || mime_field_is(f, "MIME-Version"))
		return true;
	if (n->envelope != NULL && is_envelope_field(f))
		return true;
	/* the message header: decoded fields and search text */
	return p->cur == 0 && (p->text != NULL || mime_field_is(f, "References"));
}

/* The name of a buffered field: before the colon, trailing whitespace
   dropped, up to a NUL byte (names are compared as C strings). */
static void field_name(const struct mime_parser *p, struct mime_field *f)
{
	size_t len = p->field_colon;
	const char *name = (const char *)p->field.data;
	while (len > 0 && (name[len - 1] == ' ' || name[len - 1] == '\t'))
		len--;
	const char *nul = memchr(name, '\0', len);
	f->name = name;
	f->name_len = nul != NULL ? (size_t)(nul - name) : len;
}

static void field_start(struct mime_parser *p)
{
	buf_clear(&p->field);
	p->field_open = true;
	p->field_named = false;
	p->field_cr_held = false;
	/* past the header size limit fields are not parsed */
	p->field_skip = p->header_bytes >= p->limits.max_header_size;
}

static void field_append(struct mime_parser *p, const uint8_t *d, size_t n)
{
	if (!p->field_open || p->field_skip || n == 0)
		return;
	if (p->field.len + n > p->limits.max_header_size) {
		p->field_skip = true;
		return;
	}
	size_t old = p->field.len;
	buf_append(&p->field, d, n);
	if (p->field_named)
		return;
	const uint8_t *colon = memchr(p->field.data + old, ':', n);
	if (colon == NULL)
		return;
	struct mime_field f;
	p->field_colon = (size_t)(colon - p->field.data);
	p->field_named = true;
	field_name(p, &f);
	if (!field_wanted(p, &f))
		p->field_skip = true;
}

static void apply_content_type(struct mime_parser *p, struct mime_node *n,
			       const struct mime_field *f)
{
	n->flags |= MIME_NODE_MIME;
	if ((n->flags & MIME_NODE_SEEN_CT) != 0)
		return;
	n->flags |= MIME_NODE_SEEN_CT;

	bool ok = mime_content_type_peek(f->value, f->value_len, &p->scratch);
	if (ok)
		n->flags |= MIME_NODE_VALID_CT;
	else if (!PETREL_MIME_DOVECOT_QUIRKS)
		return; /* RFC 2045 5.2: as if there were none */
	const char *type = buf_cstr(&p->scratch);
	if (strcasecmp(type, "message/rfc822") == 0) {
		n->flags |= MIME_NODE_MESSAGE;
	} else if (strncasecmp(type, "text", 4) == 0 && (type[4] == '\0' || type[4] == '/')) {
		n->flags |= MIME_NODE_TEXT;
	} else if (strncasecmp(type, "multipart/", 10) == 0) {
		n->flags |= MIME_NODE_MULTIPART;
		if (strcasecmp(type + 10, "digest") == 0)
			n->flags |= MIME_NODE_DIGEST;
		if (ok)
			n->boundary = mime_content_boundary(&p->arena, f->value, f->value_len);
	}
}

static void apply_envelope(struct mime_parser *p, struct mime_envelope *env,
			   const struct mime_field *f)
{
	struct mime_address_list *list = NULL;
	char **str = NULL;

	if (mime_field_is(f, "Date"))
		str = &env->date;
	else if (mime_field_is(f, "Subject"))
		str = &env->subject;
	else if (mime_field_is(f, "Message-ID"))
		str = &env->message_id;
	else if (mime_field_is(f, "In-Reply-To"))
		str = &env->in_reply_to;
	else if (mime_field_is(f, "From"))
		list = &env->from;
	else if (mime_field_is(f, "Sender"))
		list = &env->sender;
	else if (mime_field_is(f, "Reply-To"))
		list = &env->reply_to;
	else if (mime_field_is(f, "To"))
		list = &env->to;
	else if (mime_field_is(f, "Cc"))
		list = &env->cc;
	else if (mime_field_is(f, "Bcc"))
		list = &env->bcc;

	if (str != NULL) {
		*str = mime_value_dup(&p->arena, f->value, f->value_len);
	} else if (list != NULL) {
		/* Like Dovecot, ignore trailing folded lines holding a single
		   blank (it matters only to an unterminated comment). */
		size_t len = f->value_len;
		while (len >= 2 && f->value[len - 2] == '\n' &&
		       (f->value[len - 1] == ' ' || f->value[len - 1] == '\t'))
			len -= 2;
		mime_address_parse(&p->arena, f->value, len, list);
	}
}

/* A complete field of the current part's header. */
static void field_dispatch(struct mime_parser *p)
{
	struct mime_node *n = cur_node(p);
	struct mime_field f;
	field_name(p, &f);

	/* The value: after the colon, the first line's leading whitespace
	   skipped (all of it but one byte if there is nothing else). */
	const uint8_t *v = p->field.data + p->field_colon + 1;
	size_t len = p->field.len - p->field_colon - 1, skip = 0;
	const uint8_t *lf = memchr(v, '\n', len);
	size_t first = lf != NULL ? (size_t)(lf - v) : len;
	while (skip < first && (v[skip] == ' ' || v[skip] == '\t'))
		skip++;
	if (skip == first && first > 0)
		skip = 1;
	f.value = v + skip;
	f.value_len = len - skip;

	if (mime_field_is(&f, "MIME-Version"))
		n->flags |= MIME_NODE_MIME;
	else if (mime_field_is(&f, "Content-Type"))
		apply_content_type(p, n, &f);
	mime_content_apply(&p->arena, &n->content, &f);
	if (n->envelope != NULL)
		apply_envelope(p, n->envelope, &f);
	if (p->cur == 0) {
		if (mime_field_is(&f, "References"))
			p->references = mime_value_dup(&p->arena, f.value, f.value_len);
		if (p->text != NULL)
			mime_text_header_field(p->text, &f);
	}
}

static void field_end(struct mime_parser *p)
{
	if (!p->field_open)
		return;
	if (p->field_cr_held)
		field_append(p, (const uint8_t *)"\r", 1);
	/* a line without a colon is no field at all */
	if (!p->field_skip && p->field_named)
		field_dispatch(p);
	p->field_open = false;
}

/* ------------------------------------------------------------------ */
/* End of a header block                                               */

static void push_boundary(struct mime_parser *p, const char *str)
{
	if (p->bound_count == p->bound_cap) {
		p->bound_cap = p->bound_cap == 0 ? 4 : p->bound_cap * 2;
		p->bounds = xreallocarray(p->bounds, p->bound_cap, sizeof(*p->bounds));
	}
	struct boundary *b = &p->bounds[p->bound_count++];
	b->part = p->cur;
	b->len = strnlen(str, MIME_BOUNDARY_MAX);
	memcpy(b->str, str, b->len);
}

static void make_opaque(struct mime_parser *p, struct mime_node *n)
{
	/* too deep or too many: a leaf clients will not try to open */
	n->flags &= ~(unsigned int)(MIME_NODE_MULTIPART | MIME_NODE_MESSAGE);
	n->flags |= MIME_NODE_OVERFLOW;
	n->content.type = "application";
	n->content.subtype = "octet-stream";
	p->limits_hit = true;
}

/* The header of the current part ends at `at`, where its body starts.
   at_blank_line: ended by its blank line, not by a boundary or the end of
   input; only then can a multipart have a body. */
static void header_end(struct mime_parser *p, struct mark at, bool at_blank_line)
{
	field_end(p);
	struct mime_node *n = cur_node(p);
	bool multipart_body = false;

	n->header_size = at.offset - n->header_offset;
	n->body_offset = at.offset;
	n->body_lf_start = at.lf;
	n->body_bare_lf_start = at.bare_lf;

	if (at_blank_line && n->boundary != NULL && (n->flags & MIME_NODE_MIME) != 0) {
		if (n->depth + 1 >= p->limits.max_depth) {
			make_opaque(p, n);
		} else {
			push_boundary(p, n->boundary);
			multipart_body = true;
		}
	}
	if ((n->flags & MIME_NODE_MIME) == 0) {
		/* RFC 2045 4: no MIME-Version, no Content-Type: not MIME */
		n->flags = 0;
		n->content = (struct mime_content){ 0 };
	}
	unsigned int typed = PETREL_MIME_DOVECOT_QUIRKS ? MIME_NODE_SEEN_CT : MIME_NODE_VALID_CT;
	if ((n->flags & (typed | MIME_NODE_MIME)) != (typed | MIME_NODE_MIME)) {
		if (n->parent != MIME_NONE && (p->nodes[n->parent].flags & MIME_NODE_DIGEST) != 0)
			n->flags |= MIME_NODE_MESSAGE; /* RFC 2046 5.1.5 */
		else
			n->flags |= MIME_NODE_TEXT;
	}

	p->seg_start = at.offset;
	p->at_line_start = true;
	p->mode = MODE_BODY;
	p->blank_owner = at_blank_line ? p->cur : MIME_NONE;
	p->blank_body_offset = at.offset;
	if (multipart_body)
		return;
	if ((n->flags & MIME_NODE_MESSAGE) != 0) {
		if (n->depth + 1 < p->limits.max_depth && p->node_count < p->limits.max_parts) {
			header_begin(p, node_new(p, p->cur, at.offset), at.offset);
			return;
		}
		make_opaque(p, n);
	}
	text_begin(p);
}

/* ------------------------------------------------------------------ */
/* Boundaries                                                          */

/* The open boundary a line (at least two bytes, or all that is left)
   starts with; sets *closing for "--boundary--". */
static int find_boundary(const struct mime_parser *p, const uint8_t *d, size_t n, bool *closing)
{
	if (n < 2 || d[0] != '-' || d[1] != '-')
		return -1;
	const uint8_t *rest = d + 2;
	size_t rest_len = n - 2, len;
	bool trailing_dashes = false;
	const uint8_t *lf = memchr(rest, '\n', rest_len);
	if (lf != NULL) {
		len = (size_t)(lf - rest);
		if (len > 0 && rest[len - 1] == '\r')
			len--;
		trailing_dashes = len > 2 && rest[len - 1] == '-' && rest[len - 2] == '-';
	} else {
		len = rest_len < PEEK_MAX ? rest_len : PEEK_MAX;
	}
	/* The longest match wins, the newest among equals (nested reuse).
	   A boundary that is the whole line, or the whole line but a
	   closing "--", wins at once: "--foo--" closes "foo" even when an
	   older "foo--" is open. */
	int best = -1;
	for (uint32_t i = p->bound_count; i-- > 0;) {
		const struct boundary *b = &p->bounds[i];
		if (b->len > len || memcmp(b->str, rest, b->len) != 0)
			continue;
		if (best < 0 || p->bounds[best].len < b->len) {
			best = (int)i;
			if (b->len == len || (trailing_dashes && b->len == len - 2))
				break;
		}
	}
	if (best >= 0) {
		size_t blen = p->bounds[best].len;
		*closing = rest_len >= blen + 2 && rest[blen] == '-' && rest[blen + 1] == '-';
	}
	return best;
}

/* A boundary line starts at the current offset: close what it closes. */
static void boundary_found(struct mime_parser *p, int bidx, bool closing)
{
	/* RFC 2046 5.1.1: the line break before the boundary is part of it,
	   unless the boundary is the very first line after a header or
	   after another boundary. */
	bool first_line = p->offset == p->seg_start;
	struct mark line = here(p), end = first_line ? line : p->eol;
	uint32_t owner = p->bounds[bidx].part;

	/* Dovecot checks for a boundary once more right after the blank line
	   ending a header, before the body starts. When an outer boundary
	   follows at once, that blank line counts as the line break before
	   the boundary: the header ends where the blank line starts and the
	   parent keeps the line break, as for a header cut short below. */
	uint32_t cut = MIME_NONE;
	if (first_line && p->blank_owner != MIME_NONE && p->blank_body_offset == p->offset &&
	    owner != p->blank_owner) {
		cut = p->blank_owner;
		end = p->eol;
		struct mime_node *n = &p->nodes[cut];
		n->header_size = end.offset - n->header_offset;
		n->body_offset = end.offset;
		n->body_lf_start = end.lf;
		n->body_bare_lf_start = end.bare_lf;
		if (p->mode == MODE_HEADER) /* its message/rfc822 child */
			cur_node(p)->header_offset = end.offset;
	}

	text_end(p, false);
	if (p->mode == MODE_HEADER) {
		/* A header cut short; a message/rfc822 still gets its (empty)
		   message, which ends right here too. The line break ending
		   the last header line was read as part of the header: it
		   stays with the parent of the cut part (as in Dovecot), so
		   parts above it end at the boundary line itself. */
		if (cut == MIME_NONE)
			cut = p->cur;
		do {
			header_end(p, end, false);
			text_end(p, false);
		} while (p->mode == MODE_HEADER);
	}
	bool above_cut = false;
	while (p->cur != owner) {
		node_close(p, p->cur, above_cut ? line : end);
		if (p->cur == cut)
			above_cut = true;
		p->cur = p->nodes[p->cur].parent;
	}
	/* boundaries opened since are forgotten; a closing one goes too */
	p->bound_count = (uint32_t)bidx + (closing ? 0 : 1);
	p->mode = MODE_BOUNDARY_LINE;
}

/* After a boundary line: the next part, or the epilogue. */
static void boundary_line_done(struct mime_parser *p)
{
	if (p->bound_count == 0 || p->bounds[p->bound_count - 1].part != p->cur) {
		p->mode = MODE_BODY;
		p->seg_start = p->offset;
		p->at_line_start = true;
		return;
	}
	header_begin(p, node_new(p, p->cur, p->offset), p->offset);
}

/* ------------------------------------------------------------------ */
/* Line starts                                                         */

static bool needs_decision(const struct mime_parser *p)
{
	return p->mode == MODE_HEADER || (p->mode == MODE_BODY && checking_boundaries(p));
}

/* Is there enough of the line to decide? */
static bool lookahead_enough(const struct mime_parser *p, const uint8_t *d, size_t n)
{
	if (n == 0)
		return false;
	bool may_be_boundary = d[0] == '-' && checking_boundaries(p);
	if (p->mode == MODE_HEADER && !may_be_boundary)
		return d[0] != '\r' || n >= 2;
	if (!may_be_boundary || (n >= 2 && d[1] != '-'))
		return true;
	return n >= PEEK_MAX || memchr(d, '\n', n) != NULL;
}

static void line_start(struct mime_parser *p, const uint8_t *d, size_t n)
{
	bool closing = false;
	int b = checking_boundaries(p) ? find_boundary(p, d, n, &closing) : -1;

	p->at_line_start = false;
	if (b >= 0) {
		boundary_found(p, b, closing);
		return;
	}
	if (p->mode == MODE_BODY) {
		if (p->text_active)
			text_release_eol(p);
		return;
	}
	/* MODE_HEADER */
	if ((n >= 1 && d[0] == '\n') || (n >= 2 && d[0] == '\r' && d[1] == '\n')) {
		field_end(p);
		p->mode = MODE_HEADER_EOH;
	} else if (n >= 1 && (d[0] == ' ' || d[0] == '\t') && p->field_open) {
		/* RFC 5322 2.2.3 folding: kept as "\n" in the value */
		field_append(p, (const uint8_t *)"\n", 1);
	} else {
		field_end(p);
		field_start(p);
	}
}

/* ------------------------------------------------------------------ */
/* Consuming bytes                                                     */

/* Accounts for a span that contains no LF, or one LF as its last byte. */
static void account(struct mime_parser *p, const uint8_t *d, size_t n, bool ends_with_lf)
{
	if (n == 0)
		return;
	if (ends_with_lf) {
		bool cr = n >= 2 ? d[n - 2] == '\r' : p->last_was_cr;
		uint64_t lf_at = p->offset + n - 1;
		p->eol = (struct mark){ cr ? lf_at - 1 : lf_at, p->lf_count, p->bare_lf_count };
		p->lf_count++;
		if (!cr)
			p->bare_lf_count++;
		p->at_line_start = true;
	}
	p->offset += n;
	p->last_was_cr = d[n - 1] == '\r';
}

/* One header line, or as much of it as there is. */
static size_t consume_header(struct mime_parser *p, const uint8_t *d, size_t n)
{
	const uint8_t *lf = memchr(d, '\n', n);
	size_t len = lf != NULL ? (size_t)(lf - d) : n;

	if (p->field_cr_held && (len > 0 || lf == NULL)) {
		p->field_cr_held = false;
		field_append(p, (const uint8_t *)"\r", 1);
	}
	p->field_cr_held = false;
	bool cr_last = len > 0 && d[len - 1] == '\r';
	field_append(p, d, cr_last ? len - 1 : len);
	if (lf == NULL) {
		p->field_cr_held = cr_last;
	} else if (!p->field_named) {
		p->field_skip = true; /* the first line had no colon */
	}
	size_t used = lf != NULL ? len + 1 : n;
	p->header_bytes += used;
	account(p, d, used, lf != NULL);
	return used;
}

static size_t consume_line_end(struct mime_parser *p, const uint8_t *d, size_t n)
{
	const uint8_t *lf = memchr(d, '\n', n);
	size_t used = lf != NULL ? (size_t)(lf - d) + 1 : n;

	if (p->mode == MODE_HEADER_EOH)
		p->header_bytes += used;
	account(p, d, used, lf != NULL);
	if (lf == NULL)
		return used;
	if (p->mode == MODE_HEADER_EOH)
		header_end(p, here(p), true);
	else
		boundary_line_done(p);
	return used;
}

/* Body bytes: the hot loop. Returns at a line start that needs a
   decision, or when the input is used up. Text parts get their bytes in
   as few pieces as possible: a line break is held back only where the
   next line may be a boundary. */
static size_t consume_body(struct mime_parser *p, const uint8_t *d, size_t n)
{
	bool checking = checking_boundaries(p);
	size_t i = 0;

	p->at_line_start = false;
	while (i < n) {
		const uint8_t *lf = memchr(d + i, '\n', n - i);
		if (lf == NULL) {
			account(p, d + i, n - i, false);
			break;
		}
		size_t next = (size_t)(lf - d) + 1;
		account(p, d + i, next - i, true);
		i = next;
		if (checking && (i == n || d[i] == '-')) {
			/* maybe a boundary: decide at the line start */
			if (p->text_active)
				text_content(p, d, i - 1, true);
			return i;
		}
		p->at_line_start = false;
	}
	if (p->text_active)
		text_content(p, d, n, false);
	return n;
}

static size_t consume(struct mime_parser *p, const uint8_t *d, size_t n)
{
	switch (p->mode) {
	case MODE_HEADER:
		return consume_header(p, d, n);
	case MODE_HEADER_EOH:
	case MODE_BOUNDARY_LINE:
		return consume_line_end(p, d, n);
	case MODE_BODY:
		break;
	}
	return consume_body(p, d, n);
}

/* Decides on the line kept in `peek`, then consumes it. */
static void replay_peek(struct mime_parser *p)
{
	uint8_t line[PEEK_MAX];
	size_t n = p->peek_len;

	memcpy(line, p->peek, n);
	p->peek_len = 0;
	line_start(p, line, n);
	for (size_t i = 0; i < n;)
		i += consume(p, line + i, n - i);
}

static size_t peek_fill(struct mime_parser *p, const uint8_t *d, size_t n)
{
	size_t room = PEEK_MAX - p->peek_len, take = n < room ? n : room;
	const uint8_t *lf = memchr(d, '\n', take);
	if (lf != NULL)
		take = (size_t)(lf - d) + 1;
	memcpy(p->peek + p->peek_len, d, take);
	p->peek_len += take;
	return take;
}

void mime_parser_feed(struct mime_parser *p, const uint8_t *data, size_t len)
{
	size_t pos = 0;

	while (pos < len) {
		if (p->at_line_start && needs_decision(p)) {
			if (p->peek_len == 0 && lookahead_enough(p, data + pos, len - pos)) {
				line_start(p, data + pos, len - pos);
			} else {
				pos += peek_fill(p, data + pos, len - pos);
				if (!lookahead_enough(p, p->peek, p->peek_len))
					return;
				replay_peek(p);
				continue;
			}
		}
		pos += consume(p, data + pos, len - pos);
	}
}

/* ------------------------------------------------------------------ */
/* Life cycle                                                          */

struct mime_parser *mime_parser_create(const struct mime_limits *limits, mime_text_cb *text_cb,
				       void *ctx)
{
	struct mime_parser *p = xcalloc(1, sizeof(*p));

	p->limits = limits != NULL ? *limits : MIME_DEFAULT_LIMITS;
	if (p->limits.max_depth > MAX_DEPTH_CAP)
		p->limits.max_depth = MAX_DEPTH_CAP;
	arena_init(&p->arena, ARENA_BLOCK);
	p->blank_owner = MIME_NONE;
	if (text_cb != NULL)
		p->text = mime_text_create(text_cb, ctx);
	header_begin(p, node_new(p, MIME_NONE, 0), 0);
	return p;
}

static void parser_free(struct mime_parser *p)
{
	mime_text_destroy(&p->text);
	arena_free(&p->arena);
	buf_free(&p->field);
	buf_free(&p->scratch);
	free(p->nodes);
	free(p->bounds);
	free(p);
}

void mime_parser_destroy(struct mime_parser **pp)
{
	if (*pp != NULL)
		parser_free(*pp);
	*pp = NULL;
}

/* End of input: whatever is open ends here. */
static void finish_input(struct mime_parser *p)
{
	if (p->peek_len > 0)
		replay_peek(p);
	text_end(p, true);
	while (p->mode == MODE_HEADER || p->mode == MODE_HEADER_EOH) {
		/* the header runs to the end (no blank line); a
		   message/rfc822 gets an empty message */
		header_end(p, here(p), false);
		text_end(p, true);
	}
	for (uint32_t idx = p->cur; idx != MIME_NONE; idx = p->nodes[idx].parent)
		node_close(p, idx, here(p));
}

/* A raw identifier field (Message-ID...) without its folding. */
static char *unfolded(const char *s)
{
	if (s == NULL)
		return NULL;
	struct buf b = BUF_INIT;
	for (; *s != '\0'; s++)
		if (*s != '\r' && *s != '\n')
			buf_append_byte(&b, (uint8_t)*s);
	char *out = xstrndup(buf_cstr(&b), b.len);
	buf_free(&b);
	return out;
}

static void fill_headers(struct mime_parser *p, struct mime_headers *h)
{
	const struct mime_envelope *env = p->nodes[0].envelope;

	if (env->subject != NULL) {
		h->subject = mime_decode_header(env->subject, strlen(env->subject));
		h->base_subject = mime_base_subject(h->subject);
	}
	h->from = mime_address_render(env->from.head);
	h->sender = mime_address_render(env->sender.head);
	h->reply_to = mime_address_render(env->reply_to.head);
	h->to = mime_address_render(env->to.head);
	h->cc = mime_address_render(env->cc.head);
	h->bcc = mime_address_render(env->bcc.head);
	h->message_id = unfolded(env->message_id);
	h->in_reply_to = unfolded(env->in_reply_to);
	h->references = unfolded(p->references);
	if (env->date != NULL)
		h->date_valid = mime_parse_date(env->date, &h->date, &h->date_zone_minutes) == 0;
	h->sort_from = mime_address_sort_key(env->from.head);
	h->sort_to = mime_address_sort_key(env->to.head);
	h->sort_cc = mime_address_sort_key(env->cc.head);
}

static char *render(const struct mime_parser *p, int what)
{
	struct buf b = BUF_INIT;
	buf_append_byte(&b, '(');
	if (what == 0)
		mime_write_envelope(&b, p->nodes[0].envelope);
	else
		mime_write_bodystructure(&b, p->nodes, 0, what == 2);
	buf_append_byte(&b, ')');
	char *s = xstrndup(buf_cstr(&b), b.len);
	buf_free(&b);
	return s;
}

static enum mime_part_kind node_kind(const struct mime_node *n)
{
	if ((n->flags & MIME_NODE_MULTIPART) != 0)
		return MIME_PART_MULTIPART;
	if ((n->flags & MIME_NODE_MESSAGE) != 0)
		return MIME_PART_MESSAGE;
	return MIME_PART_LEAF;
}

struct mime_result *mime_parser_finish(struct mime_parser *p)
{
	struct mime_result *r = xcalloc(1, sizeof(*r));

	finish_input(p);
	if (p->text != NULL)
		mime_text_flush(p->text);

	r->envelope = render(p, 0);
	r->body = render(p, 1);
	r->bodystructure = render(p, 2);
	r->part_count = p->node_count;
	r->parts = xreallocarray(NULL, p->node_count, sizeof(*r->parts));
	for (uint32_t i = 0; i < p->node_count; i++) {
		const struct mime_node *n = &p->nodes[i];
		r->parts[i] = (struct mime_part){
			.parent = n->parent,
			.children = n->children,
			.kind = node_kind(n),
			.header_offset = n->header_offset,
			.header_size = n->header_size,
			.body_offset = n->body_offset,
			.body_size = n->body_size,
			.body_lines = n->body_lines > UINT32_MAX ? UINT32_MAX
								 : (uint32_t)n->body_lines,
		};
	}
	fill_headers(p, &r->headers);
	r->size = p->offset;
	r->limits_hit = p->limits_hit;
	parser_free(p);
	return r;
}

void mime_result_free(struct mime_result **rp)
{
	struct mime_result *r = *rp;
	if (r == NULL)
		return;
	struct mime_headers *h = &r->headers;
	char *strings[] = { r->envelope, r->body,	  r->bodystructure, h->subject,
			    h->from,	 h->sender,	  h->reply_to,	    h->to,
			    h->cc,	 h->bcc,	  h->message_id,    h->in_reply_to,
			    h->references, h->base_subject, h->sort_from, h->sort_to,
			    h->sort_cc };
	for (size_t i = 0; i < sizeof(strings) / sizeof(strings[0]); i++)
		free(strings[i]);
	free(r->parts);
	free(r);
	*rp = NULL;
}
