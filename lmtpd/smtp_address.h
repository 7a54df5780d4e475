/*
 * RFC 5321 envelope syntax: the path of MAIL FROM / RCPT TO and the ESMTP
 * parameters after it. Strict where being lenient would change meaning
 * (quoting, the domain), lenient where MTAs differ harmlessly (a space
 * after the colon, source routes, which are parsed and dropped).
 */
#ifndef PETREL_LMTPD_SMTP_ADDRESS_H
#define PETREL_LMTPD_SMTP_ADDRESS_H

#include <stdbool.h>

#include "common/buf.h"

/* RFC 5321 4.5.3.1: local part 64, domain 255, path 256 octets. We allow
   the path limit for the whole address and check the domain. */
#define SMTP_MAX_LOCAL 64
#define SMTP_MAX_DOMAIN 255
#define SMTP_MAX_PATH 256

struct smtp_path {
	/* "local@domain" with the local part as written (quotes kept when
	   they were needed), or "" for the null path "<>". Malloc'd. */
	char *address;
	/* The local part unquoted, and the domain, lowercase for the domain
	   only. Malloc'd; NULL for the null path. */
	char *local;
	char *domain;
};

/*
 * Parses "<path>" (after "FROM:" or "TO:") at the start of *args and
 * advances *args to the parameters (leading spaces skipped). allow_null
 * accepts "<>". utf8 accepts UTF-8 in local part and domain (SMTPUTF8,
 * RFC 6531); it must be valid UTF-8 either way.
 * Returns 0, or -1 with *error_r set to a static English reason.
 */
int smtp_path_parse(struct span *args, bool allow_null, bool utf8, struct smtp_path *path_r,
		    const char **error_r);
void smtp_path_free(struct smtp_path *path);

/* Splits the next "KEYWORD[=value]" off *args (separated by spaces).
   Returns 1 with key/value set (value empty without "="), 0 at the end,
   -1 on a syntax error (empty keyword, bad characters). */
int smtp_param_next(struct span *args, struct span *key_r, struct span *value_r);

/* Decodes an RFC 3461 xtext value ("+2B" -> '+') into a malloc'd string;
   NULL when malformed. */
char *smtp_xtext_decode(struct span value);

#endif
