/*
 * A zone table that answers a dns_cache's questions synchronously, for
 * unit tests of SPF, DKIM and DMARC (the real driver is resolver.c).
 *
 * Each row is one record. Values:
 *   A / AAAA  "192.0.2.1" / "2001:db8::1"
 *   MX        "10 mx.example.com"
 *   TXT       the record's text (one character-string per row; a row
 *             value may hold several strings separated by "\x1f", which
 *             are concatenated, as the resolver does)
 *   PTR       "host.example.com"
 * A value of "!TEMPFAIL" makes the question fail with DNS_TEMPFAIL.
 * A name that no row names is NXDOMAIN; a name with rows of other types
 * only is NODATA. Names compare without case. The table ends with a row
 * whose name is NULL.
 */
#ifndef PETREL_TESTS_FAKE_DNS_H
#define PETREL_TESTS_FAKE_DNS_H

#include "mailauth/dns.h"
#include "mailauth/result.h"

struct fake_rr {
	const char *name;
	enum dns_type type;
	const char *value;
};

/* Answers every question queued in cache from zone; returns how many. */
size_t fake_dns_answer(struct dns_cache *cache, const struct fake_rr *zone);

/* Runs eval(arg) until it returns something other than MAILAUTH_PENDING,
 * answering the questions from zone between runs. Fails the test after
 * 100 rounds (an evaluator that never settles). */
enum mailauth_result fake_dns_run(struct dns_cache *cache, const struct fake_rr *zone,
				  enum mailauth_result (*eval)(void *arg), void *arg);

#endif
