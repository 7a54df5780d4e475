/*
 * DKIM verification (RFC 6376, RFC 8463 ed25519-sha256, RFC 8301).
 *
 * The message is streamed in: every header field, the end of the header,
 * body pieces, the end. Keys come from the per-message DNS cache (see
 * dns.h): after the header is complete the verifier knows which keys it
 * needs, and dkim_verifier_result() returns MAILAUTH_PENDING until their
 * TXT records are in the cache, so a caller can prefetch keys while the
 * body is still arriving.
 *
 * rsa-sha1 signatures are verified and reported, but a valid one gives
 * MAILAUTH_POLICY, never MAILAUTH_PASS, and does not count for DMARC.
 *
 * Per-signature verdicts: fail when the body hash or the signature does
 * not match; permerror when it cannot be checked (bad or missing tags, h=
 * without From, expired x= or future t= beyond an hour's clock skew, no
 * key, several key records, bad or revoked key, RSA under 1024 bits, l=
 * longer than the body); temperror when the key lookup failed; policy for
 * a valid rsa-sha1 signature and for a valid one on a message with more
 * From fields than it signs. The reason says which.
 *
 * A verifier is used by one thread; verifiers share no state.
 */
#ifndef PETREL_MAILAUTH_DKIM_H
#define PETREL_MAILAUTH_DKIM_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "mailauth/dns.h"
#include "mailauth/result.h"

/* Signatures beyond this many are reported as not verified (permerror):
 * a message cannot make us do unbounded RSA work. */
#define DKIM_MAX_SIGNATURES 8
/* At most this many signatures are reported at all (the first
 * DKIM_MAX_SIGNATURES verified, the rest as permerror "too many
 * signatures"); further DKIM-Signature fields are ignored, so a message
 * cannot make the result list grow without bound. */
#define DKIM_MAX_REPORTED (2 * DKIM_MAX_SIGNATURES)

struct dkim_signature_result {
	enum mailauth_result result; /* pass, fail, neutral, policy,
					temperror, permerror */
	char domain[256];	     /* d= */
	char selector[128];	     /* s= */
	char identity[256];	     /* i= (default "@" d=) */
	char algorithm[32];	     /* a=, e.g. "rsa-sha256" */
	char header_b[16];	     /* first 8 characters of b=, for RFC 8601 header.b */
	char reason[160];	     /* "body hash did not verify", "key revoked", ... */
};

struct dkim_verifier;

/* now: the time used for t= and x= checks (time(NULL) in production). */
struct dkim_verifier *dkim_verifier_new(time_t now);
void dkim_verifier_free(struct dkim_verifier *v);

/* One header field exactly as received: name, colon, value with its
 * folding CRLFs, without the CRLF that ends the field. */
void dkim_verifier_header(struct dkim_verifier *v, const char *field, size_t len);
void dkim_verifier_eoh(struct dkim_verifier *v);
/* Body bytes with CRLF line ends, in any pieces. */
void dkim_verifier_body(struct dkim_verifier *v, const char *data, size_t len);
void dkim_verifier_eom(struct dkim_verifier *v);

/* After eoh: queues the key questions and returns MAILAUTH_PENDING until
 * all are answered; after eom with all keys known: the overall result
 * (none without signatures; pass when any signature passed; otherwise the
 * first signature's result) and the per-signature results below become
 * valid. Calling it again after a final result returns the same. */
enum mailauth_result dkim_verifier_result(struct dkim_verifier *v, struct dns_cache *dns);
/* (Before eoh it returns MAILAUTH_PENDING without asking anything. body()
 * or eom() without a prior eoh() imply it.) */

/* The signatures in header order (topmost first), at most
 * DKIM_MAX_REPORTED; dkim_verifier_signature() returns NULL past the
 * count. Results and reasons are meaningful once dkim_verifier_result()
 * returned a final result; the pointers live as long as the verifier. */
size_t dkim_verifier_count(const struct dkim_verifier *v);
const struct dkim_signature_result *dkim_verifier_signature(const struct dkim_verifier *v,
							    size_t i);

#endif
