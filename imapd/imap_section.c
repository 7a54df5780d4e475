/*
 * BODY[section] on the part table (RFC 3501 6.4.5).
 *
 * The table lists parts depth-first, parts[0] being the message; a
 * multipart's children are its body parts, a message/rfc822 part has one
 * child, the encapsulated message's top part. Part numbers walk it so:
 *
 *   - in a multipart, n is its n-th child;
 *   - any other part has only part 1, itself ("1" of a single-part message
 *     is its body, "2.1" of a message/rfc822 whose message is not a
 *     multipart is that message's body), and no deeper numbers unless it
 *     is a message/rfc822;
 *   - a message/rfc822 followed by more numbers stands for the message it
 *     encapsulates, so "2.1" continues in the child's parts.
 *
 * HEADER, HEADER.FIELDS and TEXT after a part number need a message/rfc822
 * part and mean its message's header and body; MIME is the part's own
 * header - for a message/rfc822 part its MIME header, for part 1 of a
 * single-part message the message header, which is all the MIME header
 * that part has.
 *
 * This is Dovecot's reading too (checked against Dovecot 2.3.19, see the
 * MIME corpus), with one exception: Dovecot answers "1.1" with part 1 when
 * part 1 of a multipart is a leaf (and only then: "1.1" of a single-part
 * message is nothing to it either). RFC 3501 gives sub-part numbers only to
 * multipart and message parts, so here "1.1" of a leaf does not exist.
 * Where a part does not exist the answer is the empty string, as Dovecot
 * gives.
 */
#include "imapd/imap_fetch.h"

enum { PART_LEAF = 0, PART_MULTIPART = 1, PART_MESSAGE = 2 };

#define NO_PART SIZE_MAX

/* The n-th (1-based) child of `parent`. Its subtree is contiguous after
   it and ends at the first part whose parent lies before it. */
static size_t nth_child(const struct store_part *parts, size_t count, size_t parent, uint32_t n)
{
	for (size_t j = parent + 1; j < count && parts[j].parent >= parent; j++)
		if (parts[j].parent == parent && --n == 0)
			return j;
	return NO_PART;
}

/* Follows the part numbers; NO_PART when they name nothing. */
static size_t find_part(const struct store_part *parts, size_t count, const uint32_t *path,
			size_t depth)
{
	size_t cur = 0;
	for (size_t k = 0; k < depth; k++) {
		if (parts[cur].kind == PART_MULTIPART)
			cur = nth_child(parts, count, cur, path[k]);
		else if (path[k] != 1)
			return NO_PART; /* anything else has only part 1, itself */
		if (cur == NO_PART || k + 1 == depth)
			break;
		/* more numbers: they go into a multipart, or into the message
		   a message/rfc822 holds; other parts have no parts */
		if (parts[cur].kind == PART_MESSAGE)
			cur = nth_child(parts, count, cur, 1);
		else if (parts[cur].kind != PART_MULTIPART)
			return NO_PART;
		if (cur == NO_PART)
			break;
	}
	return cur;
}

/* Parents come before their children; anything else is a damaged index. */
static bool table_usable(const struct store_part *parts, size_t count)
{
	if (count == 0 || parts[0].parent != UINT32_MAX)
		return false;
	for (size_t j = 1; j < count; j++)
		if (parts[j].parent >= j)
			return false;
	return true;
}

static void set_range(struct imap_section_range *out, uint64_t offset, uint64_t size)
{
	out->offset = offset;
	out->size = size;
}

int imap_section_resolve(const struct store_part *parts, size_t part_count,
			 const struct imap_section *sec, struct imap_section_range *out)
{
	*out = (struct imap_section_range){ 0 };
	if (!table_usable(parts, part_count))
		return -1;

	size_t cur = find_part(parts, part_count, sec->path, sec->depth);
	if (cur == NO_PART) {
		out->empty = true;
		return 0;
	}
	const struct store_part *p = &parts[cur];

	if (sec->text == IMAP_SECTION_ALL) {
		if (sec->depth == 0)
			set_range(out, p->header_offset, p->header_size + p->body_size);
		else
			set_range(out, p->body_offset, p->body_size);
		return 0;
	}
	if (sec->text == IMAP_SECTION_MIME) {
		set_range(out, p->header_offset, p->header_size);
		return 0;
	}
	/* HEADER, HEADER.FIELDS(.NOT), TEXT: of the message itself, or of the
	   message a message/rfc822 part holds */
	if (sec->depth > 0) {
		size_t child = p->kind == PART_MESSAGE ? nth_child(parts, part_count, cur, 1) : NO_PART;
		if (child == NO_PART) {
			out->empty = true;
			return 0;
		}
		p = &parts[child];
	}
	if (sec->text == IMAP_SECTION_TEXT) {
		set_range(out, p->body_offset, p->body_size);
	} else {
		set_range(out, p->header_offset, p->header_size);
		out->filter_fields = sec->text != IMAP_SECTION_HEADER;
	}
	return 0;
}

void imap_partial_apply(uint64_t size, const struct imap_section *sec, uint64_t *start_r,
			uint64_t *len_r)
{
	if (!sec->partial) {
		*start_r = 0;
		*len_r = size;
	} else if (sec->origin >= size) {
		*start_r = size;
		*len_r = 0;
	} else {
		uint64_t left = size - sec->origin;
		*start_r = sec->origin;
		*len_r = sec->length < left ? sec->length : left;
	}
}
