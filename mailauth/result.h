/*
 * The verdict vocabulary shared by SPF, DKIM and DMARC, with the words
 * Authentication-Results (RFC 8601) uses for each.
 */
#ifndef PETREL_MAILAUTH_RESULT_H
#define PETREL_MAILAUTH_RESULT_H

enum mailauth_result {
	MAILAUTH_NONE,
	MAILAUTH_PASS,
	MAILAUTH_FAIL,
	MAILAUTH_SOFTFAIL,
	MAILAUTH_NEUTRAL,
	MAILAUTH_TEMPERROR,
	MAILAUTH_PERMERROR,
	MAILAUTH_POLICY, /* DKIM: valid signature that local policy refuses (rsa-sha1) */
	/* Not a verdict: an evaluator returns this when it needs a DNS answer
	 * that is not in the cache yet (see dns.h). */
	MAILAUTH_PENDING,
};

/* "none", "pass", "fail", ... as written in Authentication-Results. */
const char *mailauth_result_name(enum mailauth_result r);

#endif
