/*
 * Fuzz target for mailauth/spf: hostile SPF records and hostile DNS.
 *
 * Input: the first line is the TXT record of fuzz.example, the domain the
 * check starts from. Each further line answers, in order, the next TXT
 * question about any other name (include, redirect, exp targets); a line
 * "!" is a DNS failure, an empty line NODATA, "\x1f" separates several
 * records of one answer; once the lines run out the answer is NXDOMAIN.
 * A, AAAA, MX and PTR answers are derived from a hash of the name, so
 * every outcome (match, void, failure, too many MX) is reachable.
 *
 * Beyond "does not crash" it checks what callers rely on: evaluation
 * settles in a bounded number of rounds, gives a real verdict, respects
 * the lookup limits, and running it again over the now complete cache
 * (a replay) gives the same verdict and reason.
 */
#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mailauth/dns.h"
#include "mailauth/spf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define TOP_DOMAIN "fuzz.example"
#define MAX_ROUNDS 64

struct fuzz_zone {
	const char *top; /* first line */
	size_t top_len;
	const char *rest; /* the other lines */
	size_t rest_len;
	size_t next_line; /* offset in rest of the next unused line */
	bool lines_left;
	uint8_t ip_family;
	uint8_t ip[16];
};

static uint32_t hash_name(const char *s)
{
	uint32_t h = 2166136261u;
	for (; *s; s++) {
		h ^= (uint8_t)*s;
		h *= 16777619u;
	}
	return h;
}

/* Puts a TXT answer made of text split at \x1f into records. */
static void put_txt(struct dns_cache *dns, const char *name, const char *text, size_t len)
{
	struct dns_record recs[8];
	size_t n = 0, start = 0;
	memset(recs, 0, sizeof(recs));
	for (size_t i = 0; i <= len && n < 8; i++) {
		if (i == len || text[i] == '\x1f') {
			recs[n].data = (char *)text + start;
			recs[n].len = i - start;
			n++;
			start = i + 1;
		}
	}
	dns_cache_put(dns, name, DNS_T_TXT, DNS_OK, recs, n);
}

static void answer_txt(struct dns_cache *dns, struct fuzz_zone *z, const char *name)
{
	if (strcmp(name, TOP_DOMAIN) == 0) {
		put_txt(dns, name, z->top, z->top_len);
		return;
	}
	if (!z->lines_left) {
		dns_cache_put(dns, name, DNS_T_TXT, DNS_NXDOMAIN, NULL, 0);
		return;
	}
	const char *line = z->rest + z->next_line;
	size_t avail = z->rest_len - z->next_line;
	const char *nl = memchr(line, '\n', avail);
	size_t len = nl != NULL ? (size_t)(nl - line) : avail;
	if (nl != NULL)
		z->next_line += len + 1;
	else
		z->lines_left = false;
	if (len == 1 && line[0] == '!')
		dns_cache_put(dns, name, DNS_T_TXT, DNS_TEMPFAIL, NULL, 0);
	else if (len == 0)
		dns_cache_put(dns, name, DNS_T_TXT, DNS_NODATA, NULL, 0);
	else
		put_txt(dns, name, line, len);
}

static void answer_address(struct dns_cache *dns, const struct fuzz_zone *z, const char *name,
			   enum dns_type type, uint32_t h)
{
	struct dns_record rec;
	memset(&rec, 0, sizeof(rec));
	uint8_t family = type == DNS_T_A ? 4 : 6;
	if (h % 4 == 0 || h % 4 == 1) {
		dns_cache_put(dns, name, type, h % 4 == 0 ? DNS_NXDOMAIN : DNS_NODATA, NULL, 0);
		return;
	}
	rec.family = family;
	if (h % 4 == 2 && z->ip_family == family) {
		memcpy(rec.addr, z->ip, 16);
	} else if (family == 4) {
		uint8_t a[4] = {192, 0, 2, (uint8_t)(h >> 8)};
		memcpy(rec.addr, a, 4);
	} else {
		uint8_t a[16] = {0x20, 0x01, 0x0d, 0xb8};
		a[15] = (uint8_t)(h >> 8);
		memcpy(rec.addr, a, 16);
	}
	dns_cache_put(dns, name, type, DNS_OK, &rec, 1);
}

static void answer_one(struct dns_cache *dns, struct fuzz_zone *z, const struct dns_question *q)
{
	uint32_t h = hash_name(q->name);
	if (q->type != DNS_T_TXT && h % 31 == 0) {
		dns_cache_put(dns, q->name, q->type, DNS_TEMPFAIL, NULL, 0);
		return;
	}
	switch (q->type) {
	case DNS_T_TXT:
		answer_txt(dns, z, q->name);
		return;
	case DNS_T_A:
	case DNS_T_AAAA:
		answer_address(dns, z, q->name, q->type, h);
		return;
	case DNS_T_MX: {
		if (h % 4 == 0) {
			dns_cache_put(dns, q->name, q->type, DNS_NXDOMAIN, NULL, 0);
			return;
		}
		struct dns_record recs[12];
		char names[12][300];
		size_t n = (h >> 4) % 13;
		memset(recs, 0, sizeof(recs));
		for (size_t i = 0; i < n; i++) {
			snprintf(names[i], sizeof(names[i]), "mx%zu.%s", i, q->name);
			recs[i].preference = (uint16_t)(10 * (i % 3));
			recs[i].data = names[i];
			recs[i].len = strlen(names[i]);
		}
		dns_cache_put(dns, q->name, q->type, DNS_OK, recs, n);
		return;
	}
	case DNS_T_PTR: {
		static const char *const ptrs[] = {TOP_DOMAIN, "host.fuzz.example", "other.example"};
		struct dns_record recs[3];
		memset(recs, 0, sizeof(recs));
		size_t n = h % 4;
		for (size_t i = 0; i < n; i++) {
			recs[i].data = (char *)ptrs[i];
			recs[i].len = strlen(ptrs[i]);
		}
		dns_cache_put(dns, q->name, q->type, n ? DNS_OK : DNS_NXDOMAIN, recs, n);
		return;
	}
	}
	dns_cache_put(dns, q->name, q->type, DNS_NXDOMAIN, NULL, 0);
}

static bool answer_all(struct dns_cache *dns, struct fuzz_zone *z)
{
	struct dns_question qs[32];
	size_t n, total = 0;
	while ((n = dns_cache_take_questions(dns, qs, 32)) > 0) {
		for (size_t i = 0; i < n; i++)
			answer_one(dns, z, &qs[i]);
		total += n;
	}
	return total > 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* A heap copy of exactly the input, so ASan sees reads past it. */
	char *copy = malloc(size + 1);
	if (copy == NULL)
		abort();
	if (size > 0)
		memcpy(copy, data, size);
	copy[size] = '\0';

	struct fuzz_zone z;
	memset(&z, 0, sizeof(z));
	const char *nl = memchr(copy, '\n', size);
	z.top = copy;
	z.top_len = nl != NULL ? (size_t)(nl - copy) : size;
	z.rest = nl != NULL ? nl + 1 : copy + size;
	z.rest_len = size - (size_t)(z.rest - copy);
	z.lines_left = nl != NULL;

	struct spf_request req;
	memset(&req, 0, sizeof(req));
	if (size % 2 == 0) {
		req.ip_family = 4;
		inet_pton(AF_INET, "192.0.2.1", req.ip);
	} else {
		req.ip_family = 6;
		inet_pton(AF_INET6, "2001:db8::1", req.ip);
	}
	z.ip_family = req.ip_family;
	memcpy(z.ip, req.ip, 16);
	req.helo = TOP_DOMAIN;
	req.mail_from = size % 3 == 0 ? "" : "Some.User@" TOP_DOMAIN;
	req.receiver = "mx.receiver.example";

	struct dns_cache *dns = dns_cache_new();
	struct spf_outcome out;
	enum mailauth_result r = MAILAUTH_PENDING;
	for (int round = 0; round < MAX_ROUNDS; round++) {
		r = spf_check(dns, &req, &out);
		if (r != MAILAUTH_PENDING)
			break;
		if (!answer_all(dns, &z))
			abort(); /* pending without a question: would never settle */
	}
	switch (r) {
	case MAILAUTH_NONE:
	case MAILAUTH_PASS:
	case MAILAUTH_FAIL:
	case MAILAUTH_SOFTFAIL:
	case MAILAUTH_NEUTRAL:
	case MAILAUTH_TEMPERROR:
	case MAILAUTH_PERMERROR:
		break;
	default:
		abort();
	}
	if (out.result != r || out.dns_mechanisms > SPF_MAX_DNS_MECHANISMS + 1 ||
	    out.void_lookups > SPF_MAX_VOID_LOOKUPS + 1)
		abort();
	if (memchr(out.reason, '\0', sizeof(out.reason)) == NULL ||
	    memchr(out.explanation, '\0', sizeof(out.explanation)) == NULL ||
	    memchr(out.domain, '\0', sizeof(out.domain)) == NULL ||
	    memchr(out.sender, '\0', sizeof(out.sender)) == NULL)
		abort();
	if (out.explanation[0] != '\0' && r != MAILAUTH_FAIL)
		abort();

	/* Replay over the complete cache: same questions, same answers, so
	 * the same verdict and the same counts, without any new question. */
	struct spf_outcome again;
	enum mailauth_result r2 = spf_check(dns, &req, &again);
	if (r2 != r || strcmp(again.reason, out.reason) != 0 ||
	    again.dns_mechanisms != out.dns_mechanisms || again.void_lookups != out.void_lookups ||
	    dns_cache_has_open_questions(dns))
		abort();

	dns_cache_free(dns);
	free(copy);
	return 0;
}
