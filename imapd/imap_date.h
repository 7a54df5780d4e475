/* IMAP date-time (RFC 3501 9): "17-Jul-1996 02:44:25 -0700". */
#ifndef PETREL_IMAPD_IMAP_DATE_H
#define PETREL_IMAPD_IMAP_DATE_H

#include <stdbool.h>
#include <stdint.h>

#include "common/buf.h"

/* APPEND's date-time (the day may be space-padded). Returns false if it
   is not one, or not a real date. */
bool imap_datetime_parse(struct span text, int64_t *seconds_r);
/* Appends the quoted date-time of `seconds`, in UTC (the store keeps the
   instant, not the zone it was given in). */
void imap_datetime_write(struct buf *out, int64_t seconds);

#endif
