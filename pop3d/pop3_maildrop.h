/*
 * A POP3 session's maildrop (RFC 1939 8): the user's INBOX as it was at
 * login, under the user's "pop3" session lock.
 *
 * The snapshot numbers messages 1..count for the whole session: mail that
 * arrives meanwhile waits for the next session, and a message IMAP
 * expunges meanwhile keeps its number (RETR then says it is gone). DELE
 * and RETR only set marks here; pop3_maildrop_update() applies them to the
 * store when the session ends (QUIT: the UPDATE state), so IMAP sessions
 * then see the expunges and \Seen.
 *
 * The lock is the store's flock on the user's pop3.lock: a second POP3
 * session of the user, in this process or another one, gets
 * STORE_ERR_IN_USE until the first one ends or its process dies. IMAP does
 * not take it.
 *
 * Threads: open, update and close touch the disk and belong on the thread
 * pool (close also on the loop: it only releases). The message table and
 * marks are plain memory; the session changes them on the loop between
 * jobs. While a job runs, the maildrop is the job's.
 */
#ifndef PETREL_POP3D_POP3_MAILDROP_H
#define PETREL_POP3D_POP3_MAILDROP_H

#include <stdbool.h>
#include <stdint.h>

#include <uv.h>

struct store;
struct store_user;
struct store_view;
struct store_lock;

/* The login came sooner after the last one than login_delay allows. */
#define POP3_MAILDROP_TOO_SOON (-200)

enum pop3_msg_mark {
	POP3_MSG_DELETED = 1 << 0,   /* DELE */
	POP3_MSG_RETRIEVED = 1 << 1, /* RETR completed */
};

struct pop3_msg {
	uint32_t uid;
	uint8_t marks;		/* enum pop3_msg_mark */
	bool seen;		/* \Seen at login */
	int64_t internaldate;
	uint64_t size;		/* as stored (CRLF): what LIST and STAT say */
};

struct pop3_maildrop {
	struct store_user *user;
	struct store_view *view;
	struct store_lock *lock;
	uint32_t uidvalidity;
	struct pop3_msg *msgs;	/* message n is msgs[n - 1] */
	uint32_t count;
	uint64_t total_size;
	uint32_t deleted_count;	/* marked DELETED, and their size */
	uint64_t deleted_size;
};

/* What a session does with the maildrop ([pop3] in petrel.conf). */
struct pop3_policy {
	bool mark_seen;		/* RETR sets \Seen */
	int expire_days;	/* SETTINGS_EXPIRE_UNSET, _NEVER, or days */
	uint64_t login_delay_ms;
};

/*
 * Takes the user's pop3 lock and the snapshot of INBOX. Returns STORE_OK;
 * STORE_ERR_IN_USE when another POP3 session holds the maildrop;
 * POP3_MAILDROP_TOO_SOON when the last login was less than login_delay
 * ago (*wait_r: seconds left); another store error with *error_r.
 * Nothing is held on failure.
 */
int pop3_maildrop_open(struct store *store, const char *user, const struct pop3_policy *policy,
		       struct pop3_maildrop **md_r, uint64_t *wait_r, char **error_r);

/*
 * Applies the session's marks to the store, in one transaction. quit (the
 * UPDATE state, RFC 1939 6): \Seen on what RETR fetched (mark_seen), and
 * the deletions - DELE'd messages, and what EXPIRE's policy removes.
 * Without quit (the connection dropped) only \Seen is set: nothing is
 * deleted.
 * *deleted_r: how many messages were asked to go.
 */
int pop3_maildrop_update(struct pop3_maildrop *md, const struct pop3_policy *policy, bool quit,
			 int64_t now, uint32_t *deleted_r, char **error_r);

/* Closes the view, releases the lock and the user. NULL is fine. */
void pop3_maildrop_close(struct pop3_maildrop **md);

/*
 * For a session that ends without QUIT: applies the \Seen marks (if any)
 * on the thread pool, then closes the maildrop, independently of the
 * session. The loop runs until it is done.
 */
void pop3_maildrop_close_later(uv_loop_t *loop, struct pop3_maildrop **md,
			       const struct pop3_policy *policy);

/* Message n (1-based) if it exists in the snapshot, else NULL. */
static inline struct pop3_msg *pop3_maildrop_msg(struct pop3_maildrop *md, uint64_t n)
{
	return n >= 1 && n <= md->count ? &md->msgs[n - 1] : NULL;
}

#endif
