/*
 * Message sets of FETCH, STORE, COPY and UID commands, resolved against
 * the selected view into the UIDs they name.
 */
#ifndef PETREL_IMAPD_IMAP_MSGSET_H
#define PETREL_IMAPD_IMAP_MSGSET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/arena.h"
#include "common/buf.h"

struct store_view;

enum imap_msgset_result { IMAP_MSGSET_OK, IMAP_MSGSET_SYNTAX, IMAP_MSGSET_RANGE };

/* text: a sequence set (uid = false: sequence numbers, which must all
   exist: IMAP_MSGSET_RANGE otherwise) or a UID set (UIDs the view does
   not have are skipped, RFC 3501 6.4.8). *uids_r (malloc'd, ascending,
   distinct; NULL when empty) gets the UIDs. Runs on the loop: the view
   is only read. */
enum imap_msgset_result imap_msgset_uids(struct arena *a, struct store_view *v, struct span text,
					 bool uid, uint32_t **uids_r, size_t *count_r);

/* Appends "1:3,7,9:10" for ascending UIDs (COPYUID, APPENDUID). */
void imap_uidset_write(struct buf *out, const uint32_t *uids, size_t count);

#endif
