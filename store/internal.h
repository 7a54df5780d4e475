/*
 * Declarations shared by the store's files. Nothing here leaves store/.
 *
 * Records are stored as fixed-layout structs in host byte order (an index
 * never moves between machines; a copied Maildir is re-indexed), keys with
 * big-endian ids so ranges sort numerically. Every record layout is part of
 * the schema: changing one means bumping STORE_SCHEMA_VERSION, and an index
 * of another version is rebuilt from the Maildir on open.
 */
#ifndef PETREL_STORE_INTERNAL_H
#define PETREL_STORE_INTERNAL_H

#include <pthread.h>
#include <semaphore.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <lmdb.h>

#include "common/buf.h"
#include "store/mime.h"
#include "store/store.h"

#define STORE_SCHEMA_VERSION 2
#define USER_MAP_SIZE_INITIAL (64ULL << 20) /* grows on MDB_MAP_FULL */
#define MAX_SEARCH_TEXT (1u << 20)	    /* per message; the rest is not indexed */
#define MAX_WORD_LEN 64			    /* longer words are indexed in pieces */
#define MAX_INDEXED_HEADER (256 * 1024)	    /* header bytes looked at for cached fields */
#define MERGE_BATCH 1024			    /* pending lists that make a merge due */
/* Lists merged per write transaction. A merge touches up to every leaf of
   the mailbox's posting tree, so the pages written per message shrink with
   the batch (4 KB deliveries, 6,000 messages: 32 per merge wrote ~250 KB
   per message, 256 ~85 KB, 1024 ~37 KB). SEARCH reads the pending lists
   directly, so the batch also bounds what it scans. */
#define MERGE_CHUNK 1024
/* UIDs posted per write transaction of a merge: a chunk's postings are
   written in slices of words, and deliveries commit between slices, so
   the write lock is never held for the whole chunk (1024 100 KB messages
   post ~1.5 million UIDs). Each key is still written once per chunk. */
#define MERGE_SLICE_UIDS (128 * 1024)
#define DICT_CHUNK (32 * 1024)		    /* dictionary bytes per LMDB value */

struct store {
	char *data_dir;
	char *run_dir;
	char *notify_dir;
	char *program;
	char *hostname;	       /* for file names, made Maildir-safe */
	uint64_t default_quota_bytes, default_quota_messages;
	MDB_env *env;	       /* global: user directory */
	MDB_dbi users;
	pthread_mutex_t lock;  /* open users list */
	struct store_user *open_users;
	int notify_fd;	       /* our datagram socket, or -1 */
	char *notify_path;
	uint32_t file_seq;     /* Q<n> in file names; atomic */
	bool named_drafts;     /* O_TMPFILE refused here once: name drafts in tmp/; atomic */
	/* The background thread (background.c), started on first use; all
	   under bg_lock. */
	pthread_mutex_t bg_lock;
	pthread_cond_t bg_cond;
	pthread_t bg_thread;
	struct background_request *bg_queue;
	bool bg_started, bg_stop, bg_idle;
};

/* A pending store_deliver() in the group-commit queue. Each waiter is
   woken once, on its own semaphore: when its commit is done, or when it
   is to lead the next one (a shared condition variable woke every waiter
   at every commit, and most went back to sleep). */
struct deliver_waiter {
	struct deliver_waiter *next;
	struct store_append *item;
	sem_t wake;
	bool done;  /* set by the leader before it posts wake */
	char *error;
};

struct store_user {
	struct store *store;
	struct store_user *next; /* store->open_users */
	int refs;
	char *name;
	char *root;	   /* data/users/<name> */
	char *maildir;	   /* root/Maildir */
	char *index_dir;   /* root/index */
	MDB_env *env;
	/* Held shared by every transaction of this process and exclusively to
	   resize the map, which LMDB allows only with no transaction open. */
	pthread_rwlock_t env_lock;
	MDB_dbi meta, mailboxes, mailbox_ids, subscriptions, keywords, msgs, cache, headers,
		words, dict, pending, modseq, uids, graveyard;
	/* Group commit (store_deliver). commit_cond is broadcast after each
	   commit, for append_give_way() only. */
	pthread_mutex_t commit_lock;
	pthread_cond_t commit_cond;
	struct deliver_waiter *queue;
	bool committing;
	unsigned long commits; /* group commits done, for append_give_way() */
	/* Held by the thread merging word lists (append.c): one merge at a
	   time per process, others skip theirs instead of collecting the
	   same lists again. */
	pthread_mutex_t merge_lock;
	bool rebuilt;	   /* the index was rebuilt when opened (for store_check) */
	bool marked;	   /* our writer marker exists (see check_crashed_writers) */
};

/* --- records --- */

struct mailbox_rec {
	uint32_t id;
	uint32_t uidvalidity;
	uint32_t uidnext;
	uint32_t first_recent_uid;
	uint64_t highest_modseq;
	uint32_t special_use;
	uint32_t messages;
	uint32_t unseen;
	uint32_t flags; /* MAILBOX_NOSELECT */
	uint64_t size;
	int64_t created;
	uint32_t pending;	/* messages whose words wait in `pending` */
	uint32_t word_garbage;	/* expunged messages still posted in `words` */
};
#define MAILBOX_NOSELECT 1u

/* A message. name is the file name up to ":2," (base,S=,W=,U=). */
struct msg_rec {
	uint32_t flags;
	uint32_t name_len;
	uint64_t keywords;
	uint64_t modseq;
	int64_t internaldate;
	uint64_t size;
	char name[];
};

/* The modseq database: what happened to a UID at a MODSEQ. */
struct modseq_val {
	uint32_t uid;
	uint32_t kind; /* MODSEQ_CHANGED (appended or flags) or MODSEQ_EXPUNGED */
};
#define MODSEQ_CHANGED 0u
#define MODSEQ_EXPUNGED 1u

struct msg_key {
	uint32_t mailbox_be;
	uint32_t uid_be;
};

struct modseq_key {
	uint32_t mailbox_be;
	uint32_t hi_be, lo_be; /* 64-bit modseq, big-endian halves */
};

static inline struct msg_key msg_key(uint32_t mailbox, uint32_t uid)
{
	return (struct msg_key){ __builtin_bswap32(mailbox), __builtin_bswap32(uid) };
}

static inline struct modseq_key modseq_key(uint32_t mailbox, uint64_t modseq)
{
	return (struct modseq_key){ __builtin_bswap32(mailbox),
				    __builtin_bswap32((uint32_t)(modseq >> 32)),
				    __builtin_bswap32((uint32_t)modseq) };
}

static inline MDB_val mdb_val(const void *data, size_t len)
{
	return (MDB_val){ len, (void *)data };
}

/* Walks the (mailbox, UID) keys of one mailbox in a msgs-like database:
   `op` is MDB_SET_RANGE for the first (from UID 0), MDB_NEXT for the
   following ones, or MDB_GET_CURRENT after a delete. Returns true with the
   UID and value while the cursor is on a key of that mailbox. */
static inline bool msg_cursor_get(MDB_cursor *cur, uint32_t mailbox, MDB_cursor_op op,
				  uint32_t *uid_r, MDB_val *val_r)
{
	struct msg_key key = msg_key(mailbox, 0);
	MDB_val k = mdb_val(&key, sizeof(key));
	if (mdb_cursor_get(cur, &k, val_r, op) != 0 || k.mv_size != sizeof(key))
		return false;
	struct msg_key found;
	memcpy(&found, k.mv_data, sizeof(found));
	if (found.mailbox_be != key.mailbox_be)
		return false;
	*uid_r = __builtin_bswap32(found.uid_be);
	return true;
}

/* --- errors --- */

/* Sets *error_r (if error_r) to "what: LMDB's message" and returns STORE_ERR_IO. */
int store_mdb_error(int rc, const char *what, char **error_r);
int store_sys_error(const char *what, const char *path, char **error_r);
int store_fail(int code, char **error_r, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* --- paths and names (names.c) --- */

/* Canonical form: "INBOX" for any case of it, and "INBOX/x" for its children. */
char *mailbox_canonical(const char *name);
/* The folder directory under the Maildir: "" for INBOX, ".a.b%2Ec" for "a/b.c".
   Returns a malloc'd string, or NULL for a name that fails the check. */
char *mailbox_dir_name(const char *canonical);
/* The reverse, for rebuilding: NULL if the directory name is not ours. */
char *mailbox_name_from_dir(const char *dir_name);
/* Absolute path of a mailbox's folder (no trailing slash). */
char *mailbox_path(const struct store_user *u, const char *canonical);

/* --- environment (user.c) --- */

/*
 * Transactions. Every LMDB transaction of the store goes through these, so
 * the map can grow: a write that hits MDB_MAP_FULL returns STORE_RETRY; the
 * caller aborts, calls user_grow_map() and runs the whole transaction again.
 * So write code does its LMDB work first, then its file-system work (which
 * must not be repeated), then commits - and undoes the file-system work if
 * the commit fails.
 */
#define STORE_RETRY (-100)
int user_txn_begin(struct store_user *u, bool write, MDB_txn **txn_r, char **error_r);
int user_txn_commit(struct store_user *u, MDB_txn *txn, char **error_r);
void user_txn_abort(struct store_user *u, MDB_txn *txn);
int user_grow_map(struct store_user *u, char **error_r);
/* Runs fn in a write transaction and commits, growing the map and running
   it again as often as needed. For bodies that only touch LMDB. */
typedef int user_write_fn(struct store_user *u, MDB_txn *txn, void *ctx, char **error_r);
int user_write(struct store_user *u, user_write_fn *fn, void *ctx, char **error_r);
/* Every UID of a mailbox, ascending (malloc'd). */
int msg_uids(struct store_user *u, MDB_txn *txn, uint32_t mailbox, uint32_t **uids_r,
	     size_t *count_r);
/* Maps an LMDB result inside a write: MDB_MAP_FULL -> STORE_RETRY,
   MDB_NOTFOUND -> STORE_ERR_NOT_FOUND, other errors -> STORE_ERR_IO. */
int user_rc(int rc, const char *what, char **error_r);
int user_get_mailbox(struct store_user *u, MDB_txn *txn, const char *canonical,
		     struct mailbox_rec *rec_r);
int user_put_mailbox(struct store_user *u, MDB_txn *txn, const char *canonical,
		     const struct mailbox_rec *rec);
/* Creates the mailbox record, folder directories and petrel-mailbox file. */
int user_create_mailbox(struct store_user *u, MDB_txn *txn, const char *canonical,
			unsigned int special_use, uint32_t uidvalidity, struct mailbox_rec *rec_r,
			char **error_r);
/* A fresh UIDVALIDITY: now, but strictly above every one handed out before. */
int user_next_uidvalidity(struct store_user *u, MDB_txn *txn, uint32_t *uidvalidity_r);
int user_meta_get_u64(struct store_user *u, MDB_txn *txn, const char *key, uint64_t *value_r);
int user_meta_put_u64(struct store_user *u, MDB_txn *txn, const char *key, uint64_t value);
/* Keyword name -> id, creating ids as needed (create=true). */
int user_keyword_id(struct store_user *u, MDB_txn *txn, const char *name, bool create,
		    unsigned int *id_r);
int user_keywords_mask(struct store_user *u, MDB_txn *txn, const struct store_keywords *kw,
		       bool create, uint64_t *mask_r);
/* Rewrites Maildir/subscriptions from the index. */
int user_write_subscriptions(struct store_user *u, MDB_txn *txn);

/* --- per-folder metadata file (mailbox_file.c) --- */

struct mailbox_file {
	uint32_t uidvalidity;
	uint32_t uidnext_floor; /* UIDs below this were handed out */
	unsigned int special_use;
	char *keywords[26];	/* letter a+i -> keyword name (file-name flags) */
};
int mailbox_file_read(const char *folder_path, struct mailbox_file *mf);
/* Replaces dir/name with data atomically (write a temporary, rename;
   fsync both when durable). */
int write_file_atomic(const char *dir, const char *name, struct span data, bool durable);
/* Atomic replace (write, rename; fsync when durable). */
int mailbox_file_write(const char *folder_path, const struct mailbox_file *mf, bool durable);
void mailbox_file_free(struct mailbox_file *mf);

/* --- message files (msgfile.c) --- */

/* ":2," suffix letters for flags and the keywords that have letters. */
void msgfile_flag_suffix(uint32_t flags, uint64_t keywords, const struct mailbox_file *mf,
			 const char *const *keyword_names, char *out, size_t outlen);
/* Parses a Maildir file name: base (up to ":2,"), S= size, U= uid (0 if
   none), and flag letters. */
struct msgfile_name {
	size_t base_len;
	uint64_t size;
	bool has_size;
	uint32_t uid;
	uint32_t flags;
	uint32_t keyword_letters; /* bit i: letter 'a'+i */
};
int msgfile_parse_name(const char *name, struct msgfile_name *out);
/* Full path of a message file: folder/cur/<base>:2,<suffix>. */
char *msgfile_path(const char *folder_path, const char *base, size_t base_len, const char *suffix);
/* Finds a file in folder/cur (or new) whose name starts with base followed
   by ':' or end. Returns a malloc'd path or NULL. Slow path (readdir). */
char *msgfile_find(const char *folder_path, const char *base, size_t base_len);
int fsync_dir(const char *path);
/* The path a message file should have, from its base name and flags. */
char *msgfile_current_path(const char *folder, struct span base, uint32_t flags, uint64_t keywords,
			   const struct mailbox_file *mf, char *const *keyword_names);
/* Where the file really is: the expected path if it exists, else found by
   its base name (flags in its name may lag behind the index after a
   crash). NULL if it is gone. */
char *msgfile_locate(const char *folder, struct span base, uint32_t flags, uint64_t keywords,
		     const struct mailbox_file *mf, char *const *keyword_names);
/* msgfile_find for the base name of a path msgfile_current_path gave. */
char *msgfile_find_path(const char *folder, const char *path);
/* Unlinks a message file by the path msgfile_current_path gave; when no
   file has that name (flag letters lag behind the index, or another
   process renamed it meanwhile), the one found by its base name. Returns
   0, or -1 with errno (ENOENT: no such file at all). */
int msgfile_unlink(const char *folder, const char *path);
uint32_t msgfile_next_seq(struct store *store);

/* --- directory fsyncs beside other work (dirsync.c) --- */

struct dir_sync {
	char **paths;
	size_t count;
	pthread_t thread;
	bool started;
	const char *failed; /* the first path whose fsync failed */
	int error;
};
/* Starts fsyncing the directories (paths must outlive the sync). */
void dir_sync_start(struct dir_sync *ds, char **paths, size_t count);
/* Waits for them: STORE_OK once all are durable, else an error. */
int dir_sync_finish(struct dir_sync *ds, char **error_r);

/* --- files of expunged messages (graveyard.c) --- */

/* An expunge of at least this many files leaves them to the graveyard;
   fewer are unlinked in the transaction (a unlink costs about 25 us, the
   purge's own commit and directory fsync more than 32 of them). */
#define GRAVEYARD_MIN_FILES 32

/* Records, in an expunging transaction, that the message's file at path
   is to be removed once the transaction has committed. */
int graveyard_add(struct store_user *u, MDB_txn *txn, uint32_t mailbox, uint32_t uid,
		  const char *path);
/* Whether a message's file waits in the graveyard (for check). */
bool graveyard_holds(struct store_user *u, MDB_txn *txn, uint32_t mailbox, uint32_t uid);
/* Whether the graveyard has any entry. */
bool graveyard_pending(struct store_user *u);
/* Removes every file in the graveyard, durably, then their entries. */
int graveyard_purge(struct store_user *u, char **error_r);

/* --- the background thread (background.c) --- */

enum background_job {
	BACKGROUND_PURGE, /* graveyard_purge */
	BACKGROUND_MERGE, /* append_merge_due of one mailbox */
};

/* Has the job done on the store's background thread, soon (in line if
   the thread cannot start). mailbox: for a merge, else NULL. */
void background_queue(struct store_user *u, enum background_job job, const char *mailbox);
/* Waits until the background thread has nothing left to do (tests). */
void background_wait(struct store *s);
/* Stops the background thread once its queue is done (store_close). */
void background_stop(struct store *s);
/* Merges a mailbox's pending word lists into its word index if enough
   are pending, in chunks that give way to waiting deliveries. */
void append_merge_due(struct store_user *u, const char *mailbox);
/* One more reference to an open user (store_user_close drops it). */
struct store_user *store_user_ref(struct store_user *u);

/* --- drafts (draft.c) --- */

struct store_draft {
	struct store_user *u;
	/* A draft is an unnamed file in tmp/ (O_TMPFILE) that the commit
	   links into cur/; tmp_path is then NULL and fd stays open until the
	   draft is consumed. Where O_TMPFILE is not supported it is a named
	   file at tmp_path that the commit renames. */
	char *tmp_path;
	char *where;		   /* for error messages: tmp_path or the tmp/ directory */
	char *base;		   /* "<sec>.M<usec>P<pid>Q<n>.<host>" */
	int fd;
	struct buf out;		   /* write buffer */
	bool last_was_cr;
	uint64_t size;
	struct mime_parser *parser;
	struct mime_result *mime;
	struct buf text;	   /* search text while parsing (capped at MAX_SEARCH_TEXT) */
	size_t text_header_len;	   /* how much of text came from headers */
	struct buf fields;	   /* after finish: cached header lines (msgtext.c) */
	struct buf words;	   /* after finish: word lists (msgtext.c) */
	bool text_truncated;
	bool finished;
};

/* Puts a finished draft's file at path in cur/ (link or rename), with
   INTERNALDATE as its mtime. -1 with errno on failure. */
int draft_place(struct store_draft *d, const char *path, int64_t internaldate);
/* Undoes draft_place (the commit failed): the draft is as before. */
void draft_unplace(struct store_draft *d, const char *path);
/* Frees a draft whose file was placed and committed: it stays in cur/. */
void draft_consumed(struct store_draft **dp);
/* Collects search text into a draft (a struct store_draft as ctx). */
void draft_capture_text(void *ctx, enum mime_text_kind kind, const char *utf8, size_t len);
/* Removes a directory tree the store owns. */
void store_remove_tree(const char *path);

/* --- the index records of a message (msgindex.c) --- */

/* Writes a new message's cache record, cached header lines and pending
   word lists; rec->pending counts it. */
int msgindex_put(struct store_user *u, MDB_txn *txn, struct mailbox_rec *rec, uint32_t uid,
		 const struct mime_result *mime, struct span fields, struct span word_lists,
		 char **error_r);
/* Copies a message's index records to another mailbox. Its words come from
   its pending list if it has one, else from re-reading `src_path`. */
int msgindex_copy(struct store_user *u, MDB_txn *txn, const struct mailbox_rec *from,
		  uint32_t from_uid, struct mailbox_rec *to, uint32_t to_uid, const char *src_path,
		  char **error_r);
/* Deletes a message's index records. Postings already merged stay behind
   (UIDs are never reused, so they can only point at a message that is
   gone; searches skip them) and are counted as garbage. */
int msgindex_del(struct store_user *u, MDB_txn *txn, struct mailbox_rec *rec, uint32_t uid);
/* Reads and decompresses the cached header lines into out. */
int msgindex_get_blob(struct store_user *u, MDB_txn *txn, MDB_dbi dbi, uint32_t mailbox,
		      uint32_t uid, struct buf *out, size_t *header_len_r);
/* The same value through a cursor, borrowed: *out points into the map
   (valid while the transaction lives) or, for a compressed value, into
   scratch (valid until scratch is reused). */
int msgindex_blob_at(MDB_cursor *cur, uint32_t mailbox, uint32_t uid, struct span *out,
		     struct buf *scratch);

/* --- derived content (msgtext.c) --- */

/* True for header fields whose lines the index keeps. */
bool msgtext_field_cached(const char *name, size_t len);
/* Appends the lines (with continuations) of cached fields, in order. */
void msgtext_cached_lines(struct span header, struct buf *out);
/* Appends the word lists of a message's search text (folded already, or
   not: then folded on the way, with the same result), whose first
   header_len bytes are header fields: header words, then body words, each
   as u32 count + NUL-terminated words. */
void msgtext_word_lists(struct span text, size_t header_len, bool folded, struct buf *out);
/* Calls cb(kind 'h' or 'b', word) for every word of such lists. */
int msgtext_each_word(struct span lists, void (*cb)(char kind, struct span word, void *ctx),
		      void *ctx);
/* A stored message re-read: its parse, header block and folded text. */
struct msgtext {
	struct mime_result *mime;
	struct buf header;
	struct buf folded;
	size_t folded_header_len;
};
int msgtext_load(int fd, struct msgtext *mt);
void msgtext_free(struct msgtext *mt);

/* Waits, if deliveries are queued for the write lock (store_deliver), until
   one group of them has committed: a merge calls it between its write
   transactions so that a long merge does not keep deliveries waiting. */
void append_give_way(struct store_user *u);

/* --- the word index (wordindex.c) --- */

/* Merges up to `max` pending word lists of a mailbox into the inverted
   index and the dictionary: read and grouped under a read transaction,
   written in write transactions of MERGE_SLICE_UIDS postings, with queued
   deliveries committing between them; *left_r (may be NULL) gets how
   many stay pending. */
int wordindex_merge(struct store_user *u, const char *mailbox, uint32_t max, uint32_t *left_r,
		    char **error_r);
/* MERGE_SLICE_UIDS; unit tests lower it to make many slices. */
extern uint32_t wordindex_slice_uids;
/* Candidates for a folded query term, as bits over the view's sequence
   numbers: every message with a word containing `term` in the chosen
   parts (header and/or body), merged or pending. */
struct store_view;
int wordindex_lookup(struct store_user *u, MDB_txn *txn, struct store_view *v, struct span term,
		     bool header, bool body, uint64_t *bits);

/* The decoded header fields in a cache record, by mime_headers order. */
enum cache_field {
	CACHE_SUBJECT, CACHE_FROM, CACHE_SENDER, CACHE_REPLY_TO, CACHE_TO, CACHE_CC, CACHE_BCC,
	CACHE_MESSAGE_ID, CACHE_IN_REPLY_TO, CACHE_REFERENCES, CACHE_BASE_SUBJECT,
	CACHE_SORT_FROM, CACHE_SORT_TO, CACHE_SORT_CC, CACHE_FIELD_COUNT
};

/* A parsed cache record: spans borrow from the LMDB value. */
struct cache_view {
	struct span envelope, body, bodystructure;
	struct span parts; /* part_count packed struct store_part, unaligned */
	uint32_t part_count;
	struct span fields[CACHE_FIELD_COUNT];
	int64_t date;
	int32_t date_zone;
	bool date_valid;
};
/* scratch receives the decompressed record; the view's spans point into
   it (or into the map) until scratch is reused. */
int cache_get(struct store_user *u, MDB_txn *txn, uint32_t mailbox, uint32_t uid,
	      struct cache_view *view_r, struct buf *scratch);

/* --- words (words.c) --- */

/* Lower-cases UTF-8 text for matching (simple Unicode case folding via
   the C.UTF-8 locale), replacing invalid bytes by U+FFFD. Appends to out. */
void words_fold(struct span text, struct buf *out);
/* Calls cb for each distinct indexed word of text, in order of first
   occurrence: text is folded already (the output of words_fold()), or
   (fold) is folded on the way, with the same words as words_fold() would
   give.
   Words longer than MAX_WORD_LEN are indexed as overlapping pieces of
   MAX_WORD_LEN bytes every MAX_WORD_LEN/2, so any substring of up to
   MAX_WORD_LEN/2 + 1 bytes lies inside one piece. */
void words_each_unique(struct span text, bool fold, void (*cb)(struct span word, void *ctx),
		       void *ctx);
/* FNV-1a of a word, for the in-memory word sets. */
uint32_t words_hash(uint32_t seed, struct span w);
/* qsort comparison of struct span: bytes, then length (LMDB's key order). */
int words_span_cmp(const void *a, const void *b);
/* True when a folded word byte (ASCII letters/digits and every non-ASCII
   byte are word characters). */
static inline bool words_is_word_byte(uint8_t c)
{
	return (uint8_t)((c | 0x20) - 'a') < 26 || (uint8_t)(c - '0') < 10 || c >= 0x80;
}

/* --- notifications (notify.c) --- */

int notify_init(struct store *store, bool listen, char **error_r);
void notify_deinit(struct store *store);
void notify_send(struct store *store, const char *user, const char *mailbox);

/* --- messages in a transaction (message.c) --- */

/* A message record as read: the fixed fields copied out (LMDB values are
   only 2-byte aligned) and the file base name borrowed from the map, valid
   until the transaction's next write. */
struct msg_info {
	uint32_t flags;
	uint64_t keywords;
	uint64_t modseq;
	int64_t internaldate;
	uint64_t size;
	struct span name;
};
int msg_get(struct store_user *u, MDB_txn *txn, uint32_t mailbox, uint32_t uid,
	    struct msg_info *info_r);
/* The same through a cursor on the msgs database: for UIDs read in
   ascending order LMDB finds the next key on the cursor's current page
   without descending the tree again. */
int msg_get_at(MDB_cursor *msgs, uint32_t mailbox, uint32_t uid, struct msg_info *info_r);
int msg_put(struct store_user *u, MDB_txn *txn, uint32_t mailbox, uint32_t uid,
	    const struct msg_rec *rec);
/* Removes a message record (and the message from the UID lists). */
int msg_del(struct store_user *u, MDB_txn *txn, uint32_t mailbox, uint32_t uid);

/* --- UID lists (uidlist.c): every UID and the unseen ones, per mailbox --- */

enum uidlist_kind { UIDLIST_ALL = 0, UIDLIST_UNSEEN = 1 };
/* A message's record changed: old_flags NULL for a new message, new_flags
   NULL for a removed one. msg_put and msg_del call it. */
int uidlist_update(struct store_user *u, MDB_txn *txn, uint32_t mailbox, uint32_t uid,
		   const uint32_t *old_flags, const uint32_t *new_flags);
/* Hands the list over in ascending chunks (pointers into the map, valid
   during the call). */
typedef void uidlist_chunk_fn(void *ctx, const uint32_t *uids, size_t count);
int uidlist_read(struct store_user *u, MDB_txn *txn, uint32_t mailbox, enum uidlist_kind kind,
		 uidlist_chunk_fn *fn, void *ctx);
/* The list's first UID and length (0 and 0 when empty). */
int uidlist_first(struct store_user *u, MDB_txn *txn, uint32_t mailbox, enum uidlist_kind kind,
		  uint32_t *uid_r, size_t *count_r);
/* Rebuilds all lists from the message records. */
int uidlist_rebuild(struct store_user *u, MDB_txn *txn);
/* For check: rebuilds the lists if they differ from the message records
   (*rebuilt_r says so). */
int uidlist_check(struct store_user *u, bool *rebuilt_r, char **error_r);
/* At open: builds the lists if this index has none yet. */
int uidlist_ensure(struct store_user *u, char **error_r);

/* Moves a message's modseq entry to a new MODSEQ (old 0: none). */
int modseq_move(struct store_user *u, MDB_txn *txn, uint32_t mailbox, uint32_t uid,
		uint64_t old_modseq, uint64_t new_modseq, uint32_t kind);
struct msg_rec *msg_rec_new(const char *name, size_t name_len);
/* Keyword names by id, for file-name letters; the array has
   STORE_MAX_KEYWORDS entries (NULL where unused), owned by the caller. */
int user_keyword_names(struct store_user *u, MDB_txn *txn, char **names);
void keyword_names_free(char **names);

/* Directory limits for a user (store.c). */
int store_quota_limits(struct store *store, const char *user, uint64_t *bytes_r,
		       uint64_t *messages_r);

/* Rebuilds a user's whole index from the Maildir (check.c); the index is
   empty and open. new_user: create the default folders. */
int check_rebuild(struct store_user *u, bool new_user, char **error_r);
/* Writers leave index/writer-<pid> while they may be between moving files
   into place and committing. On open, markers of dead processes mean a
   crash in that window: their unacknowledged files are removed (check.c). */
void check_mark_writer(struct store_user *u);
void check_unmark_writer(struct store_user *u);
int check_crashed_writers(struct store_user *u, char **error_r);
/* Imports files other tools dropped into a folder's new/ (check.c). Skips
   the directory scan when new/ has not changed since *mtime. */
struct timespec;
void check_import_new(struct store_user *u, const char *mailbox, const char *folder,
		      struct timespec *mtime);

/* Moves every message of one mailbox into another (copy.c; RENAME INBOX). */
int store_move_all(struct store_user *u, const char *from, const char *to, char **error_r);

/* Adds/subtracts quota usage in the user's meta database. */
int quota_add(struct store_user *u, MDB_txn *txn, int64_t bytes, int64_t messages);
/* Checks whether bytes/messages more would exceed the user's limits. */
int quota_check(struct store_user *u, MDB_txn *txn, uint64_t bytes, uint64_t messages);

#endif
