/*
 * Petrel's store: the only code that touches mail files or the index.
 *
 * This header is the store's whole public interface; imapd, pop3d, lmtpd and
 * petrelctl use nothing else from store/. It speaks no protocol: errors are
 * the protocol-neutral codes below, which each front end maps to its own
 * responses. See store/README.md for the layout and the durability rules.
 *
 * Threads: every call may block on disk I/O; daemons make them from libuv's
 * thread pool. A struct store and its users may be used from several threads
 * at once; a view, a draft and a reader belong to one thread at a time.
 *
 * Ownership: everything a function returns through *_r is the caller's to
 * free with the matching free, close or destroy function, except where a comment
 * says "borrowed". Strings in `char **error_r` are malloc'd; the caller frees
 * them.
 *
 * Caveats (as LMDB's): open a struct store once per process and never use it
 * across fork(); keep readers (store_reader_*) short - never across a wait
 * for a client.
 */
#ifndef PETREL_STORE_STORE_H
#define PETREL_STORE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

enum store_error {
	STORE_OK = 0,
	STORE_ERR_NOT_FOUND = -1,  /* no such user, mailbox or message */
	STORE_ERR_EXISTS = -2,	   /* already exists */
	STORE_ERR_INVALID = -3,	   /* a name or argument the store cannot accept */
	STORE_ERR_IO = -4,	   /* disk or index failure; details in *error_r / the log */
	STORE_ERR_QUOTA = -5,	   /* the user's storage or message quota would be exceeded */
	STORE_ERR_GONE = -6,	   /* the mailbox was deleted or recreated under a view */
	STORE_ERR_LIMIT = -7,	   /* an internal limit (e.g. 64 keywords per user) */
	STORE_ERR_NOT_ALLOWED = -8, /* e.g. deleting INBOX, writing through a read-only view */
	STORE_ERR_HAS_CHILDREN = -9, /* deleting a mailbox that has children: it becomes \Noselect */
	STORE_ERR_IN_USE = -10,	   /* a session lock another session holds (store_lock_take) */
};

/* A short English name for an error code, for logs. */
const char *store_strerror(int error);

struct store;
struct store_user;

struct store_options {
	const char *data_dir;
	/* Directory for change-notification sockets; NULL: no notifications
	   are sent or received. */
	const char *run_dir;
	/* Receive notifications (daemons with sessions); senders need not. */
	bool listen;
	/* Identifies this process in notification socket names: "imapd". */
	const char *program;
	/* Quota for users without their own setting; 0 = unlimited. */
	uint64_t default_quota_bytes;
	uint64_t default_quota_messages;
};

int store_open(const struct store_options *options, struct store **store_r, char **error_r);

struct settings;
/* Options from petrel.conf: [server] data_dir and run_dir, [quota]. */
void store_options_from_settings(struct store_options *options, const struct settings *set,
				 const char *program, bool listen);
void store_close(struct store **store);

/* ------------------------------------------------------------------ users
 *
 * User names are email addresses, "local@domain", in lower case;
 * store_user_name_check() says what is accepted and why not. Adding a user
 * creates its Maildir and index with the default folders (INBOX, Sent,
 * Drafts, Trash, Junk, Archive; subscribed, with special-use attributes).
 */
int store_user_name_check(const char *user, const char **why_r);
int store_user_add(struct store *store, const char *user, char **error_r);
/* Removes the user from the directory. Mail data stays on disk. */
int store_user_del(struct store *store, const char *user, char **error_r);
int store_user_exists(struct store *store, const char *user);
int store_user_list(struct store *store, void (*cb)(const char *user, void *ctx), void *ctx,
		    char **error_r);

struct store_quota {
	uint64_t limit_bytes, limit_messages; /* 0 = unlimited */
	uint64_t used_bytes, used_messages;
};
/* limit 0 = unlimited; UINT64_MAX = use the default. */
int store_quota_set(struct store *store, const char *user, uint64_t limit_bytes,
		    uint64_t limit_messages, char **error_r);
int store_quota_get(struct store_user *u, struct store_quota *quota_r);

/* Opens a user's mail (reference counted within the process). Creates the
 * Maildir and index if missing, rebuilds a damaged index. */
int store_user_open(struct store *store, const char *user, struct store_user **u_r,
		    char **error_r);
void store_user_close(struct store_user **u);
const char *store_user_name(const struct store_user *u);

/* -------------------------------------------------------------- mailboxes
 *
 * Names are UTF-8 with "/" as the hierarchy separator. "INBOX" is case
 * insensitive and always exists. The store checks names
 * (store_mailbox_name_check) and escapes them for the disk.
 */
enum store_special_use {
	STORE_USE_SENT = 1 << 0,
	STORE_USE_DRAFTS = 1 << 1,
	STORE_USE_TRASH = 1 << 2,
	STORE_USE_JUNK = 1 << 3,
	STORE_USE_ARCHIVE = 1 << 4,
};

struct store_mailbox_info {
	const char *name;	   /* borrowed for the callback's duration */
	uint32_t uidvalidity, uidnext;
	uint64_t highest_modseq;
	uint32_t messages, unseen, recent;
	uint64_t size;
	unsigned int special_use;
	bool subscribed;
	bool exists;		   /* false: only subscribed, or a \Noselect parent */
	bool noselect;		   /* deleted while it had children */
	bool has_children;
};

int store_mailbox_name_check(const char *name, const char **why_r);
int store_mailbox_create(struct store_user *u, const char *name, unsigned int special_use,
			 char **error_r);
/* RFC 3501 6.3.4: a mailbox with children becomes \Noselect (its messages
   are removed); STORE_ERR_HAS_CHILDREN tells the caller that happened. */
int store_mailbox_delete(struct store_user *u, const char *name, char **error_r);
/* Renames with all children. Renaming INBOX moves its messages into a new
   mailbox and leaves INBOX empty (RFC 3501 6.3.5). */
int store_mailbox_rename(struct store_user *u, const char *from, const char *to, char **error_r);
int store_mailbox_subscribe(struct store_user *u, const char *name, bool subscribe,
			    char **error_r);
int store_mailbox_set_special_use(struct store_user *u, const char *name, unsigned int special_use,
				  char **error_r);
/* Every existing mailbox and every subscription, in name order. */
int store_mailbox_list(struct store_user *u,
		       void (*cb)(const struct store_mailbox_info *info, void *ctx), void *ctx,
		       char **error_r);
int store_mailbox_status(struct store_user *u, const char *name, struct store_mailbox_info *info_r,
			 char **error_r);

/* --------------------------------------------------------------- messages */

enum store_flag {
	STORE_FLAG_SEEN = 1 << 0,
	STORE_FLAG_ANSWERED = 1 << 1,
	STORE_FLAG_FLAGGED = 1 << 2,
	STORE_FLAG_DELETED = 1 << 3,
	STORE_FLAG_DRAFT = 1 << 4,
};
#define STORE_FLAGS_ALL 0x1fu
#define STORE_MAX_KEYWORDS 64

/* Keywords are kept as a bit set of per-user keyword ids. */
struct store_keywords {
	const char *const *names;
	size_t count;
};

/*
 * Writing a message: a draft collects the bytes (any line endings: stored
 * as CRLF) into a file under tmp/ and parses it on the way. Nothing is
 * visible until store_append()/store_deliver() commits it.
 */
struct store_draft;
int store_draft_begin(struct store_user *u, struct store_draft **d_r, char **error_r);
int store_draft_write(struct store_draft *d, const void *data, size_t len, char **error_r);
/* Flushes and fsyncs the file and completes the parse. */
int store_draft_finish(struct store_draft *d, char **error_r);
/* Size as stored (CRLF), so far. */
uint64_t store_draft_size(const struct store_draft *d);
void store_draft_abort(struct store_draft **d);

struct store_append {
	struct store_draft *draft;	/* consumed: the commit takes or removes it */
	const char *mailbox;
	uint32_t flags;			/* enum store_flag */
	struct store_keywords keywords;
	int64_t internaldate;		/* seconds; 0 = now */
	/* results */
	int result;			/* STORE_OK or an error for this message */
	uint32_t uidvalidity, uid;
};

/* Commits the messages in one transaction: one fsync per directory, one
   index sync. Each item gets its own result; the call returns STORE_OK
   unless the transaction itself failed (then every item failed). */
int store_append(struct store_user *u, struct store_append *items, size_t count, char **error_r);
/* Like store_append for one message, but concurrent callers (threads) share
   one commit: group commit for delivery. Returns the item's result. */
int store_deliver(struct store_user *u, struct store_append *item, char **error_r);

/* ------------------------------------------------------------------ views
 *
 * A view is a session's sequence-number map over one mailbox. It changes
 * only in store_view_sync(), which reports what happened since, in an order
 * a protocol can announce directly: expunges (each with the sequence number
 * it had at that moment, RFC 3501 7.4.1), then the new message count, then
 * flag changes of messages the view already had.
 */
enum store_view_flags {
	STORE_VIEW_READONLY = 1 << 0,	   /* EXAMINE; POP3 uses its own snapshot */
	STORE_VIEW_CLAIM_RECENT = 1 << 1,  /* this session takes \Recent (SELECT) */
};

struct store_view;

struct store_view_status {
	uint32_t uidvalidity, uidnext;
	uint64_t highest_modseq;
	uint32_t messages, recent, unseen;
	uint32_t first_unseen_seq; /* 0: none */
	uint64_t permanent_keywords; /* ids in use; see store_keyword_name */
};

int store_view_open(struct store_user *u, const char *mailbox, unsigned int flags,
		    struct store_view **v_r, struct store_view_status *status_r, char **error_r);
void store_view_close(struct store_view **v);
const char *store_view_mailbox(const struct store_view *v);
bool store_view_readonly(const struct store_view *v);

uint32_t store_view_count(const struct store_view *v);
/* seq 1..count -> UID */
uint32_t store_view_uid(const struct store_view *v, uint32_t seq);
/* UID -> seq, or 0 if the view does not have it. */
uint32_t store_view_seq(const struct store_view *v, uint32_t uid);
/* Shrinks the map while the session waits (IDLE, between commands): a
   mailbox's UIDs are mostly consecutive, so runs of them take a few bytes
   instead of four per message. The view works the same either way; it
   goes back to the array when the map changes or a search walks it. */
void store_view_compact(struct store_view *v);
bool store_view_recent(const struct store_view *v, uint32_t seq);

struct store_sync_cb {
	void (*expunged)(void *ctx, uint32_t seq, uint32_t uid);
	void (*exists)(void *ctx, uint32_t count, uint32_t recent);
	void (*flags)(void *ctx, uint32_t seq, uint32_t uid, uint32_t flags, uint64_t keywords,
		      uint64_t modseq);
};
/* Brings the view up to date. with_expunges=false defers expunges (IMAP
   must not announce them during FETCH, STORE or SEARCH) but still reports
   new messages and flag changes. STORE_ERR_GONE: the mailbox was deleted
   or recreated; the view is unusable. */
int store_view_sync(struct store_view *v, bool with_expunges, const struct store_sync_cb *cb,
		    void *ctx, char **error_r);

/* Keyword ids <-> names (per user). Borrowed until the view is closed. */
const char *store_keyword_name(struct store_view *v, unsigned int id);

/* Changes flags/keywords of the given UIDs (missing ones are skipped). The
   view's own sync reports the changes like anyone else's. */
enum store_flag_op { STORE_FLAGS_REPLACE, STORE_FLAGS_ADD, STORE_FLAGS_REMOVE };
int store_view_set_flags(struct store_view *v, const uint32_t *uids, size_t count,
			 enum store_flag_op op, uint32_t flags, const struct store_keywords *keywords,
			 char **error_r);
/* Expunges the given UIDs that have \Deleted, or every \Deleted message
   when uids is NULL. */
int store_view_expunge(struct store_view *v, const uint32_t *uids, size_t count, char **error_r);
/* Expunges the given UIDs whatever their flags (POP3's UPDATE state, where
   DELE decided); missing ones are skipped. uids must not be NULL. */
int store_view_expunge_uids(struct store_view *v, const uint32_t *uids, size_t count,
			    char **error_r);
/* Both in one transaction, as POP3's UPDATE state wants them (RFC 1939
   6): adds `flags` to flag_uids (\Seen on what was retrieved), then
   expunges expunge_uids whatever their flags - what store_view_set_flags
   (STORE_FLAGS_ADD) and store_view_expunge_uids do one after the other,
   with one commit and one MODSEQ. Missing UIDs are skipped; either count
   may be 0. */
int store_view_flag_and_expunge(struct store_view *v, const uint32_t *flag_uids,
				size_t flag_count, uint32_t flags, const uint32_t *expunge_uids,
				size_t expunge_count, char **error_r);
/* Copies (or moves) the given UIDs into another mailbox of the same user.
   *dest_uids_r (malloc'd, count entries, 0 for skipped ones) and the
   destination's UIDVALIDITY are returned for COPYUID. */
int store_view_copy(struct store_view *v, const uint32_t *uids, size_t count, const char *dest,
		    bool move, uint32_t *dest_uidvalidity_r, uint32_t **dest_uids_r,
		    char **error_r);

/* ------------------------------------------------------------- reading
 *
 * A reader is a short read transaction: what it returns is borrowed until
 * store_reader_end(). Fetch in batches (a few hundred messages) and end the
 * reader between them.
 */
struct store_reader;

/* The index data of one message; strings point into the index (borrowed). */
struct store_msg {
	uint32_t uid;
	uint32_t flags;
	uint64_t keywords;
	uint64_t modseq;
	int64_t internaldate;
	uint64_t size;
	struct span envelope, body, bodystructure;
	const struct store_part *parts;	/* see store_part below */
	uint32_t part_count;
};

/* The part table (store/mime.h's struct mime_part, as stored). */
struct store_part {
	uint32_t parent;
	uint32_t children;
	uint32_t kind; /* 0 leaf, 1 multipart, 2 message */
	uint32_t body_lines;
	uint64_t header_offset, header_size;
	uint64_t body_offset, body_size;
};

enum store_fetch_what {
	STORE_FETCH_FLAGS = 1 << 0,	/* flags, keywords, modseq, dates, size */
	STORE_FETCH_STRUCTURE = 1 << 1, /* envelope, body, bodystructure, parts */
};

int store_reader_begin(struct store_view *v, struct store_reader **r_r, char **error_r);
void store_reader_end(struct store_reader **r);
/* STORE_ERR_NOT_FOUND if the message was expunged meanwhile. */
int store_reader_get(struct store_reader *r, uint32_t uid, unsigned int what, struct store_msg *m);
/* Appends the message's top-level header lines: at least every line of
   the named fields (case-insensitive). When all of them are fields the
   index keeps (From, To, Cc, Subject, Date, Message-ID, References, ...),
   only those lines come, from the index; otherwise, or with fields NULL,
   the whole header block is read from the file. The caller picks the lines
   it wants (IMAP HEADER.FIELDS). The list is looked at once per reader:
   pass the same unchanged array for every message. STORE_ERR_NOT_FOUND:
   the message is gone (so a caller needs no store_reader_get to know). */
int store_reader_header(struct store_reader *r, uint32_t uid, const char *const *fields,
			size_t count, struct buf *out);
/* The same block borrowed (no copy): valid until the next call on the
   reader or its end. */
int store_reader_header_ref(struct store_reader *r, uint32_t uid, const char *const *fields,
			    size_t count, struct span *block_r);

/* Opens the message file read-only. Returns an fd or a negative store error.
   The reader's form is cheaper for many messages in a row. */
int store_reader_open(struct store_reader *r, uint32_t uid, char **error_r);

/* A byte range of a message file, for store_reader_read_many. */
struct store_read {
	uint32_t uid;
	uint64_t offset;
	size_t len;
	uint8_t *dest;	/* len bytes, the caller's */
	bool ok;	/* set: dest holds the bytes */
};
/* Reads many messages' ranges at once: the opens, reads and closes are
   shared with helper threads (common/parallel.h), which is where a FETCH
   of many small sections spends most of its time. A range this cannot
   read (the file was renamed by a flag change meanwhile, has gone, or is
   shorter than the index says) is left with ok false: read it the usual
   way, store_reader_open, which finds the file or says it is gone. */
void store_reader_read_many(struct store_reader *r, struct store_read *reads, size_t count);
int store_view_open_message(struct store_view *v, uint32_t uid, char **error_r);

/* ----------------------------------------------------------------- search
 *
 * A criteria tree in the store's terms; imapd translates IMAP SEARCH into
 * it. Text matches are case-insensitive substring matches on decoded text
 * (RFC 3501 6.4.4), answered from the index.
 */
enum store_search_kind {
	STORE_SEARCH_ALL,
	STORE_SEARCH_AND,	  /* children all match */
	STORE_SEARCH_OR,	  /* any child matches */
	STORE_SEARCH_NOT,	  /* the single child does not match */
	STORE_SEARCH_UIDS,	  /* uid in [uid_ranges] */
	STORE_SEARCH_FLAGS_SET,	  /* all of flags and keywords set */
	STORE_SEARCH_FLAGS_UNSET, /* none of them set */
	STORE_SEARCH_RECENT,
	STORE_SEARCH_INTERNALDATE_BEFORE, /* date < day (seconds at 00:00 UTC of that day) */
	STORE_SEARCH_INTERNALDATE_ON,
	STORE_SEARCH_INTERNALDATE_SINCE,
	STORE_SEARCH_SENTDATE_BEFORE,
	STORE_SEARCH_SENTDATE_ON,
	STORE_SEARCH_SENTDATE_SINCE,
	STORE_SEARCH_LARGER,
	STORE_SEARCH_SMALLER,
	STORE_SEARCH_HEADER,	  /* header field `field` contains text ("" matches presence) */
	STORE_SEARCH_BODY,
	STORE_SEARCH_TEXT,	  /* header or body */
	STORE_SEARCH_MODSEQ,	  /* modseq >= number */
};

struct store_uid_range {
	uint32_t first, last;
};

struct store_search {
	enum store_search_kind kind;
	struct store_search *children; /* AND, OR, NOT */
	size_t child_count;
	const char *field;		/* HEADER: field name */
	const char *text;		/* HEADER, BODY, TEXT: UTF-8 */
	uint32_t flags;			/* FLAGS_*: enum store_flag */
	struct store_keywords keywords; /* FLAGS_*: keywords (unknown ones never match) */
	int64_t date;			/* *_DATE_*: a day, as seconds at 00:00 UTC */
	uint64_t number;		/* LARGER, SMALLER, MODSEQ */
	const struct store_uid_range *ranges; /* UIDS */
	size_t range_count;
};

/* Evaluates the criteria over the view's messages. *uids_r (malloc'd,
   ascending) receives the matching UIDs. */
int store_view_search(struct store_view *v, const struct store_search *criteria,
		      uint32_t **uids_r, size_t *count_r, char **error_r);

/* ---------------------------------------------------------- session locks
 *
 * An exclusive lock a session holds on one of its user's resources for as
 * long as it runs, across every process on the host: POP3 holds "pop3" on
 * the maildrop (RFC 1939 8). It is an flock() on a file under the user's
 * directory, so it goes away with the session's process, also on a crash.
 * Locks are advisory: they order sessions that ask for them, nothing else.
 *
 * The lock file's modification time records when the lock was last stamped,
 * which lets a front end space sessions apart (POP3 LOGIN-DELAY).
 */
struct store_lock;

/* Takes the lock `name` ([a-z0-9-], at most 32 characters) without
 * waiting. STORE_ERR_IN_USE: another session holds it. *stamped_r (may be
 * NULL) receives when it was last stamped (seconds since the epoch; 0 if
 * never). Disk I/O: call from the thread pool. */
int store_lock_take(struct store_user *u, const char *name, struct store_lock **lock_r,
		    int64_t *stamped_r, char **error_r);
/* Records the current time as the lock's stamp. */
int store_lock_stamp(struct store_lock *lock, char **error_r);
/* Releases the lock (closing its file). NULL is fine. */
void store_lock_release(struct store_lock **lock);

/* ---------------------------------------------------------- notifications
 *
 * After every commit the writer tells every listening process. A daemon
 * polls store_notify_fd() (readable when something changed) and drains it
 * with store_notify_read(), which calls cb once per change.
 */
int store_notify_fd(struct store *store);
void store_notify_read(struct store *store,
		       void (*cb)(const char *user, const char *mailbox, void *ctx), void *ctx);

/* --------------------------------------------------------------- recovery */

struct store_check_report {
	unsigned int files_indexed;	/* files without record: indexed */
	unsigned int records_expunged;	/* records without file: expunged */
	unsigned int uids_reassigned;	/* files whose U= was taken or stale */
	unsigned int files_renamed;	/* name did not match the index */
	unsigned int mailboxes_found;	/* folders on disk without record */
	bool index_rebuilt;
	bool uid_lists_rebuilt;		/* they did not match the records */
};

/* Reconciles a user's Maildir and index both ways; log_cb (may be NULL)
   hears one line per fix. */
int store_check(struct store *store, const char *user, struct store_check_report *report_r,
		void (*log_cb)(const char *line, void *ctx), void *ctx, char **error_r);

#endif
