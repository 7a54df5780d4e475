#include "pop3d/pop3_maildrop.h"

#include <stdlib.h>
#include <time.h>

#include "common/log.h"
#include "common/xalloc.h"
#include "store/store.h"

#define LOAD_BATCH 500 /* messages per read transaction (store.h: keep readers short) */
#define LOCK_NAME "pop3"

/* Sizes, dates and \Seen of every message of the view, in batches. A
   message expunged since the view was loaded is left out. */
static int load_messages(struct pop3_maildrop *md, char **error_r)
{
	uint32_t n = store_view_count(md->view);
	md->msgs = xcalloc(n > 0 ? n : 1, sizeof(*md->msgs));
	uint32_t seq = 1;
	while (seq <= n) {
		struct store_reader *r;
		int ret = store_reader_begin(md->view, &r, error_r);
		if (ret < 0)
			return ret;
		for (uint32_t end = seq + LOAD_BATCH; seq <= n && seq < end; seq++) {
			uint32_t uid = store_view_uid(md->view, seq);
			struct store_msg m;
			ret = store_reader_get(r, uid, STORE_FETCH_FLAGS, &m);
			if (ret == STORE_ERR_NOT_FOUND)
				continue;
			if (ret < 0) {
				store_reader_end(&r);
				return ret;
			}
			md->msgs[md->count++] = (struct pop3_msg){
				.uid = uid,
				.seen = (m.flags & STORE_FLAG_SEEN) != 0,
				.internaldate = m.internaldate,
				.size = m.size,
			};
			md->total_size += m.size;
		}
		store_reader_end(&r);
	}
	return STORE_OK;
}

/* RFC 2449 6.5: refuses a login sooner than login_delay after the last one
   (of this user, by any process: the time is the lock file's stamp). */
static int check_login_delay(const struct pop3_policy *policy, int64_t stamped, uint64_t *wait_r)
{
	if (policy->login_delay_ms == 0 || stamped <= 0)
		return STORE_OK;
	uint64_t delay = (policy->login_delay_ms + 999) / 1000;
	int64_t now = (int64_t)time(NULL);
	/* A clock set back makes now < stamped: let the login through. */
	if (now < stamped || (uint64_t)(now - stamped) >= delay)
		return STORE_OK;
	*wait_r = delay - (uint64_t)(now - stamped);
	return POP3_MAILDROP_TOO_SOON;
}

int pop3_maildrop_open(struct store *store, const char *user, const struct pop3_policy *policy,
		       struct pop3_maildrop **md_r, uint64_t *wait_r, char **error_r)
{
	*wait_r = 0;
	struct pop3_maildrop *md = xcalloc(1, sizeof(*md));
	int64_t stamped = 0;
	int ret = store_user_open(store, user, &md->user, error_r);
	if (ret == STORE_OK)
		ret = store_lock_take(md->user, LOCK_NAME, &md->lock, &stamped, error_r);
	if (ret == STORE_OK)
		ret = check_login_delay(policy, stamped, wait_r);
	if (ret == STORE_OK)
		ret = store_lock_stamp(md->lock, error_r);
	struct store_view_status status;
	if (ret == STORE_OK)
		ret = store_view_open(md->user, "INBOX", 0, &md->view, &status, error_r);
	if (ret == STORE_OK) {
		md->uidvalidity = status.uidvalidity;
		ret = load_messages(md, error_r);
	}
	if (ret < 0) {
		pop3_maildrop_close(&md);
		return ret;
	}
	*md_r = md;
	return STORE_OK;
}

/* EXPIRE N (N > 0): a message read by now (\Seen at login, or retrieved
   here with mark_seen) that arrived more than N days ago. */
static bool expired(const struct pop3_msg *m, const struct pop3_policy *policy, int64_t now)
{
	if (policy->expire_days <= 0)
		return false;
	bool read = m->seen || ((m->marks & POP3_MSG_RETRIEVED) && policy->mark_seen);
	return read && m->internaldate < now - (int64_t)policy->expire_days * 86400;
}

int pop3_maildrop_update(struct pop3_maildrop *md, const struct pop3_policy *policy, bool quit,
			 int64_t now, uint32_t *deleted_r, char **error_r)
{
	uint32_t *seen = xcalloc(md->count > 0 ? md->count : 1, sizeof(*seen));
	uint32_t *gone = xcalloc(md->count > 0 ? md->count : 1, sizeof(*gone));
	size_t seen_count = 0, gone_count = 0;
	for (uint32_t i = 0; i < md->count; i++) {
		const struct pop3_msg *m = &md->msgs[i];
		bool retrieved = (m->marks & POP3_MSG_RETRIEVED) != 0;
		/* RFC 2449 6.7: with EXPIRE 0 nothing stays once retrieved. */
		bool remove = quit && ((m->marks & POP3_MSG_DELETED) ||
				       (retrieved && policy->expire_days == 0) ||
				       expired(m, policy, now));
		if (remove)
			gone[gone_count++] = m->uid;
		else if (retrieved && policy->mark_seen && !m->seen)
			seen[seen_count++] = m->uid;
	}
	/* Only our UIDs: a message IMAP marked \Deleted stays. No \Deleted
	   pass first: DELE decided, and setting the flag would rename every
	   file only to unlink it. One transaction for \Seen and expunges:
	   one index commit. */
	int ret = STORE_OK;
	if (seen_count > 0 || gone_count > 0)
		ret = store_view_flag_and_expunge(md->view, seen, seen_count, STORE_FLAG_SEEN, gone,
						  gone_count, error_r);
	free(seen);
	free(gone);
	*deleted_r = (uint32_t)gone_count;
	return ret;
}

void pop3_maildrop_close(struct pop3_maildrop **mdp)
{
	struct pop3_maildrop *md = *mdp;
	if (md == NULL)
		return;
	*mdp = NULL;
	store_view_close(&md->view);
	store_lock_release(&md->lock);
	store_user_close(&md->user);
	free(md->msgs);
	free(md);
}

/* ------------------------------------------------ after the session */

struct close_later {
	uv_work_t req;
	struct pop3_maildrop *md;
	struct pop3_policy policy;
};

static void close_later_work(uv_work_t *req)
{
	struct close_later *cl = req->data;
	uint32_t deleted;
	char *error = NULL;
	int ret = pop3_maildrop_update(cl->md, &cl->policy, false, (int64_t)time(NULL), &deleted,
				       &error);
	if (ret < 0)
		log_error(NULL, "store_error", "op=pop3_seen user=%s error=\"%s\"",
			  store_user_name(cl->md->user), error != NULL ? error : store_strerror(ret));
	free(error);
	pop3_maildrop_close(&cl->md);
}

static void close_later_done(uv_work_t *req, int status)
{
	free(req->data);
}

void pop3_maildrop_close_later(uv_loop_t *loop, struct pop3_maildrop **mdp,
			       const struct pop3_policy *policy)
{
	struct pop3_maildrop *md = *mdp;
	if (md == NULL)
		return;
	*mdp = NULL;
	bool pending = false;
	for (uint32_t i = 0; policy->mark_seen && i < md->count && !pending; i++)
		pending = (md->msgs[i].marks & POP3_MSG_RETRIEVED) && !md->msgs[i].seen;
	if (!pending) {
		pop3_maildrop_close(&md); /* only releases: fine on the loop */
		return;
	}
	struct close_later *cl = xcalloc(1, sizeof(*cl));
	cl->req.data = cl;
	cl->md = md;
	cl->policy = *policy;
	if (uv_queue_work(loop, &cl->req, close_later_work, close_later_done) != 0)
		abort(); /* only fails for a NULL work callback */
}
