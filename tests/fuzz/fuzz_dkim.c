/*
 * Fuzz target for the DKIM verifier. The input is a message: header
 * fields up to the first empty line (a field is a line plus the lines
 * after it that start with SP or HT), then the body. Every key question
 * is answered with a valid key record: the ed25519 key of the unit-test
 * vectors, or their RSA key for selectors starting with "rsa", so seeds
 * made from those vectors reach the signature checks. Checks:
 *   - the evaluation settles, with a verdict DKIM can give;
 *   - the body fed whole and in small data-chosen pieces gives the same
 *     results and reasons;
 *   - reported strings are bounded and header.b is at most 8 characters.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mailauth/dkim.h"
#include "mailauth/dns.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define check(expr)                                                                      \
	do {                                                                             \
		if (!(expr)) {                                                           \
			fprintf(stderr, "fuzz_dkim: %s failed (line %d)\n", #expr, __LINE__); \
			abort();                                                         \
		}                                                                        \
	} while (0)

static const char ed25519_record[] =
	"v=DKIM1; k=ed25519; p=vFpCQoYHMx9+JqXoQezofNr1kCs4wGTe+gFEE24ZjLM=";
static const char rsa_record[] =
	"v=DKIM1; k=rsa; p=MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAvA6cHzUNPUpsMgaBow9kyTj+"
	"hsGBBGREM1ECjOEmprEw2R8dRDxPlx6KzLIjRv155e8EsIwvL0cOI4TwVyWAkFUV/0yBZ9Leu4CuARH2Jpwk"
	"ObVS+joslrb2+nx9nL4ntFjanFl7rIyoeLJCX9p7lOTTQZ5mreisOza3G9qY3YBY34MTkGoOrcZMCxm/nPoW"
	"IgSGS7kaUt/2HZwsYD/CidOLth/pzk0QakeY1/SPA9Wy0cXqFq4c017HxNoo3WE7zvSXyUxGGyQTsL56HWQl"
	"s/36vwDrqMMveniPZUHstG7rv+OLaqVugdjOlgRSv0qh4VpMl2hWJGcj2+95dtekvwIDAQAB";

static void answer_all(struct dns_cache *dns)
{
	struct dns_question qs[16];
	size_t n;
	while ((n = dns_cache_take_questions(dns, qs, 16)) > 0) {
		for (size_t i = 0; i < n; i++) {
			check(qs[i].type == DNS_T_TXT);
			const char *rec = strncmp(qs[i].name, "rsa", 3) == 0 ? rsa_record : ed25519_record;
			struct dns_record r = {.data = (char *)rec, .len = strlen(rec)};
			dns_cache_put(dns, qs[i].name, qs[i].type, DNS_OK, &r, 1);
		}
	}
}

/* Feeds the message; chunk 0 gives the body in one piece. */
static struct dkim_verifier *run(const uint8_t *data, size_t size, size_t chunk,
				 enum mailauth_result *result)
{
	const char *msg = (const char *)data;
	struct dkim_verifier *v = dkim_verifier_new(1700000000);
	size_t i = 0;
	while (i < size) {
		/* An empty line ends the header. */
		if (msg[i] == '\n' || (msg[i] == '\r' && i + 1 < size && msg[i + 1] == '\n')) {
			i += msg[i] == '\r' ? 2 : 1;
			break;
		}
		size_t end = i;
		for (;;) {
			const char *lf = memchr(msg + end, '\n', size - end);
			end = lf != NULL ? (size_t)(lf - msg) : size;
			if (end + 1 < size && (msg[end + 1] == ' ' || msg[end + 1] == '\t')) {
				end++;
				continue;
			}
			break;
		}
		size_t next = end < size ? end + 1 : size;
		if (end > i && msg[end - 1] == '\r' && end < size)
			end--; /* the field goes without its CRLF */
		dkim_verifier_header(v, msg + i, end - i);
		i = next;
	}
	dkim_verifier_eoh(v);
	if (chunk == 0) {
		dkim_verifier_body(v, msg + i, size - i);
	} else {
		for (size_t k = i; k < size; k += chunk)
			dkim_verifier_body(v, msg + k, size - k < chunk ? size - k : chunk);
	}
	dkim_verifier_eom(v);

	struct dns_cache *dns = dns_cache_new();
	int rounds = 0;
	while ((*result = dkim_verifier_result(v, dns)) == MAILAUTH_PENDING) {
		check(++rounds < 10);
		check(dns_cache_has_open_questions(dns));
		answer_all(dns);
	}
	check(dkim_verifier_result(v, dns) == *result);
	dns_cache_free(dns);
	return v;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	enum mailauth_result whole_r, pieces_r;
	struct dkim_verifier *whole = run(data, size, 0, &whole_r);
	struct dkim_verifier *pieces = run(data, size, 1 + size % 7, &pieces_r);

	check(whole_r == pieces_r);
	check(whole_r != MAILAUTH_SOFTFAIL && whole_r != MAILAUTH_NEUTRAL);
	size_t n = dkim_verifier_count(whole);
	check(n == dkim_verifier_count(pieces) && n <= DKIM_MAX_REPORTED);
	check((n == 0) == (whole_r == MAILAUTH_NONE));
	for (size_t i = 0; i < n; i++) {
		const struct dkim_signature_result *a = dkim_verifier_signature(whole, i);
		const struct dkim_signature_result *b = dkim_verifier_signature(pieces, i);
		check(a->result == b->result);
		check(a->result != MAILAUTH_NONE && a->result != MAILAUTH_PENDING);
		check(strcmp(a->reason, b->reason) == 0);
		check(strnlen(a->domain, sizeof(a->domain)) < sizeof(a->domain));
		check(strnlen(a->selector, sizeof(a->selector)) < sizeof(a->selector));
		check(strnlen(a->identity, sizeof(a->identity)) < sizeof(a->identity));
		check(strnlen(a->algorithm, sizeof(a->algorithm)) < sizeof(a->algorithm));
		check(strnlen(a->reason, sizeof(a->reason)) < sizeof(a->reason));
		check(strlen(a->header_b) <= 8);
		if (a->result == MAILAUTH_PASS)
			check(whole_r == MAILAUTH_PASS);
	}
	check(dkim_verifier_signature(whole, n) == NULL);
	dkim_verifier_free(whole);
	dkim_verifier_free(pieces);
	return 0;
}
