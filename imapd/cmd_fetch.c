/*
 * FETCH and UID FETCH (RFC 3501 6.4.5).
 *
 * Flags, dates, sizes, ENVELOPE and BODYSTRUCTURE come from the index;
 * body sections are read from the message file, header fields the index
 * keeps from the index. The job produces the response in steps of about
 * STEP_OUTPUT bytes: a body larger than that is streamed as the client
 * reads, so memory stays constant whatever the message size. \Seen is set
 * implicitly (BODY[...] without PEEK, RFC822, RFC822.TEXT) before the
 * messages are answered, and those answers carry FLAGS.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/fileio.h"
#include "common/xalloc.h"
#include "imapd/imap_commands.h"
#include "imapd/imap_date.h"
#include "imapd/imap_fetch.h"
#include "imapd/imap_job.h"
#include "imapd/imap_mailbox_name.h"
#include "imapd/imap_sync.h"
#include "store/store.h"

#define STEP_OUTPUT (256 * 1024)
#define BATCH 128 /* messages per read transaction */
/* A message's sections read ahead with its batch when they lie within
   this many bytes of its file (message lists, previews); larger ones are
   read, or streamed, when their turn comes. */
#define READ_AHEAD_MAX (64 * 1024)

/* A body item to answer: a BODY[section], or an RFC822 item (which is a
   section under another name). */
struct fetch_part {
	const struct imap_section *sec;
	const char *name; /* NULL: BODY[spec]<origin> */
};

/* One message of a batch. */
struct batch_msg {
	uint32_t uid, seq;
	bool present;		/* its record was read into m */
	struct store_msg m;
	/* The file bytes [ahead_offset, + ahead.len) its sections need,
	   when they were read ahead (ahead.ptr NULL: not). */
	struct span ahead;
	uint64_t ahead_offset;
	size_t read;		/* its entry in reads (NO_READ: none) */
};
#define NO_READ SIZE_MAX

struct fetch_state {
	struct arena arena; /* the parsed request */
	struct imap_fetch_request req;
	struct fetch_part *parts;
	size_t part_count;
	bool uid_command;
	uint32_t *uids;
	size_t count;
	size_t next;		/* the next message to answer */
	uint32_t *seen_set;	/* UIDs whose \Seen this command set (sorted) */
	size_t seen_count;
	uint32_t *seen_undo;	/* of those, UIDs whose file was gone after all */
	size_t seen_undo_count;
	bool expunged;		/* some message had gone */
	/* A literal being streamed from a file: the rest of its message's
	   items follow once it is done. */
	int fd;
	uint64_t offset, left;
	size_t resume_section;	/* the next section of that message */
	uint32_t resume_uid;
	struct store_msg resume_msg;
	bool resume_has_seen;
	struct buf scratch;
	/* The batch being answered, read ahead (plan_batch): its records,
	   and the file bytes its sections need, read all at once. */
	struct batch_msg *batch;
	struct store_read *reads;
	struct buf read_buf;
};

static void fetch_state_free(void *p)
{
	struct fetch_state *st = p;
	if (st->fd >= 0)
		close(st->fd);
	arena_free(&st->arena);
	free(st->parts);
	free(st->uids);
	free(st->seen_set);
	free(st->seen_undo);
	buf_free(&st->scratch);
	free(st->batch);
	free(st->reads);
	buf_free(&st->read_buf);
	free(st);
}

/* -------------------------------------------------------------- helpers */

static bool in_sorted(const uint32_t *set, size_t n, uint32_t uid)
{
	size_t lo = 0, hi = n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (set[mid] == uid)
			return true;
		if (set[mid] < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}

/* IMAP literals cannot carry NUL (RFC 3501 4.3, CHAR8 = %x01-ff), but a
   stored message may hold some (APPEND and LMTP take them): they go out
   as 0x80, as Dovecot sends them, which keeps every size and offset. */
static void replace_nuls(uint8_t *p, size_t n)
{
	uint8_t *end = p + n;
	while (p < end && (p = memchr(p, '\0', (size_t)(end - p))) != NULL)
		*p++ = 0x80;
}

/* Sets \Seen on the messages of [from, to) that lack it, when the request
   implies it and the mailbox is writable. */
static void set_seen(struct imap_job *j, struct fetch_state *st, size_t from, size_t to)
{
	struct imap_session *s = j->s;
	if (!st->req.sets_seen || s->readonly)
		return;
	struct store_reader *r;
	char *error = NULL;
	if (store_reader_begin(s->view, &r, &error) != STORE_OK) {
		free(error);
		return;
	}
	uint32_t *unseen = xcalloc(to - from, sizeof(*unseen));
	size_t n = 0;
	for (size_t i = from; i < to; i++) {
		struct store_msg m;
		if (store_reader_get(r, st->uids[i], STORE_FETCH_FLAGS, &m) == STORE_OK &&
		    (m.flags & STORE_FLAG_SEEN) == 0)
			unseen[n++] = st->uids[i];
	}
	store_reader_end(&r);
	if (n > 0 && store_view_set_flags(s->view, unseen, n, STORE_FLAGS_ADD, STORE_FLAG_SEEN,
					  NULL, &error) == STORE_OK) {
		st->seen_set = xreallocarray(st->seen_set, st->seen_count + n, sizeof(*st->seen_set));
		memcpy(st->seen_set + st->seen_count, unseen, n * sizeof(*unseen));
		st->seen_count += n; /* UIDs ascend across batches: stays sorted */
	}
	free(error);
	free(unseen);
}

static int uid_cmp(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

/* A message left out because its file is gone: if this command set its
   \Seen, that is taken back at the end (nobody read it). */
static void seen_not_read(struct fetch_state *st, uint32_t uid)
{
	if (st->seen_count == 0 ||
	    bsearch(&uid, st->seen_set, st->seen_count, sizeof(uid), uid_cmp) == NULL)
		return;
	st->seen_undo = xreallocarray(st->seen_undo, st->seen_undo_count + 1, sizeof(uid));
	st->seen_undo[st->seen_undo_count++] = uid;
}

static void undo_seen(struct imap_job *j, struct fetch_state *st)
{
	if (st->seen_undo_count == 0)
		return;
	char *error = NULL;
	if (store_view_set_flags(j->s->view, st->seen_undo, st->seen_undo_count,
				 STORE_FLAGS_REMOVE, STORE_FLAG_SEEN, NULL, &error) == STORE_OK) {
		/* Not ours to hide from imap_sync any more. */
		size_t n = 0;
		for (size_t i = 0; i < st->seen_count; i++) {
			if (bsearch(&st->seen_set[i], st->seen_undo, st->seen_undo_count,
				    sizeof(uint32_t), uid_cmp) == NULL)
				st->seen_set[n++] = st->seen_set[i];
		}
		st->seen_count = n;
	}
	free(error);
}

/* ---------------------------------------------------------------- items */

static void literal_header(struct buf *out, uint64_t len)
{
	buf_append_byte(out, '{');
	buf_append_u64(out, len);
	buf_append_str(out, "}\r\n");
}

/* "BODY[1.HEADER]<0>" as the response names the section: a partial by
   the origin the client asked for, also when that lies beyond the end
   (RFC 3501 7.4.2; the client matches the answer to its request). */
static void section_name(struct buf *out, const struct fetch_part *part)
{
	const struct imap_section *sec = part->sec;
	if (part->name != NULL) {
		buf_append_str(out, part->name);
		return;
	}
	buf_append_str(out, "BODY[");
	buf_append(out, sec->spec.ptr, sec->spec.len);
	buf_append_byte(out, ']');
	if (sec->partial) {
		buf_append_byte(out, '<');
		buf_append_u64(out, sec->origin);
		buf_append_byte(out, '>');
	}
}

/* Top-level HEADER.FIELDS: answered from the header lines the index
   keeps, without the part table (message lists ask for nothing else). */
static bool from_index(const struct imap_section *sec)
{
	return sec->depth == 0 && sec->text == IMAP_SECTION_HEADER_FIELDS;
}

/* BODY[] / RFC822 / BODY[]<partial>: the whole message, whose size the
   message record has - no part table needed (nor its decompression). */
static bool whole_message(const struct imap_section *sec)
{
	return sec->depth == 0 && sec->text == IMAP_SECTION_ALL;
}

/* The bytes of a header-fields section: from the index when it keeps all
   the fields asked for (top level), else from the file. */
static int header_fields(struct store_reader *r, int fd, uint32_t uid,
			 const struct imap_section *sec, const struct imap_section_range *range,
			 struct buf *out)
{
	if (from_index(sec)) {
		struct span block;
		if (store_reader_header_ref(r, uid, sec->fields, sec->field_count, &block) < 0)
			return -1;
		imap_header_filter(block, sec->fields, sec->field_count,
				   sec->text == IMAP_SECTION_HEADER_FIELDS_NOT, out);
		return 0;
	}
	if (range->size > 16 * 1024 * 1024)
		return -1;
	struct buf block = BUF_INIT;
	buf_reserve(&block, (size_t)range->size);
	int ret = pread_exact(fd, range->offset, block.data, (size_t)range->size);
	if (ret == 0) {
		block.len = (size_t)range->size;
		imap_header_filter(buf_span(&block), sec->fields, sec->field_count,
				   sec->text == IMAP_SECTION_HEADER_FIELDS_NOT, out);
	}
	buf_free(&block);
	return ret == 0 ? 0 : -1;
}

/* Where a section's bytes are. */
static void section_range(const struct store_msg *m, const struct imap_section *sec,
			  struct imap_section_range *range)
{
	if (from_index(sec))
		*range = (struct imap_section_range){ .filter_fields = true };
	else if (whole_message(sec))
		*range = (struct imap_section_range){ .offset = 0, .size = m->size };
	else if (imap_section_resolve(m->parts, m->part_count, sec, range) < 0)
		range->empty = true;
}

/* The file bytes a section needs: [*lo, *hi). False: none (the index
   answers it, or the section is empty). */
static bool section_file_span(const struct store_msg *m, const struct imap_section *sec,
			      uint64_t *lo, uint64_t *hi)
{
	struct imap_section_range range;
	section_range(m, sec, &range);
	if (range.empty || from_index(sec))
		return false;
	uint64_t start = 0, len = range.size;
	if (!range.filter_fields)
		imap_partial_apply(range.size, sec, &start, &len);
	*lo = range.offset + start;
	*hi = *lo + len;
	return true;
}

/* The bytes [offset, + len) of the batch message's file when they were
   read ahead, else NULL. */
static const uint8_t *ahead_bytes(const struct batch_msg *bm, uint64_t offset, uint64_t len)
{
	if (bm == NULL || bm->ahead.ptr == NULL || offset < bm->ahead_offset ||
	    offset - bm->ahead_offset > bm->ahead.len ||
	    len > bm->ahead.len - (offset - bm->ahead_offset))
		return NULL;
	return (const uint8_t *)bm->ahead.ptr + (offset - bm->ahead_offset);
}

/* Writes one section (bm: the message's read-ahead bytes, or NULL).
   Returns 0 when done, 1 when a streamed literal was started (the rest
   follows in later steps), -1 on a read error. */
static int write_section(struct imap_job *j, struct fetch_state *st, struct store_reader *r,
			 int *fd, const struct store_msg *m, const struct batch_msg *bm,
			 const struct fetch_part *part)
{
	const struct imap_section *sec = part->sec;
	struct buf *out = &j->step.out;
	struct imap_section_range range;
	section_range(m, sec, &range);
	uint64_t start, len;
	if (!range.empty && !from_index(sec)) {
		/* Read ahead: no file to open. */
		uint64_t lo, hi;
		const uint8_t *bytes = section_file_span(m, sec, &lo, &hi) ?
					       ahead_bytes(bm, lo, hi - lo) : NULL;
		if (bytes != NULL) {
			if (range.filter_fields) {
				buf_clear(&st->scratch);
				imap_header_filter(span_make(bytes, (size_t)(hi - lo)), sec->fields,
						   sec->field_count,
						   sec->text == IMAP_SECTION_HEADER_FIELDS_NOT,
						   &st->scratch);
				bytes = st->scratch.data;
				imap_partial_apply(st->scratch.len, sec, &start, &len);
				bytes += start;
			} else {
				len = hi - lo;
			}
			section_name(out, part);
			buf_append_byte(out, ' ');
			literal_header(out, len);
			size_t at = out->len;
			buf_append(out, bytes, (size_t)len);
			replace_nuls(out->data + at, (size_t)len);
			return 0;
		}
	}
	if (!range.empty && *fd < 0 && !from_index(sec)) {
		char *error = NULL;
		*fd = store_reader_open(r, m->uid, &error);
		free(error);
		if (*fd < 0)
			return -1;
	}
	if (range.empty) {
		section_name(out, part);
		buf_append_str(out, " \"\"");
		return 0;
	}
	if (range.filter_fields) {
		buf_clear(&st->scratch);
		if (header_fields(r, *fd, m->uid, sec, &range, &st->scratch) < 0)
			return -1;
		imap_partial_apply(st->scratch.len, sec, &start, &len);
		section_name(out, part);
		buf_append_byte(out, ' ');
		literal_header(out, len);
		size_t at = out->len;
		buf_append(out, st->scratch.data + start, (size_t)len);
		replace_nuls(out->data + at, (size_t)len);
		return 0;
	}
	imap_partial_apply(range.size, sec, &start, &len);
	section_name(out, part);
	buf_append_byte(out, ' ');
	literal_header(out, len);
	if (out->len + len <= STEP_OUTPUT) {
		size_t at = out->len;
		buf_reserve(out, (size_t)len);
		if (pread_exact(*fd, range.offset + start, out->data + at, (size_t)len) < 0)
			return -1;
		replace_nuls(out->data + at, (size_t)len);
		out->len += (size_t)len;
		out->data[out->len] = '\0';
		return 0;
	}
	/* Too big for this step: stream it. A file shorter than the index
	   says (damaged behind our back) is answered like a vanished message
	   before the literal's length is promised; a smaller literal is read
	   whole first, which finds the same. */
	struct stat sb;
	if (fstat(*fd, &sb) < 0 || (uint64_t)sb.st_size < range.offset + start + len)
		return -1;
	/* The fd is the stream's now. */
	st->fd = *fd;
	*fd = -1;
	st->offset = range.offset + start;
	st->left = len;
	return 1;
}

/* Continues a streamed literal. Returns true when it is complete. */
static bool stream_more(struct imap_job *j, struct fetch_state *st)
{
	struct buf *out = &j->step.out;
	while (st->left > 0 && out->len < STEP_OUTPUT) {
		size_t n = st->left < STEP_OUTPUT ? (size_t)st->left : STEP_OUTPUT;
		size_t at = out->len;
		buf_reserve(out, n);
		if (pread_exact(st->fd, st->offset, out->data + at, n) < 0) {
			/* The file shrank or vanished mid-literal: the literal's
			   length is already promised; pad so the protocol stays
			   in step, and end the session afterwards. */
			memset(out->data + at, ' ', n);
			j->step.close_after = true;
		}
		replace_nuls(out->data + at, n);
		out->len += n;
		out->data[out->len] = '\0';
		st->offset += n;
		st->left -= n;
	}
	if (st->left > 0)
		return false;
	close(st->fd);
	st->fd = -1;
	return true;
}

/* Items that need no file, in a fixed order after UID. */
static void write_simple_items(struct imap_job *j, struct fetch_state *st, uint32_t seq,
			       const struct store_msg *m, bool *first)
{
	struct buf *out = &j->step.out;
	unsigned items = st->req.items;
#define SEP() (*first ? (void)(*first = false) : (void)buf_append_byte(out, ' '))
	if (items & IMAP_FETCH_UID) {
		SEP();
		buf_append_str(out, "UID ");
		buf_append_u64(out, m->uid);
	}
	bool seen_now = in_sorted(st->seen_set, st->seen_count, m->uid);
	if ((items & IMAP_FETCH_FLAGS) || seen_now) {
		SEP();
		buf_append_str(out, "FLAGS ");
		imap_flags_write(out, j->s->view, seq, m->flags, m->keywords);
	}
	if (items & IMAP_FETCH_INTERNALDATE) {
		SEP();
		buf_append_str(out, "INTERNALDATE ");
		imap_datetime_write(out, m->internaldate);
	}
	if (items & IMAP_FETCH_RFC822_SIZE) {
		SEP();
		buf_append_str(out, "RFC822.SIZE ");
		buf_append_u64(out, m->size);
	}
	if (items & IMAP_FETCH_ENVELOPE) {
		SEP();
		buf_append_str(out, "ENVELOPE ");
		buf_append(out, m->envelope.ptr, m->envelope.len);
	}
	if (items & IMAP_FETCH_BODY) {
		SEP();
		buf_append_str(out, "BODY ");
		buf_append(out, m->body.ptr, m->body.len);
	}
	if (items & IMAP_FETCH_BODYSTRUCTURE) {
		SEP();
		buf_append_str(out, "BODYSTRUCTURE ");
		buf_append(out, m->bodystructure.ptr, m->bodystructure.len);
	}
#undef SEP
}

/* Writes the message's sections from `from` on. Returns like
   write_section (1: a literal is streaming; resume at resume_section). */
static int write_sections(struct imap_job *j, struct fetch_state *st, struct store_reader *r,
			  const struct store_msg *m, const struct batch_msg *bm, size_t from,
			  bool first)
{
	int fd = -1, ret = 0;
	for (size_t k = from; k < st->part_count; k++) {
		size_t mark = j->step.out.len;
		if (!first)
			buf_append_byte(&j->step.out, ' ');
		first = false;
		ret = write_section(j, st, r, &fd, m, bm, &st->parts[k]);
		if (ret < 0)
			j->step.out.len = mark; /* no half item (nor a literal promised) */
		if (ret != 0) {
			st->resume_section = k + 1;
			break;
		}
	}
	if (fd >= 0)
		close(fd);
	if (ret == 0)
		buf_append_str(&j->step.out, ")\r\n");
	return ret;
}

/* The structure record (ENVELOPE, BODYSTRUCTURE, part table) is
   compressed in the index; skip decompressing it when nothing needs it. */
static bool needs_structure(const struct fetch_state *st);

/* Whether anything asked for needs the message record (flags, dates,
   sizes, the structure, a file), or only the index's header fields - a
   message list's FETCH, which then skips reading the record. */
static bool needs_record(const struct fetch_state *st)
{
	/* (Something must find out whether the message is still there.) */
	if ((st->req.items & ~(unsigned)IMAP_FETCH_UID) != 0 || st->req.sets_seen ||
	    st->part_count == 0)
		return true;
	for (size_t k = 0; k < st->part_count; k++)
		if (!from_index(st->parts[k].sec))
			return true;
	return false;
}

static bool needs_structure(const struct fetch_state *st)
{
	if (st->req.items & (IMAP_FETCH_ENVELOPE | IMAP_FETCH_BODY | IMAP_FETCH_BODYSTRUCTURE))
		return true;
	for (size_t k = 0; k < st->part_count; k++)
		if (!from_index(st->parts[k].sec) && !whole_message(st->parts[k].sec))
			return true;
	return false;
}

/* About how much of the step's output a message's answer takes, besides
   its file bytes: what the request asks of its record. */
static size_t answer_estimate(const struct fetch_state *st, const struct store_msg *m)
{
	size_t n = 64;
	if (st->req.items & IMAP_FETCH_ENVELOPE)
		n += m->envelope.len;
	if (st->req.items & IMAP_FETCH_BODY)
		n += m->body.len;
	if (st->req.items & IMAP_FETCH_BODYSTRUCTURE)
		n += m->bodystructure.len;
	return n;
}

/* Reads the records of the batch's messages from `from` on, as many as
   the step's output will hold (so none is read, nor its structure
   unpacked, for a step that ends before it), and, where their sections
   need only a few kilobytes of each file, those bytes of all their files
   at once (the opens and reads shared with helper threads:
   store_reader_read_many). A message whose read failed is read the usual
   way. Returns where the planned messages end (at least one). */
static size_t plan_batch(struct imap_job *j, struct fetch_state *st, struct store_reader *r,
			 size_t from, size_t to)
{
	struct imap_session *s = j->s;
	unsigned what = needs_record(st) ? STORE_FETCH_FLAGS : 0;
	if (needs_structure(st))
		what |= STORE_FETCH_STRUCTURE;
	if (st->batch == NULL) {
		st->batch = xcalloc(BATCH, sizeof(*st->batch));
		st->reads = xcalloc(BATCH, sizeof(*st->reads));
	}
	size_t nreads = 0, planned = j->step.out.len, total = 0, end = from;
	for (; end < to && (end == from || planned < STEP_OUTPUT); end++) {
		struct batch_msg *bm = &st->batch[end - from];
		bm->uid = st->uids[end];
		bm->seq = store_view_seq(s->view, bm->uid);
		/* Without the record, the index's header fields say whether
		   the message is still there. */
		bm->m = (struct store_msg){ .uid = bm->uid };
		bm->present = bm->seq != 0 &&
			      (what == 0 || store_reader_get(r, bm->uid, what, &bm->m) == STORE_OK);
		bm->ahead = span_make(NULL, 0);
		bm->read = NO_READ;
		if (!bm->present)
			continue;
		planned += answer_estimate(st, &bm->m);
		uint64_t lo = UINT64_MAX, hi = 0;
		for (size_t k = 0; k < st->part_count; k++) {
			uint64_t a, b;
			if (section_file_span(&bm->m, st->parts[k].sec, &a, &b)) {
				lo = a < lo ? a : lo;
				hi = b > hi ? b : hi;
			}
		}
		if (lo >= hi || hi - lo > READ_AHEAD_MAX)
			continue;
		planned += (size_t)(hi - lo);
		bm->ahead_offset = lo;
		bm->read = nreads;
		st->reads[nreads++] = (struct store_read){ .uid = bm->uid, .offset = lo,
							   .len = (size_t)(hi - lo) };
		total += (size_t)(hi - lo);
	}
	if (nreads == 0)
		return end;
	buf_clear(&st->read_buf);
	buf_reserve(&st->read_buf, total);
	size_t at = 0;
	for (size_t i = 0; i < nreads; i++) {
		st->reads[i].dest = st->read_buf.data + at;
		at += st->reads[i].len;
	}
	store_reader_read_many(r, st->reads, nreads);
	for (size_t i = 0; i < end - from; i++) {
		struct batch_msg *bm = &st->batch[i];
		if (bm->read != NO_READ && st->reads[bm->read].ok)
			bm->ahead = span_make(st->reads[bm->read].dest, st->reads[bm->read].len);
	}
	return end;
}

static void fetch_work(struct imap_job *j)
{
	struct imap_session *s = j->s;
	struct fetch_state *st = j->state;
	/* A literal streaming from the last step, then the rest of its
	   message's items. */
	if (st->fd >= 0) {
		if (!stream_more(j, st)) {
			j->step.more = true;
			return;
		}
		if (j->step.close_after) {
			/* The file shrank or went while its literal was being
			   sent: the literal is complete but not the message. End
			   the session, saying why (RFC 3501 3.4: never close
			   without BYE) - not "OK". */
			buf_append_str(&j->step.out, ")\r\n* BYE Message file changed while it was being sent.\r\n");
			return;
		}
		struct store_reader *r;
		char *error = NULL;
		if (store_reader_begin(s->view, &r, &error) != STORE_OK) {
			free(error);
			/* Cannot finish the response. */
			buf_append_str(&j->step.out, ")\r\n* BYE [SERVERBUG] Internal error occurred.\r\n");
			j->step.close_after = true;
			return;
		}
		struct store_msg m;
		int ret = store_reader_get(r, st->resume_uid, STORE_FETCH_FLAGS | STORE_FETCH_STRUCTURE, &m);
		ret = ret == STORE_OK ? write_sections(j, st, r, &m, NULL, st->resume_section, false) : -1;
		store_reader_end(&r);
		if (ret < 0) {
			buf_append_str(&j->step.out, ")\r\n");
			st->expunged = true;
		}
		if (ret == 1) {
			j->step.more = true;
			return;
		}
	}
	/* A long answer fills the step: room for it at once, not by doubling. */
	if (st->count - st->next > 64)
		buf_reserve(&j->step.out, STEP_OUTPUT + 16 * 1024);
	while (st->next < st->count && j->step.out.len < STEP_OUTPUT) {
		size_t batch_end = st->next + BATCH < st->count ? st->next + BATCH : st->count;
		set_seen(j, st, st->next, batch_end);
		struct store_reader *r;
		char *error = NULL;
		if (store_reader_begin(s->view, &r, &error) != STORE_OK) {
			free(error);
			imap_job_tagged(j, "NO", "[SERVERBUG] Internal error occurred.");
			return;
		}
		size_t batch_start = st->next;
		batch_end = plan_batch(j, st, r, batch_start, batch_end);
		int streaming = 0;
		while (st->next < batch_end && j->step.out.len < STEP_OUTPUT && streaming == 0) {
			struct batch_msg *bm = &st->batch[st->next++ - batch_start];
			uint32_t uid = bm->uid, seq = bm->seq;
			if (!bm->present) {
				st->expunged = true;
				continue;
			}
			size_t mark = j->step.out.len;
			buf_append_str(&j->step.out, "* ");
			buf_append_u64(&j->step.out, seq);
			buf_append_str(&j->step.out, " FETCH (");
			bool first = true;
			write_simple_items(j, st, seq, &bm->m, &first);
			streaming = write_sections(j, st, r, &bm->m, bm, 0, first);
			if (streaming < 0) {
				/* The file is gone (expunged by another session):
				   leave this message out. */
				j->step.out.len = mark;
				st->expunged = true;
				seen_not_read(st, uid);
				streaming = 0;
			} else if (streaming == 1) {
				st->resume_uid = uid;
			}
		}
		store_reader_end(&r);
		if (streaming == 1) {
			j->step.more = true;
			return;
		}
		if (st->next < batch_end)
			break; /* step full; the batch continues next step */
	}
	if (st->next < st->count) {
		j->step.more = true;
		return;
	}
	undo_seen(j, st);
	/* Our implicit \Seen changes were reported with the messages. */
	imap_sync(j, false, st->seen_set, st->seen_count);
	if (st->expunged)
		imap_job_tagged(j, "NO", "[EXPUNGEISSUED] Some of the requested messages no longer exist.");
	else
		imap_job_tagged(j, "OK", "Fetch completed.");
}

/* RFC822, RFC822.HEADER and RFC822.TEXT are sections by other names
   (RFC 3501 6.4.5); they go first, then BODY[...] in request order. */
static void plan_parts(struct fetch_state *st)
{
	static const struct {
		unsigned int item;
		const char *name;
		enum imap_section_text text;
	} rfc822[] = {
		{ IMAP_FETCH_RFC822_HEADER, "RFC822.HEADER", IMAP_SECTION_HEADER },
		{ IMAP_FETCH_RFC822_TEXT, "RFC822.TEXT", IMAP_SECTION_TEXT },
		{ IMAP_FETCH_RFC822, "RFC822", IMAP_SECTION_ALL },
	};
	st->parts = xcalloc(st->req.section_count + 3, sizeof(*st->parts));
	for (size_t i = 0; i < sizeof(rfc822) / sizeof(rfc822[0]); i++) {
		if ((st->req.items & rfc822[i].item) == 0)
			continue;
		struct imap_section *sec = arena_alloc(&st->arena, sizeof(*sec));
		*sec = (struct imap_section){ .text = rfc822[i].text };
		st->parts[st->part_count++] = (struct fetch_part){ sec, rfc822[i].name };
	}
	for (size_t i = 0; i < st->req.section_count; i++)
		st->parts[st->part_count++] = (struct fetch_part){ &st->req.sections[i], NULL };
}

void imap_fetch_run(struct imap_session *s, const struct imap_command_line *cmd,
		    const struct imap_arg *args, size_t count, bool uid)
{
	if (count < 2) {
		imap_tagged(s, cmd->tag, "BAD", "Expected: FETCH set items.");
		imap_bad_command(s);
		return;
	}
	struct fetch_state *st = xcalloc(1, sizeof(*st));
	st->fd = -1;
	arena_init(&st->arena, 1024);
	buf_init(&st->scratch, 0);
	st->uid_command = uid;
	const char *error;
	if (imap_fetch_parse(&st->arena, args + 1, count - 1, uid, &st->req, &error) < 0) {
		fetch_state_free(st);
		imap_tagged(s, cmd->tag, "BAD", "%s", error);
		imap_bad_command(s);
		return;
	}
	plan_parts(st);
	if (!imap_msgset_arg(s, cmd, &args[0], uid, &st->uids, &st->count)) {
		fetch_state_free(st);
		return;
	}
	imap_job_run(s, cmd->tag, fetch_work, st, fetch_state_free);
}

void cmd_fetch(struct imap_session *s, const struct imap_command_line *cmd)
{
	imap_fetch_run(s, cmd, cmd->args, cmd->count, false);
}
