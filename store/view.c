/*
 * Views: a session's stable sequence-number map over one mailbox.
 *
 * A view holds the sorted UIDs it has announced and the MODSEQ up to which
 * it has seen changes. store_view_sync() reads the mailbox's MODSEQ log from
 * there on - one cursor range, not a scan of the mailbox - and applies it:
 * expunged UIDs leave the map, new UIDs join it, changed ones are reported.
 * Expunges can be held back (IMAP may not announce them during FETCH, STORE
 * or SEARCH); they wait in `pending` and come out at the next sync that
 * allows them.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/xalloc.h"
#include "store/internal.h"
#include "store/view.h"

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

uint32_t store_view_count(const struct store_view *v)
{
	return (uint32_t)v->count;
}

/* The run holding seq (by_seq) or the last run starting at or below uid. */
static const struct uid_run *find_run(const struct store_view *v, uint32_t key, bool by_seq)
{
	size_t lo = 0, hi = v->run_count;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if ((by_seq ? v->runs[mid].seq : v->runs[mid].uid) <= key)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo > 0 ? &v->runs[lo - 1] : NULL;
}

uint32_t store_view_uid(const struct store_view *v, uint32_t seq)
{
	if (seq < 1 || seq > v->count)
		return 0;
	if (v->runs != NULL) {
		const struct uid_run *r = find_run(v, seq, true);
		return r->uid + (seq - r->seq);
	}
	return v->uids[seq - 1];
}

uint32_t store_view_seq(const struct store_view *v, uint32_t uid)
{
	if (v->runs != NULL) {
		const struct uid_run *r = find_run(v, uid, false);
		return r != NULL && uid - r->uid < r->len ? r->seq + (uid - r->uid) : 0;
	}
	size_t lo = 0, hi = v->count;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (v->uids[mid] < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < v->count && v->uids[lo] == uid ? (uint32_t)lo + 1 : 0;
}

/* uidlist_read's chunks, gathered as runs of consecutive UIDs: a view
   is kept compact anyway (store_view_compact), and a large mailbox's UIDs
   are mostly runs, so the whole array need never exist. */
struct run_builder {
	struct uid_run *runs;
	size_t count, cap;
	size_t uids;
};

static void push_uids(void *ctx, const uint32_t *uids, size_t count)
{
	struct run_builder *b = ctx;
	for (size_t i = 0; i < count; i++, b->uids++) {
		struct uid_run *last = b->count > 0 ? &b->runs[b->count - 1] : NULL;
		if (last != NULL && uids[i] == last->uid + last->len) {
			last->len++;
			continue;
		}
		if (b->count == b->cap) {
			b->cap = b->cap ? b->cap * 2 : 64;
			b->runs = xreallocarray(b->runs, b->cap, sizeof(*b->runs));
		}
		b->runs[b->count++] = (struct uid_run){ uids[i], (uint32_t)b->uids + 1, 1 };
	}
}

/* Runs (12 bytes each) are the smaller form of a large map whose UIDs are
   mostly consecutive; small maps are not worth it. */
#define RUNS_MIN_UIDS 256

static bool runs_pay(size_t uids, size_t runs)
{
	return uids >= RUNS_MIN_UIDS && runs * sizeof(struct uid_run) < uids * sizeof(uint32_t) / 2;
}

void store_view_compact(struct store_view *v)
{
	if (v->runs != NULL || v->count < RUNS_MIN_UIDS)
		return;
	size_t runs = 1;
	for (size_t i = 1; i < v->count; i++)
		runs += v->uids[i] != v->uids[i - 1] + 1;
	if (!runs_pay(v->count, runs))
		return;
	struct run_builder b = { NULL, 0, 0, 0 };
	push_uids(&b, v->uids, v->count);
	v->runs = xreallocarray(b.runs, b.count, sizeof(*v->runs));
	v->run_count = b.count;
	free(v->uids);
	v->uids = NULL;
	v->cap = 0;
}

void view_expand(struct store_view *v)
{
	if (v->runs == NULL)
		return;
	v->cap = v->count > 64 ? v->count : 64;
	v->uids = xreallocarray(NULL, v->cap, sizeof(*v->uids));
	size_t n = 0;
	for (size_t r = 0; r < v->run_count; r++)
		for (uint32_t k = 0; k < v->runs[r].len; k++)
			v->uids[n++] = v->runs[r].uid + k;
	free(v->runs);
	v->runs = NULL;
	v->run_count = 0;
}

static bool uid_recent(const struct store_view *v, uint32_t uid)
{
	for (size_t i = 0; i < v->recent_count; i++)
		if (uid >= v->recent[i].first && uid < v->recent[i].end)
			return true;
	return false;
}

bool store_view_recent(const struct store_view *v, uint32_t seq)
{
	uint32_t uid = store_view_uid(v, seq);
	return uid != 0 && uid_recent(v, uid);
}

static uint32_t count_recent(const struct store_view *v)
{
	uint32_t n = 0;
	for (uint32_t seq = 1; seq <= v->count && v->recent_count > 0; seq++)
		n += uid_recent(v, store_view_uid(v, seq));
	return n;
}

static bool claims_recent(const struct store_view *v)
{
	return (v->flags & STORE_VIEW_CLAIM_RECENT) && !(v->flags & STORE_VIEW_READONLY);
}

static void add_recent(struct store_view *v, uint32_t first, uint32_t end)
{
	if (first >= end)
		return;
	if (v->recent_count > 0 && v->recent[v->recent_count - 1].end == first) {
		v->recent[v->recent_count - 1].end = end;
		return;
	}
	v->recent = xreallocarray(v->recent, v->recent_count + 1, sizeof(*v->recent));
	v->recent[v->recent_count++] = (struct recent_range){ first, end };
}

struct claim {
	struct store_view *v;
	uint32_t first, end;
};

static int claim_cb(struct store_user *u, MDB_txn *txn, void *ctx, char **error_r)
{
	struct claim *c = ctx;
	struct mailbox_rec rec;
	c->first = c->end = 0;
	int ret = user_get_mailbox(u, txn, c->v->mailbox, &rec);
	if (ret < 0 || rec.first_recent_uid >= rec.uidnext)
		return ret == STORE_ERR_NOT_FOUND ? STORE_OK : ret;
	c->first = rec.first_recent_uid;
	c->end = rec.uidnext;
	rec.first_recent_uid = rec.uidnext;
	return user_put_mailbox(u, txn, c->v->mailbox, &rec);
}

int view_claim_recent(struct store_view *v, char **error_r)
{
	struct claim c = { v, 0, 0 };
	int ret = user_write(v->u, claim_cb, &c, error_r);
	if (ret == STORE_OK)
		add_recent(v, c.first, c.end);
	return ret;
}

const char *store_view_mailbox(const struct store_view *v)
{
	return v->mailbox;
}

bool store_view_readonly(const struct store_view *v)
{
	return (v->flags & STORE_VIEW_READONLY) != 0;
}

static void push_uid(struct store_view *v, uint32_t uid)
{
	view_expand(v);
	if (v->count == v->cap) {
		v->cap = v->cap ? v->cap * 2 : 64;
		v->uids = xreallocarray(v->uids, v->cap, sizeof(*v->uids));
	}
	v->uids[v->count++] = uid;
}

/* Gives the view the UIDs gathered: as runs when that is the smaller form,
   else as the plain array. */
static void take_runs(struct store_view *v, struct run_builder *b)
{
	v->count = b->uids;
	if (runs_pay(b->uids, b->count)) {
		v->runs = xreallocarray(b->runs, b->count > 0 ? b->count : 1, sizeof(*v->runs));
		v->run_count = b->count;
		return;
	}
	v->runs = b->runs;
	v->run_count = b->count;
	view_expand(v); /* (an empty mailbox has no runs: nothing to expand) */
}

/* Loads the mailbox record and every UID, with the unseen statistics. */
static int load(struct store_view *v, MDB_txn *txn, struct mailbox_rec *rec,
		struct store_view_status *st, char **error_r)
{
	struct store_user *u = v->u;
	int ret = user_get_mailbox(u, txn, v->mailbox, rec);
	if (ret == STORE_OK && (rec->flags & MAILBOX_NOSELECT))
		ret = STORE_ERR_NOT_FOUND;
	if (ret < 0)
		return store_fail(ret, error_r, ret == STORE_ERR_NOT_FOUND ? "no such mailbox" :
									  "mailbox record unreadable");
	v->mailbox_id = rec->id;
	v->uidvalidity = rec->uidvalidity;
	v->modseq = rec->highest_modseq;
	v->count = 0;
	memset(st, 0, sizeof(*st));
	struct run_builder b = { NULL, 0, 0, 0 };
	ret = uidlist_read(u, txn, rec->id, UIDLIST_ALL, push_uids, &b);
	take_runs(v, &b); /* a new view: no map yet */
	uint32_t first_unseen;
	size_t unseen;
	if (ret == STORE_OK)
		ret = uidlist_first(u, txn, rec->id, UIDLIST_UNSEEN, &first_unseen, &unseen);
	if (ret < 0)
		return store_fail(ret, error_r, "cannot read the mailbox's UIDs");
	st->unseen = (uint32_t)unseen;
	st->first_unseen_seq = unseen > 0 ? store_view_seq(v, first_unseen) : 0;
	st->uidvalidity = rec->uidvalidity;
	st->uidnext = rec->uidnext;
	st->highest_modseq = rec->highest_modseq;
	st->messages = (uint32_t)v->count;
	MDB_stat kst;
	if (mdb_stat(txn, u->keywords, &kst) == 0)
		st->permanent_keywords = kst.ms_entries >= 64 ? UINT64_MAX :
								(1ULL << kst.ms_entries) - 1;
	return STORE_OK;
}

int store_view_open(struct store_user *u, const char *mailbox, unsigned int flags,
		    struct store_view **v_r, struct store_view_status *st, char **error_r)
{
	const char *why;
	if (store_mailbox_name_check(mailbox, &why) < 0)
		return store_fail(STORE_ERR_INVALID, error_r, "mailbox name %s", why);
	struct store_view *v = xcalloc(1, sizeof(*v));
	v->u = u;
	v->flags = flags;
	v->mailbox = mailbox_canonical(mailbox);
	v->folder = mailbox_path(u, v->mailbox);

	/* Messages other tools dropped into new/ join the mailbox first. */
	check_import_new(u, v->mailbox, v->folder, &v->new_mtime);

	struct mailbox_rec rec;
	MDB_txn *txn;
	int ret = user_txn_begin(u, false, &txn, error_r);
	if (ret == STORE_OK) {
		ret = load(v, txn, &rec, st, error_r);
		user_txn_abort(u, txn);
	}
	/* \Recent goes to the first session that selects the mailbox after
	   a message arrives (RFC 3501 2.3.2). Messages that arrive between
	   the load and the claim show up at the first sync, still ours. */
	if (ret == STORE_OK && claims_recent(v))
		ret = view_claim_recent(v, error_r);
	if (ret < 0) {
		store_view_close(&v);
		return ret;
	}
	st->recent = count_recent(v);
	*v_r = v;
	return STORE_OK;
}

void store_view_close(struct store_view **vp)
{
	struct store_view *v = *vp;
	if (v == NULL)
		return;
	*vp = NULL;
	keyword_names_free(v->keyword_names);
	if (v->file_letters != NULL)
		mailbox_file_free(v->file_letters);
	free(v->file_letters);
	free(v->mailbox);
	free(v->folder);
	free(v->uids);
	free(v->runs);
	free(v->pending);
	free(v->recent);
	free(v);
}

const char *store_keyword_name(struct store_view *v, unsigned int id)
{
	if (id >= STORE_MAX_KEYWORDS)
		return NULL;
	if (v->keyword_names[id] == NULL) {
		MDB_txn *txn;
		if (user_txn_begin(v->u, false, &txn, NULL) == STORE_OK) {
			keyword_names_free(v->keyword_names);
			user_keyword_names(v->u, txn, v->keyword_names);
			user_txn_abort(v->u, txn);
		}
	}
	return v->keyword_names[id];
}

/* ------------------------------------------------------------------ sync */

struct change {
	uint32_t uid;
	uint32_t kind;
};

static int cmp_change(const void *a, const void *b)
{
	return cmp_u32(&((const struct change *)a)->uid, &((const struct change *)b)->uid);
}

/* Reads the MODSEQ log after v->modseq. */
static int read_changes(struct store_view *v, MDB_txn *txn, struct change **changes_r,
			size_t *count_r)
{
	struct change *changes = NULL;
	size_t count = 0, cap = 0;
	MDB_cursor *cur;
	int rc = mdb_cursor_open(txn, v->u->modseq, &cur);
	if (rc != 0)
		return STORE_ERR_IO;
	struct modseq_key start = modseq_key(v->mailbox_id, v->modseq + 1);
	MDB_val k = mdb_val(&start, sizeof(start)), val;
	for (rc = mdb_cursor_get(cur, &k, &val, MDB_SET_RANGE); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &val, MDB_NEXT)) {
		if (k.mv_size != sizeof(start) || memcmp(k.mv_data, &start.mailbox_be, 4) != 0)
			break;
		struct modseq_val mv;
		memcpy(&mv, val.mv_data, sizeof(mv));
		if (count == cap) {
			cap = cap ? cap * 2 : 32;
			changes = xreallocarray(changes, cap, sizeof(*changes));
		}
		changes[count++] = (struct change){ mv.uid, mv.kind };
	}
	mdb_cursor_close(cur);
	if (count > 1)
		qsort(changes, count, sizeof(*changes), cmp_change);
	*changes_r = changes;
	*count_r = count;
	return STORE_OK;
}

static bool is_pending(const struct store_view *v, uint32_t uid)
{
	for (size_t i = 0; i < v->pending_count; i++)
		if (v->pending[i] == uid)
			return true;
	return false;
}

static void report_expunges(struct store_view *v, const struct store_sync_cb *cb, void *ctx)
{
	if (v->pending_count > 1)
		qsort(v->pending, v->pending_count, sizeof(*v->pending), cmp_u32);
	if (v->pending_count > 0)
		view_expand(v);
	/* Ascending UIDs; each reported with the sequence number it has at
	   that moment, then removed (RFC 3501 7.4.1). */
	for (size_t i = 0; i < v->pending_count; i++) {
		uint32_t seq = store_view_seq(v, v->pending[i]);
		if (seq == 0)
			continue;
		memmove(&v->uids[seq - 1], &v->uids[seq], (v->count - seq) * sizeof(*v->uids));
		v->count--;
		if (cb->expunged != NULL)
			cb->expunged(ctx, seq, v->pending[i]);
	}
	v->pending_count = 0;
}

struct flag_report {
	uint32_t uid;
	struct msg_info mi;
};

int store_view_sync(struct store_view *v, bool with_expunges, const struct store_sync_cb *cb,
		    void *ctx, char **error_r)
{
	struct store_user *u = v->u;
	check_import_new(u, v->mailbox, v->folder, &v->new_mtime);
	MDB_txn *txn;
	int ret = user_txn_begin(u, false, &txn, error_r);
	if (ret < 0)
		return ret;
	struct mailbox_rec rec;
	ret = user_get_mailbox(u, txn, v->mailbox, &rec);
	if (ret < 0 || rec.id != v->mailbox_id || rec.uidvalidity != v->uidvalidity ||
	    (rec.flags & MAILBOX_NOSELECT)) {
		user_txn_abort(u, txn);
		return store_fail(STORE_ERR_GONE, error_r, "mailbox was deleted or recreated");
	}
	struct change *changes = NULL;
	size_t n = 0;
	if (rec.highest_modseq != v->modseq && (ret = read_changes(v, txn, &changes, &n)) < 0) {
		user_txn_abort(u, txn);
		return store_fail(ret, error_r, "cannot read changes");
	}
	size_t added = 0;
	uint32_t max_uid = store_view_uid(v, (uint32_t)v->count);
	for (size_t i = 0; i < n; i++) {
		uint32_t uid = changes[i].uid;
		bool known = store_view_seq(v, uid) != 0;
		if (changes[i].kind == MODSEQ_EXPUNGED) {
			if (known && !is_pending(v, uid)) {
				v->pending = xreallocarray(v->pending, v->pending_count + 1,
							   sizeof(*v->pending));
				v->pending[v->pending_count++] = uid;
			}
			changes[i].uid = 0; /* nothing more to report for it */
		} else if (!known && uid > max_uid) {
			push_uid(v, uid);
			max_uid = uid;
			added++;
			changes[i].uid = 0; /* new: counted in EXISTS, not a flag change */
		}
	}
	v->modseq = rec.highest_modseq;
	/* Flags of messages we already had, read while the transaction is
	   open, reported after the expunges and EXISTS. */
	struct flag_report *reports = xcalloc(n ? n : 1, sizeof(*reports));
	size_t report_count = 0;
	for (size_t i = 0; i < n; i++) {
		uint32_t uid = changes[i].uid;
		if (uid == 0 || is_pending(v, uid) || store_view_seq(v, uid) == 0)
			continue;
		if (msg_get(u, txn, v->mailbox_id, uid, &reports[report_count].mi) == STORE_OK)
			reports[report_count++].uid = uid;
	}
	user_txn_abort(u, txn);
	free(changes);

	if (with_expunges)
		report_expunges(v, cb, ctx);
	/* EXISTS only for arrivals: each EXPUNGE already told the client the
	   count went down (RFC 3501 7.4.1). */
	if (added > 0) {
		if (claims_recent(v))
			view_claim_recent(v, NULL);
		if (cb->exists != NULL)
			cb->exists(ctx, (uint32_t)v->count, count_recent(v));
	}
	for (size_t i = 0; i < report_count && cb->flags != NULL; i++) {
		uint32_t seq = store_view_seq(v, reports[i].uid);
		if (seq != 0)
			cb->flags(ctx, seq, reports[i].uid, reports[i].mi.flags, reports[i].mi.keywords,
				  reports[i].mi.modseq);
	}
	free(reports);
	return STORE_OK;
}
