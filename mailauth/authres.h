/*
 * Authentication-Results header fields (RFC 8601): writing ours, and
 * recognising incoming ones that claim our authserv-id (they are removed
 * before delivery, RFC 8601 5).
 */
#ifndef PETREL_MAILAUTH_AUTHRES_H
#define PETREL_MAILAUTH_AUTHRES_H

#include <stdbool.h>
#include <stddef.h>

#include "mailauth/dkim.h"
#include "mailauth/dmarc.h"
#include "mailauth/spf.h"

/* DKIM results are read only through dkim_verifier_count() and
 * dkim_verifier_signature(); the unit tests and the fuzz target rely on
 * this to supply their own verifier without linking dkim.c. */
struct authres_input {
	const char *authserv_id;
	/* Each may be NULL: that method was not evaluated and is left out. */
	const struct spf_outcome *spf;
	const char *client_ip;	/* the address SPF judged, for the comment; may be NULL */
	const struct dkim_verifier *dkim; /* after a final dkim_verifier_result() */
	const struct dmarc_outcome *dmarc;
};

/* The whole field, "Authentication-Results: id;\r\n\tspf=pass ...", folded
 * to lines under 78 characters where possible, ending WITHOUT the final
 * CRLF. "none" is written when no method was evaluated (RFC 8601 2.2).
 * Property values that are not valid tokens or dot-atoms are quoted.
 * Malloc'd; the caller frees. */
char *authres_format(const struct authres_input *in);

/* True when the value of an Authentication-Results field (everything after
 * the colon, folding included) starts with authserv-id `id` (compared
 * without case; comments and whitespace before it skipped). */
bool authres_claims_id(const char *value, size_t len, const char *id);

#endif
