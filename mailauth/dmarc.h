/*
 * DMARC (RFC 7489): policy discovery for the RFC 5322.From domain (falling
 * back to the organisational domain from the public suffix list, via
 * libpsl), identifier alignment of the SPF and DKIM results, p/sp/pct.
 *
 * Replay evaluation like spf.h: MAILAUTH_PENDING means "run me again once
 * the DNS cache has the answers".
 */
#ifndef PETREL_MAILAUTH_DMARC_H
#define PETREL_MAILAUTH_DMARC_H

#include <stdbool.h>
#include <stddef.h>

#include "mailauth/dns.h"
#include "mailauth/result.h"

enum dmarc_policy {
	DMARC_POLICY_UNSPECIFIED, /* no record, or no verdict */
	DMARC_POLICY_NONE,
	DMARC_POLICY_QUARANTINE,
	DMARC_POLICY_REJECT,
};

struct dmarc_request {
	/* The RFC 5322.From domain, or NULL when the message has no From
	 * header, several, or one without exactly one parsable address
	 * (the result is then permerror: RFC 7489 6.6.1). */
	const char *from_domain;
	/* SPF's verdict and the domain it was for (MAIL FROM domain, or the
	 * HELO domain for the null sender); spf_domain may be NULL. */
	enum mailauth_result spf_result;
	const char *spf_domain;
	/* d= of every DKIM signature that passed (rsa-sha1 excluded). */
	const char *const *dkim_pass_domains;
	size_t dkim_pass_count;
	/* A number in 0..99 drawn by the caller (injected for tests): the
	 * policy applies when pct_roll < pct. */
	unsigned pct_roll;
};

struct dmarc_outcome {
	enum mailauth_result result; /* none, pass, fail, temperror, permerror */
	char header_from[256];	     /* the From domain, lowercase */
	char policy_domain[256];     /* where the record was found */
	enum dmarc_policy policy;    /* p= or sp= as applies to header_from */
	/* What the receiver should do: policy, lowered one step (reject ->
	 * quarantine -> none) when the pct roll excludes the message;
	 * DMARC_POLICY_NONE on pass. */
	enum dmarc_policy disposition;
	bool spf_aligned, dkim_aligned;
	char reason[256];
};

/* Results: pass or fail with a policy found; none when there is no record,
 * or several at the name where discovery stopped (RFC 7489 6.6.3 step 5);
 * temperror when a lookup failed; permerror when from_domain is NULL or
 * not a domain, or the record found is unusable (tag syntax, duplicate
 * tag, no valid p or an invalid sp, without a valid rua to fall back on
 * as p=none: 6.6.3 step 6). Policy and disposition stay UNSPECIFIED
 * unless the result is pass or fail. reason says why in words. */
enum mailauth_result dmarc_check(struct dns_cache *dns, const struct dmarc_request *req,
				 struct dmarc_outcome *out);

/* "none", "quarantine", "reject" (unspecified gives "none"). */
const char *dmarc_policy_name(enum dmarc_policy p);

/* The organisational domain of a lowercase domain name (libpsl's
 * registrable domain); writes the name itself when it is a public suffix
 * or unknown. Returns 0, -1 when out is too small. */
int dmarc_org_domain(const char *domain, char *out, size_t outsize);

#endif
