/*
 * The IMAP command table: name, the states a command is valid in, and its
 * handler. A handler writes its own tagged reply.
 */
#ifndef PETREL_IMAPD_IMAP_COMMANDS_H
#define PETREL_IMAPD_IMAP_COMMANDS_H

#include <stdint.h>

#include "imapd/imap_session.h"

enum {
	IMAP_IN_NOT_AUTHENTICATED = 1 << IMAP_STATE_NOT_AUTHENTICATED,
	IMAP_IN_AUTHENTICATED = 1 << IMAP_STATE_AUTHENTICATED,
	IMAP_IN_SELECTED = 1 << IMAP_STATE_SELECTED,
	IMAP_IN_ANY = IMAP_IN_NOT_AUTHENTICATED | IMAP_IN_AUTHENTICATED | IMAP_IN_SELECTED,
	IMAP_IN_LOGGED_IN = IMAP_IN_AUTHENTICATED | IMAP_IN_SELECTED,
};

typedef void imap_command_fn(struct imap_session *s, const struct imap_command_line *cmd);

struct imap_command {
	const char *name;
	unsigned int states;
	imap_command_fn *run; /* NULL: part of RFC 3501, not in this build yet */
};

const struct imap_command *imap_command_find(struct span name);

imap_command_fn cmd_capability, cmd_noop, cmd_logout;
imap_command_fn cmd_starttls, cmd_login, cmd_authenticate;
imap_command_fn cmd_select, cmd_examine, cmd_create, cmd_delete, cmd_rename, cmd_subscribe,
	cmd_unsubscribe, cmd_list, cmd_lsub, cmd_status, cmd_append, cmd_idle;
imap_command_fn cmd_check, cmd_close, cmd_expunge, cmd_search, cmd_fetch, cmd_store, cmd_copy,
	cmd_uid;

struct imap_job;
struct reader_item;


/* Message-set argument -> UIDs (malloc'd); false after answering BAD. */
bool imap_msgset_arg(struct imap_session *s, const struct imap_command_line *cmd,
		     const struct imap_arg *arg, bool uid, uint32_t **uids_r, size_t *count_r);
/* The bodies of the commands UID also runs (args after the command name). */
void imap_store_run(struct imap_session *s, const struct imap_command_line *cmd,
		    const struct imap_arg *args, size_t count, bool uid);
void imap_copy_run(struct imap_session *s, const struct imap_command_line *cmd,
		   const struct imap_arg *args, size_t count, bool uid);
void imap_fetch_run(struct imap_session *s, const struct imap_command_line *cmd,
		    const struct imap_arg *args, size_t count, bool uid);
void imap_search_run(struct imap_session *s, const struct imap_command_line *cmd,
		     const struct imap_arg *args, size_t count, bool uid);
/* EXPUNGE (uids NULL: every \Deleted message) or UID EXPUNGE; takes uids. */
void imap_expunge_start(struct imap_session *s, struct span tag, uint32_t *uids, size_t count);

/* APPEND (cmd_append.c). begin: the command line up to the message's
   literal; true when it dealt with the command (the literal is accepted
   or refused). The literal's pieces go to _literal, the rest of the line
   to _end. */
bool imap_append_begin(struct imap_session *s, const struct imap_command_line *cmd,
		       const struct reader_item *item);
void imap_append_literal(struct imap_session *s, struct span data);
void imap_append_end(struct imap_session *s, struct span rest);
void imap_append_free(struct imap_append **a);

#endif
