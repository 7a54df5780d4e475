/*
 * What a selected session tells the client about changes (RFC 3501 7.3,
 * 7.4, 5.2), and the flag lists IMAP shows and takes.
 */
#ifndef PETREL_IMAPD_IMAP_SYNC_H
#define PETREL_IMAPD_IMAP_SYNC_H

#include <stdbool.h>
#include <stdint.h>

#include "common/arena.h"
#include "common/buf.h"
#include "imapd/imap_parser.h"
#include "store/store.h"

struct imap_job;

/* From work(): brings the session's view up to date and writes EXPUNGE
   (only when `expunges`: never during FETCH, STORE, SEARCH), EXISTS,
   RECENT and FETCH FLAGS lines into the job's output. Flag changes of the
   UIDs in `silent` (sorted, may be NULL) are not reported: STORE .SILENT.
   Returns a store error. When the mailbox was deleted or recreated under
   the session (STORE_ERR_GONE) it writes BYE and the job ends the session. */
int imap_sync(struct imap_job *j, bool expunges, const uint32_t *silent, size_t silent_count);

/* "(\Seen \Answered kw1)" with \Recent when the view says so. */
void imap_flags_write(struct buf *out, struct store_view *v, uint32_t seq, uint32_t flags,
		      uint64_t keywords);

/* A flag list argument (STORE, APPEND): either a parenthesised list or,
   for STORE, a single flag / space-separated flags. System flags become
   bits, anything else a keyword name (arena). \Recent and unknown
   backslash flags are refused (-1, *error_r static). */
int imap_flags_parse(struct arena *a, const struct imap_arg *args, size_t count, uint32_t *flags_r,
		     struct store_keywords *keywords_r, const char **error_r);

/* The FLAGS and PERMANENTFLAGS lines of SELECT, with the user's keywords. */
void imap_flags_defined(struct buf *list, struct store_view *v, uint64_t keyword_ids);

#endif
