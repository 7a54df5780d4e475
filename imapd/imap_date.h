/* IMAP dates (RFC 3501 9): date-text "1-Feb-1994" (SEARCH) and
   date-time "17-Jul-1996 02:44:25 -0700" (APPEND, INTERNALDATE). */
#ifndef PETREL_IMAPD_IMAP_DATE_H
#define PETREL_IMAPD_IMAP_DATE_H

#include <stdbool.h>
#include <stdint.h>

#include "common/buf.h"

/* date-text: "1-Feb-1994" or "01-Feb-1994", month case-insensitive, any
   year 0000-9999. *day_seconds_r: 00:00 UTC of that day. */
bool imap_date_parse(struct span text, int64_t *day_seconds_r);
/* APPEND's date-time (the day may be space-padded), from 1970 on.
   Returns false if it is not one, or not a real date. */
bool imap_datetime_parse(struct span text, int64_t *seconds_r);
/* Appends the quoted date-time of `seconds`, in UTC (the store keeps the
   instant, not the zone it was given in). */
void imap_datetime_write(struct buf *out, int64_t seconds);

#endif
