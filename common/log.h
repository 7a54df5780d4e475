/*
 * Logging: one line per event, key=value.
 *
 *   2026-11-23T20:45:01.123Z imap info event=login session=q3x8f2ka ip=192.0.2.7 user=a@b.c mech=PLAIN
 *
 * The event name comes first so lines grep well; the context (session id,
 * client address, user) follows when the event belongs to a connection.
 * Values a client chose (user names, command words) must go through
 * log_quote() so a client cannot forge fields or lines.
 */
#ifndef PETREL_COMMON_LOG_H
#define PETREL_COMMON_LOG_H

#include <stdbool.h>
#include <stddef.h>

#include "common/buf.h"

enum log_level {
	LOG_LEVEL_DEBUG,
	LOG_LEVEL_INFO,
	LOG_LEVEL_WARNING,
	LOG_LEVEL_ERROR,
};

enum log_target {
	LOG_TARGET_STDERR,
	LOG_TARGET_SYSLOG,
};

/* Who an event is about. Every field may be empty/NULL. Owned by the caller. */
struct log_ctx {
	char session[12];  /* short random id, shared by all lines of a connection */
	char ip[64];       /* the real client address (after PROXY protocol) */
	const char *user;  /* authenticated user, once known */
};

/* ident: short service name ("imap", "petrelctl"). Safe to call again to
   switch target (e.g. after daemonising). */
void log_init(const char *ident, enum log_target target, enum log_level min_level,
	      int syslog_facility);
void log_deinit(void);
bool log_enabled(enum log_level level);

/* Writes one line: event, context, then the caller's key=value pairs. */
void log_event(enum log_level level, const struct log_ctx *ctx, const char *event,
	       const char *fmt, ...) __attribute__((format(printf, 4, 5)));

#define log_error(ctx, event, ...) log_event(LOG_LEVEL_ERROR, ctx, event, __VA_ARGS__)
#define log_warning(ctx, event, ...) log_event(LOG_LEVEL_WARNING, ctx, event, __VA_ARGS__)
#define log_info(ctx, event, ...) log_event(LOG_LEVEL_INFO, ctx, event, __VA_ARGS__)
#define log_debug(ctx, event, ...) \
	do { \
		if (log_enabled(LOG_LEVEL_DEBUG)) \
			log_event(LOG_LEVEL_DEBUG, ctx, event, __VA_ARGS__); \
	} while (0)

/* Makes a value safe for a key=value field: printable ASCII without spaces or
   quotes is copied as is; anything else is double-quoted with \" \\ and \xNN
   escapes. At most `max` input bytes are shown, then "...". The result lives
   in `out` (NUL-terminated, truncated to outlen). Returns out. */
const char *log_quote(char *out, size_t outlen, struct span value, size_t max);

/* Parses "debug", "info", "warning", "error"; returns -1 if unknown. */
int log_level_parse(const char *s);
/* Parses a syslog facility name ("mail", "local0".."local7", "daemon"). */
int log_facility_parse(const char *s);

#endif
