/* The view struct, shared by the store files that operate through views. */
#ifndef PETREL_STORE_VIEW_H
#define PETREL_STORE_VIEW_H

#include <time.h>

#include "store/internal.h"

struct store_view {
	struct store_user *u;
	char *mailbox;		/* canonical name */
	char *folder;		/* its directory */
	unsigned int flags;	/* enum store_view_flags */
	uint32_t mailbox_id;
	uint32_t uidvalidity;
	uint64_t modseq;	/* changes up to here are reflected */
	uint32_t *uids;		/* sorted: seq n is uids[n-1]; NULL when compact */
	size_t count, cap;
	/* The compact form of the same map while the session waits (see
	   store_view_compact): runs of consecutive UIDs, ascending. */
	struct uid_run {
		uint32_t uid, seq, len; /* uid..uid+len-1 are seq..seq+len-1 */
	} *runs;
	size_t run_count;
	uint32_t *pending;	/* expunged, not yet reported */
	size_t pending_count;
	/* \Recent here: UIDs in these [first, end) ranges, which this view
	   claimed (usually one; another session may claim in between). */
	struct recent_range {
		uint32_t first, end;
	} *recent;
	size_t recent_count;
	struct timespec new_mtime;	   /* new/ as of the last import */
	char *keyword_names[STORE_MAX_KEYWORDS];
	/* The folder's keyword letters, read when a message with keywords is
	   first opened and again when a file name built from them is not
	   found (letters are only ever added, never reassigned). */
	struct mailbox_file *file_letters;
};

/* The whole header block of a message, read from its file (reader.c). */
int view_read_header_file(struct store_view *v, MDB_txn *txn, uint32_t uid, struct buf *out);
/* Opens a message file (reader.c): an fd or a negative store error. */
int view_open_file(struct store_view *v, MDB_txn *txn, uint32_t uid);

/* Back to the UID array, before the map changes or is walked (view.c). */
void view_expand(struct store_view *v);

/* Takes \Recent for every message not yet claimed by anyone (view.c). */
int view_claim_recent(struct store_view *v, char **error_r);

#endif
