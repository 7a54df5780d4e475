/*
 * Mailbox names between the wire (modified UTF-7, RFC 3501 5.1.3) and the
 * store (UTF-8, "/" between levels, "INBOX" in any case is INBOX).
 */
#ifndef PETREL_IMAPD_IMAP_MAILBOX_NAME_H
#define PETREL_IMAPD_IMAP_MAILBOX_NAME_H

#include "common/arena.h"
#include "common/buf.h"
#include "imapd/imap_parser.h"

/* The mailbox argument as a UTF-8 string in the arena, or NULL with a
   static text for "tag BAD ..." (not an astring, NUL, invalid UTF-7). */
const char *imap_mailbox_arg(struct arena *a, const struct imap_arg *arg, const char **error_r);

/* Appends the name as an IMAP quoted string in modified UTF-7. */
void imap_mailbox_write(struct buf *out, const char *utf8);

/* Appends s as an IMAP quoted string (s: 7-bit, no CR/LF) or a literal. */
void imap_string_write(struct buf *out, struct span s);

#endif
