/*
 * The final checks on one incoming message, as lmtpd and `petrelctl
 * inspect` run them: SPF on the envelope, DKIM on the message as it
 * streams past, DMARC on both, and the Authentication-Results field.
 *
 * Usage: mailauth_msg_new() with the envelope as soon as MAIL FROM is
 * known, then mailauth_msg_evaluate() whenever convenient: it returns
 * MAILAUTH_PENDING while questions wait in mailauth_msg_dns() (give them
 * to a driver: resolver.c), so SPF and DKIM key lookups overlap with the
 * message transfer. Feed the header fields, eoh, body pieces, eom; then
 * evaluate until it returns something other than MAILAUTH_PENDING, and
 * read the verdicts.
 */
#ifndef PETREL_MAILAUTH_MAILAUTH_H
#define PETREL_MAILAUTH_MAILAUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "mailauth/dkim.h"
#include "mailauth/dmarc.h"
#include "mailauth/dns.h"
#include "mailauth/result.h"
#include "mailauth/spf.h"

struct mailauth_config {
	bool check_spf, check_dkim, check_dmarc;
	const char *authserv_id;
	const char *receiver; /* our host name, for SPF's %{r} */
};

struct mailauth_envelope {
	bool have_ip; /* false: no SPF (e.g. unix socket without XFORWARD) */
	uint8_t ip_family; /* 4 or 6 */
	uint8_t ip[16];
	const char *helo;      /* may be NULL */
	const char *mail_from; /* "" for the null path */
};

struct mailauth_msg;

/* now: for DKIM t=/x=; pct_roll: 0..99 for DMARC pct (random in lmtpd). */
struct mailauth_msg *mailauth_msg_new(const struct mailauth_config *cfg,
				      const struct mailauth_envelope *env, time_t now,
				      unsigned pct_roll);
void mailauth_msg_free(struct mailauth_msg *m);

/* A header field as received, without its final CRLF. */
void mailauth_msg_header(struct mailauth_msg *m, const char *field, size_t len);
void mailauth_msg_eoh(struct mailauth_msg *m);
void mailauth_msg_body(struct mailauth_msg *m, const char *data, size_t len);
void mailauth_msg_eom(struct mailauth_msg *m);

/* Runs what can run. Returns MAILAUTH_PENDING while DNS answers are
   needed (or, before eom, always: the message is not complete), else
   MAILAUTH_NONE: every verdict below is final. */
enum mailauth_result mailauth_msg_evaluate(struct mailauth_msg *m);
struct dns_cache *mailauth_msg_dns(struct mailauth_msg *m);

/* After a final evaluate. NULL when the method did not run. */
const struct spf_outcome *mailauth_msg_spf(const struct mailauth_msg *m);
const struct dkim_verifier *mailauth_msg_dkim(const struct mailauth_msg *m);
const struct dmarc_outcome *mailauth_msg_dmarc(const struct mailauth_msg *m);
/* The RFC 5322.From domain, NULL if none or ambiguous. */
const char *mailauth_msg_from_domain(const struct mailauth_msg *m);
/* The Authentication-Results field without its final CRLF; malloc'd. */
char *mailauth_msg_authres(const struct mailauth_msg *m);

/* The domain of the single mailbox in a From field value (after the
   colon), lowercase, malloc'd; NULL when there is not exactly one mailbox
   with a domain (RFC 7489 6.6.1). */
char *mailauth_from_domain(const char *value, size_t len);

#endif
