/*
 * SPF (RFC 7208): check_host() for the MAIL FROM identity, or for the
 * HELO identity when the reverse path is null.
 *
 * Replay evaluation (see dns.h): spf_check() returns MAILAUTH_PENDING while
 * it needs DNS answers that are not in the cache; run it again once they
 * are. Every other return value is final and equals out->result.
 */
#ifndef PETREL_MAILAUTH_SPF_H
#define PETREL_MAILAUTH_SPF_H

#include <stdint.h>

#include "mailauth/dns.h"
#include "mailauth/result.h"

/* RFC 7208 4.6.4 and 4.6.4's void-lookup limit. */
#define SPF_MAX_DNS_MECHANISMS 10
#define SPF_MAX_VOID_LOOKUPS 2

struct spf_request {
	uint8_t ip_family; /* 4 or 6: the SMTP client's address */
	uint8_t ip[16];	   /* network order; IPv4 in the first 4 bytes */
	const char *helo;	/* HELO/EHLO name as the client gave it; may be NULL */
	const char *mail_from;	/* reverse path without <>; "" for the null path */
	const char *receiver;	/* our host name, for the %{r} macro */
};

struct spf_outcome {
	enum mailauth_result result; /* none, neutral, pass, fail, softfail,
					temperror, permerror */
	const char *identity;	     /* "mailfrom" or "helo" (static) */
	char domain[256];	     /* the domain check_host() started from */
	char sender[512];	     /* the sender used for macros: the MAIL FROM
					address, or postmaster@helo */
	char reason[256];	     /* why: "matched ip4:192.0.2.0/24",
					"no SPF record", "more than 10 DNS lookups", ... */
	char explanation[512];	     /* the exp= text on fail, else "" */
	unsigned dns_mechanisms;     /* terms that counted against the 10 */
	unsigned void_lookups;
};

enum mailauth_result spf_check(struct dns_cache *dns, const struct spf_request *req,
			       struct spf_outcome *out);

#endif
