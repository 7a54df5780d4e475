/*
 * Pushing changes to IDLE sessions.
 *
 * Every commit anywhere on the host (lmtpd, pop3d, petrelctl, another
 * imapd process or this one) ends in a datagram to this process's store
 * notification socket. The loop watches that socket; each datagram names a
 * user and a mailbox, and the sessions of that user with that mailbox
 * selected and in IDLE get a sync job at once. Sessions are found through
 * a table keyed by user name, so a change costs work only for the
 * sessions it concerns, whatever the number of connections.
 */
#ifndef PETREL_IMAPD_IMAP_NOTIFY_H
#define PETREL_IMAPD_IMAP_NOTIFY_H

#include <uv.h>

struct store;
struct imap_notify;
struct imap_session;

/* Starts watching the store's notification socket. NULL: the store
   receives no notifications (no run_dir); IDLE then reports changes only
   when the client next talks. */
struct imap_notify *imap_notify_new(uv_loop_t *loop, struct store *store);
void imap_notify_free(struct imap_notify **n);

/* A session logged in as s->user_name / is going away. */
void imap_notify_add(struct imap_notify *n, struct imap_session *s);
void imap_notify_remove(struct imap_notify *n, struct imap_session *s);

#endif
