/*
 * Unit tests for mailauth/dkim: messages signed by python3-dkim
 * (gen_dkim_vectors.py writes tests/data/dkim/ and dkim_vectors.h), each
 * checked for our verdict and reason and against python3-dkim's own
 * verify() per signature; the same messages fed in one piece, one byte at
 * a time and split at every point; key record variants; tag errors that
 * never reach DNS; the limits.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fake_dns.h"
#include "mailauth/dkim.h"
#include "mailauth/dns.h"

#include "dkim_vectors.h"

#ifndef PETREL_SOURCE_DIR
#error "PETREL_SOURCE_DIR must point at the source tree"
#endif
#define VECTOR_DIR PETREL_SOURCE_DIR "/tests/data/dkim"

/* Our verdict for each vector. python3-dkim's verdict (dkim_vectors.h)
 * must agree on pass / not pass for every verified signature, except
 * where `disagree` says why we follow the RFC instead. */
struct expect {
	const char *name;
	enum mailauth_result result; /* overall */
	enum mailauth_result first;  /* the topmost signature's */
	const char *reason;	     /* substring of the topmost signature's reason */
	const char *disagree;
};

static const struct expect expects[] = {
	{"rsa_relaxed_relaxed", MAILAUTH_PASS, MAILAUTH_PASS, "", NULL},
	{"rsa_simple_simple", MAILAUTH_PASS, MAILAUTH_PASS, "", NULL},
	{"rsa_relaxed_simple", MAILAUTH_PASS, MAILAUTH_PASS, "", NULL},
	{"rsa_simple_relaxed", MAILAUTH_PASS, MAILAUTH_PASS, "", NULL},
	{"ed25519", MAILAUTH_PASS, MAILAUTH_PASS, "", NULL},
	{"ed25519_simple", MAILAUTH_PASS, MAILAUTH_PASS, "", NULL},
	{"two_sigs_bad_good", MAILAUTH_PASS, MAILAUTH_FAIL, "signature did not verify", NULL},
	{"rsa_and_ed25519", MAILAUTH_PASS, MAILAUTH_PASS, "", NULL},
	{"altered_body", MAILAUTH_FAIL, MAILAUTH_FAIL, "body hash did not verify", NULL},
	{"altered_signed_header", MAILAUTH_FAIL, MAILAUTH_FAIL, "signature did not verify", NULL},
	{"unsigned_header_added", MAILAUTH_PASS, MAILAUTH_PASS, "", NULL},
	{"absent_signed_header_added", MAILAUTH_FAIL, MAILAUTH_FAIL, "signature did not verify",
	 NULL},
	{"from_added", MAILAUTH_POLICY, MAILAUTH_POLICY, "unsigned From field added", NULL},
	{"refolded_relaxed", MAILAUTH_PASS, MAILAUTH_PASS, "", NULL},
	{"refolded_simple", MAILAUTH_FAIL, MAILAUTH_FAIL, "signature did not verify", NULL},
	{"trailing_blank_lines_simple", MAILAUTH_PASS, MAILAUTH_PASS, "", NULL},
	{"trailing_ws_lines_relaxed", MAILAUTH_PASS, MAILAUTH_PASS, "", NULL},
	{"empty_body_relaxed", MAILAUTH_PASS, MAILAUTH_PASS, "", NULL},
	{"empty_body_simple", MAILAUTH_PASS, MAILAUTH_PASS, "", NULL},
	{"body_length_appended", MAILAUTH_PASS, MAILAUTH_PASS, "l= shorter than body", NULL},
	{"expired", MAILAUTH_PERMERROR, MAILAUTH_PERMERROR, "signature expired", NULL},
	{"not_yet_expired", MAILAUTH_PASS, MAILAUTH_PASS, "", NULL},
	{"timestamp_future", MAILAUTH_PERMERROR, MAILAUTH_PERMERROR, "in the future", NULL},
	{"key_revoked", MAILAUTH_PERMERROR, MAILAUTH_PERMERROR, "key revoked", NULL},
	{"key_missing", MAILAUTH_PERMERROR, MAILAUTH_PERMERROR, "no key", NULL},
	{"key_tempfail", MAILAUTH_TEMPERROR, MAILAUTH_TEMPERROR, "key lookup failed", NULL},
	{"key_too_short", MAILAUTH_PERMERROR, MAILAUTH_PERMERROR, "key too short", NULL},
	{"key_strict_subdomain_i", MAILAUTH_PERMERROR, MAILAUTH_PERMERROR, "(t=s)",
	 "python3-dkim ignores the key's t=s flag (RFC 6376 3.6.1)"},
	{"key_strict_same_i", MAILAUTH_PASS, MAILAUTH_PASS, "", NULL},
	{"key_type_mismatch", MAILAUTH_PERMERROR, MAILAUTH_PERMERROR,
	 "key type does not match algorithm", NULL},
	{"rsa_sha1", MAILAUTH_POLICY, MAILAUTH_POLICY, "rsa-sha1 not accepted",
	 "python3-dkim accepts rsa-sha1; RFC 8301 forbids it"},
	{"missing_b", MAILAUTH_PERMERROR, MAILAUTH_PERMERROR, "missing b= tag", NULL},
	{"bad_base64_b", MAILAUTH_PERMERROR, MAILAUTH_PERMERROR, "bad signature data (b=)", NULL},
	{"unknown_algorithm", MAILAUTH_PERMERROR, MAILAUTH_PERMERROR, "unknown algorithm", NULL},
	{"identity_mismatch", MAILAUTH_PERMERROR, MAILAUTH_PERMERROR, "not within domain", NULL},
	{"h_without_from", MAILAUTH_PERMERROR, MAILAUTH_PERMERROR, "From field not signed",
	 "python3-dkim does not require From in h= (RFC 6376 5.4, 6.1.1 do)"},
	{"many_signatures", MAILAUTH_PASS, MAILAUTH_PASS, "", NULL},
	{NULL, 0, 0, NULL, NULL},
};

static char *read_vector(const char *name, size_t *len_r)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/%s.eml", VECTOR_DIR, name);
	FILE *f = fopen(path, "rb");
	if (f == NULL)
		fail_msg("cannot open %s", path);
	char *data = NULL;
	size_t len = 0, cap = 0, n;
	do {
		if (len == cap) {
			cap = cap ? cap * 2 : 8192;
			data = realloc(data, cap + 1);
			assert_non_null(data);
		}
		n = fread(data + len, 1, cap - len, f);
		len += n;
	} while (n > 0);
	fclose(f);
	data[len] = '\0';
	*len_r = len;
	return data;
}

/* Feeds a message: header fields (a line and its continuation lines,
 * without the final CRLF), eoh, the body in pieces of `chunk` bytes (0:
 * one piece; or split once at `split` when chunk is SIZE_MAX), eom. */
static void feed(struct dkim_verifier *v, const char *msg, size_t len, size_t chunk, size_t split)
{
	size_t i = 0;
	while (i < len) {
		if (len - i >= 2 && msg[i] == '\r' && msg[i + 1] == '\n') {
			i += 2;
			break;
		}
		size_t end = i;
		for (;;) {
			const char *crlf = memmem(msg + end, len - end, "\r\n", 2);
			end = crlf != NULL ? (size_t)(crlf - msg) : len;
			if (end + 2 < len && (msg[end + 2] == ' ' || msg[end + 2] == '\t')) {
				end += 2;
				continue;
			}
			break;
		}
		dkim_verifier_header(v, msg + i, end - i);
		i = end + 2 < len ? end + 2 : len;
	}
	dkim_verifier_eoh(v);
	const char *body = msg + i;
	size_t blen = len - i;
	if (chunk == SIZE_MAX) {
		dkim_verifier_body(v, body, split);
		dkim_verifier_body(v, body + split, blen - split);
	} else if (chunk == 0) {
		dkim_verifier_body(v, body, blen);
	} else {
		for (size_t k = 0; k < blen; k += chunk)
			dkim_verifier_body(v, body + k, blen - k < chunk ? blen - k : chunk);
	}
	dkim_verifier_eom(v);
}

struct run {
	struct dkim_verifier *v;
	struct dns_cache *dns;
};

static enum mailauth_result eval(void *arg)
{
	struct run *r = arg;
	return dkim_verifier_result(r->v, r->dns);
}

static enum mailauth_result verify_with(struct run *r, const char *msg, size_t len, size_t chunk,
					size_t split, const struct fake_rr *zone)
{
	r->v = dkim_verifier_new(DKIM_VECTORS_NOW);
	r->dns = dns_cache_new();
	feed(r->v, msg, len, chunk, split);
	return fake_dns_run(r->dns, zone, eval, r);
}

static void run_free(struct run *r)
{
	dkim_verifier_free(r->v);
	dns_cache_free(r->dns);
}

static const char *python_verdicts(const char *name)
{
	for (const struct dkim_python_verdict *p = dkim_python_verdicts; p->name != NULL; p++)
		if (strcmp(p->name, name) == 0)
			return p->verdicts;
	fail_msg("no python verdict for %s", name);
	return NULL;
}

static void same_results(const struct dkim_verifier *a, const struct dkim_verifier *b)
{
	assert_int_equal(dkim_verifier_count(a), dkim_verifier_count(b));
	for (size_t i = 0; i < dkim_verifier_count(a); i++) {
		const struct dkim_signature_result *x = dkim_verifier_signature(a, i);
		const struct dkim_signature_result *y = dkim_verifier_signature(b, i);
		assert_int_equal(x->result, y->result);
		assert_string_equal(x->reason, y->reason);
		assert_string_equal(x->header_b, y->header_b);
	}
}

static void test_vectors(void **state)
{
	(void)state;
	size_t checked = 0;
	for (const struct expect *e = expects; e->name != NULL; e++) {
		size_t len;
		char *msg = read_vector(e->name, &len);
		struct run whole, bytes;
		enum mailauth_result r = verify_with(&whole, msg, len, 0, 0, dkim_zone);
		const struct dkim_signature_result *first = dkim_verifier_signature(whole.v, 0);
		if (r != e->result || first->result != e->first || strstr(first->reason, e->reason) == NULL ||
		    (e->reason[0] == '\0' && first->reason[0] != '\0'))
			fail_msg("%s: got %s (first %s, \"%s\"), want %s (first %s, \"%s\")", e->name,
				 mailauth_result_name(r), mailauth_result_name(first->result),
				 first->reason, mailauth_result_name(e->result),
				 mailauth_result_name(e->first), e->reason);

		/* Every signature against python3-dkim's verify(). */
		const char *py = python_verdicts(e->name);
		size_t n = dkim_verifier_count(whole.v);
		assert_int_equal(n, strlen(py));
		bool differs = false;
		for (size_t i = 0; i < n && i < DKIM_MAX_SIGNATURES; i++) {
			const struct dkim_signature_result *s = dkim_verifier_signature(whole.v, i);
			if ((s->result == MAILAUTH_PASS) != (py[i] == '1'))
				differs = true;
			assert_string_equal(s->domain, "example.com");
			assert_true(strcmp(s->algorithm, "rsa-sha256") == 0 ||
				    strcmp(s->algorithm, "rsa-sha1") == 0 ||
				    strcmp(s->algorithm, "rsa-sha512") == 0 ||
				    strcmp(s->algorithm, "ed25519-sha256") == 0);
			if (strcmp(e->name, "missing_b") != 0)
				assert_int_equal(strlen(s->header_b), 8);
		}
		if (differs != (e->disagree != NULL))
			fail_msg("%s: python3-dkim says %s; disagreement %sexpected", e->name, py,
				 e->disagree != NULL ? "" : "not ");

		/* The body one byte at a time gives the same, reasons included. */
		verify_with(&bytes, msg, len, 1, 0, dkim_zone);
		same_results(whole.v, bytes.v);
		run_free(&bytes);
		run_free(&whole);
		free(msg);
		checked++;
	}
	assert_int_equal(checked, sizeof(expects) / sizeof(expects[0]) - 1);
	/* Every generated vector has an expectation. */
	size_t generated = 0;
	for (const struct dkim_python_verdict *p = dkim_python_verdicts; p->name != NULL; p++)
		generated++;
	assert_int_equal(generated, checked);
}

static void test_every_split_point(void **state)
{
	(void)state;
	static const char *const names[] = {"rsa_relaxed_relaxed", "rsa_simple_simple",
					     "trailing_ws_lines_relaxed",
					     "trailing_blank_lines_simple", "body_length_appended",
					     "altered_body"};
	for (size_t k = 0; k < sizeof(names) / sizeof(names[0]); k++) {
		size_t len;
		char *msg = read_vector(names[k], &len);
		struct run whole;
		verify_with(&whole, msg, len, 0, 0, dkim_zone);
		size_t body_len = len - (size_t)(strstr(msg, "\r\n\r\n") + 4 - msg);
		for (size_t split = 0; split <= body_len; split++) {
			struct run cut;
			verify_with(&cut, msg, len, SIZE_MAX, split, dkim_zone);
			same_results(whole.v, cut.v);
			run_free(&cut);
		}
		run_free(&whole);
		free(msg);
	}
}

static void test_many_signatures(void **state)
{
	(void)state;
	size_t len;
	char *msg = read_vector("many_signatures", &len);
	struct run r;
	assert_int_equal(verify_with(&r, msg, len, 0, 0, dkim_zone), MAILAUTH_PASS);
	assert_int_equal(dkim_verifier_count(r.v), 10);
	for (size_t i = 0; i < 10; i++) {
		const struct dkim_signature_result *s = dkim_verifier_signature(r.v, i);
		if (i < DKIM_MAX_SIGNATURES) {
			assert_int_equal(s->result, MAILAUTH_PASS);
		} else {
			assert_int_equal(s->result, MAILAUTH_PERMERROR);
			assert_non_null(strstr(s->reason, "too many signatures"));
		}
		char want[64];
		snprintf(want, sizeof(want), "user%zu@example.com", 9 - i);
		assert_string_equal(s->identity, want);
	}
	assert_null(dkim_verifier_signature(r.v, 10));
	assert_int_equal(dns_cache_question_count(r.dns), 1);
	run_free(&r);
	free(msg);
}

static void test_prefetch_after_eoh(void **state)
{
	(void)state;
	size_t len;
	char *msg = read_vector("rsa_and_ed25519", &len);
	struct dkim_verifier *v = dkim_verifier_new(DKIM_VECTORS_NOW);
	struct dns_cache *dns = dns_cache_new();
	const char *body = strstr(msg, "\r\n\r\n") + 4;
	/* Nothing to ask before eoh. */
	assert_int_equal(dkim_verifier_result(v, dns), MAILAUTH_PENDING);
	assert_int_equal(dns_cache_question_count(dns), 0);

	/* The lmtpd order: header, eoh, prefetch, body, eom, result. */
	size_t i = 0;
	while (msg + i < body - 2) {
		size_t end = i;
		for (;;) {
			end = (size_t)(strstr(msg + end, "\r\n") - msg);
			if (msg[end + 2] == ' ' || msg[end + 2] == '\t') {
				end += 2;
				continue;
			}
			break;
		}
		dkim_verifier_header(v, msg + i, end - i);
		i = end + 2;
	}
	dkim_verifier_eoh(v);
	assert_int_equal(dkim_verifier_result(v, dns), MAILAUTH_PENDING);
	assert_int_equal(fake_dns_answer(dns, dkim_zone), 2);
	/* Keys known, body not: still pending, nothing more to ask. */
	assert_int_equal(dkim_verifier_result(v, dns), MAILAUTH_PENDING);
	assert_false(dns_cache_has_open_questions(dns));
	dkim_verifier_body(v, body, len - (size_t)(body - msg));
	dkim_verifier_eom(v);
	assert_int_equal(dkim_verifier_result(v, dns), MAILAUTH_PASS);
	assert_int_equal(dkim_verifier_count(v), 2);
	assert_string_equal(dkim_verifier_signature(v, 0)->algorithm, "ed25519-sha256");
	assert_string_equal(dkim_verifier_signature(v, 1)->algorithm, "rsa-sha256");
	/* Final: the same again, no new questions. */
	assert_int_equal(dkim_verifier_result(v, dns), MAILAUTH_PASS);
	assert_int_equal(fake_dns_answer(dns, dkim_zone), 0);
	assert_int_equal(dns_cache_question_count(dns), 2);
	dkim_verifier_free(v);
	dns_cache_free(dns);
	free(msg);
}

static void test_header_b(void **state)
{
	(void)state;
	size_t len;
	char *msg = read_vector("rsa_relaxed_relaxed", &len);
	/* python3-dkim folds "b=" onto a line of its own. */
	const char *b = strstr(msg, "\r\n b=") + 5;
	struct run r;
	assert_int_equal(verify_with(&r, msg, len, 0, 0, dkim_zone), MAILAUTH_PASS);
	const struct dkim_signature_result *s = dkim_verifier_signature(r.v, 0);
	assert_memory_equal(s->header_b, b, 8);
	assert_string_equal(s->selector, "rsa");
	assert_string_equal(s->identity, "@example.com");
	assert_int_equal(s->header_b[8], '\0');
	run_free(&r);
	free(msg);
}

static void test_no_signature(void **state)
{
	(void)state;
	static const char msg[] = "From: a@example.com\r\nSubject: hi\r\n\r\nbody\r\n";
	struct run r;
	assert_int_equal(verify_with(&r, msg, sizeof(msg) - 1, 0, 0, dkim_zone), MAILAUTH_NONE);
	assert_int_equal(dkim_verifier_count(r.v), 0);
	assert_int_equal(dns_cache_question_count(r.dns), 0);
	run_free(&r);
}

/* The rsa selector's key text, joined, for building variant records. */
static const char *rsa_p(void)
{
	static char p[1024];
	const char *s = strstr(dkim_zone[0].value, "p=") + 2;
	size_t n = 0;
	for (; *s != '\0'; s++)
		if (*s != '\x1f')
			p[n++] = *s;
	p[n] = '\0';
	return p;
}

static void test_key_records(void **state)
{
	(void)state;
	static const struct {
		const char *record; /* %s: the RSA key's p= value */
		enum mailauth_result result;
		const char *reason;
	} cases[] = {
		{"v=DKIM1; p=%s", MAILAUTH_PASS, ""},
		{"p=%s", MAILAUTH_PASS, ""},
		{"v=DKIM1; h=sha1:sha256; s=email:tlsrpt; n=note; k=rsa; p=%s", MAILAUTH_PASS, ""},
		{"v=DKIM1; t=y; p=%s", MAILAUTH_PASS, "testing mode"},
		{"v=DKIM1; h=sha1; p=%s", MAILAUTH_PERMERROR, "hash algorithm not allowed"},
		{"v=DKIM1; s=tlsrpt; p=%s", MAILAUTH_PERMERROR, "key not for email"},
		{"v=DKIM2; p=%s", MAILAUTH_PERMERROR, "unsupported key record version"},
		{"v=DKIM1; k=dsa; p=%s", MAILAUTH_PERMERROR, "unknown key type"},
		{"v=DKIM1; k=rsa", MAILAUTH_PERMERROR, "no p="},
		{"v=DKIM1; p=%s; p=%s", MAILAUTH_PERMERROR, "malformed key record"},
		{"v=DKIM1; p=%s; ;", MAILAUTH_PERMERROR, "malformed key record"},
		{"hello world", MAILAUTH_PERMERROR, "malformed key record"},
		{"v=DKIM1; p=AAAA", MAILAUTH_PERMERROR, "bad key data"},
		{"v=DKIM1; p=%s!", MAILAUTH_PERMERROR, "bad key data"},
		/* 3.6.1 lets p= be folded like any tag value. */
		{"v=DKIM1; p=MIIBIjANBgkqhkiG9w0BAQEFAAOC\r\n AQ8A%s", MAILAUTH_PASS, ""},
		{"v=DKIM1; k=rsa; p=%s;", MAILAUTH_PASS, ""},
	};
	size_t len;
	char *msg = read_vector("rsa_relaxed_relaxed", &len);
	char record[2048];
	for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		const char *p = rsa_p();
		/* The folded case supplies the first 32 characters itself. */
		if (strstr(cases[k].record, "AQ8A%s") != NULL)
			p += 32;
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
		snprintf(record, sizeof(record), cases[k].record, p, p);
#pragma GCC diagnostic pop
		const struct fake_rr zone[] = {
			{"rsa._domainkey.example.com", DNS_T_TXT, record},
			{NULL, 0, NULL},
		};
		struct run r;
		enum mailauth_result got = verify_with(&r, msg, len, 0, 0, zone);
		const char *reason = dkim_verifier_signature(r.v, 0)->reason;
		if (got != cases[k].result || strstr(reason, cases[k].reason) == NULL)
			fail_msg("key record %zu: %s \"%s\"", k, mailauth_result_name(got), reason);
		run_free(&r);
	}

	/* A bare RSAPublicKey (PKCS#1) in p=: the SPKI minus its 24-byte
	 * (32-character) prefix. Accepted, as python3-dkim and OpenDKIM do. */
	snprintf(record, sizeof(record), "v=DKIM1; p=%s", rsa_p() + 32);
	const struct fake_rr pkcs1[] = {{"rsa._domainkey.example.com", DNS_T_TXT, record},
					{NULL, 0, NULL}};
	struct run r;
	assert_int_equal(verify_with(&r, msg, len, 0, 0, pkcs1), MAILAUTH_PASS);
	run_free(&r);

	/* Two records: undefined by RFC 6376 3.6.2.2, so no verdict. */
	snprintf(record, sizeof(record), "v=DKIM1; p=%s", rsa_p());
	const struct fake_rr two[] = {{"rsa._domainkey.example.com", DNS_T_TXT, record},
				      {"rsa._domainkey.example.com", DNS_T_TXT, record},
				      {NULL, 0, NULL}};
	assert_int_equal(verify_with(&r, msg, len, 0, 0, two), MAILAUTH_PERMERROR);
	assert_non_null(strstr(dkim_verifier_signature(r.v, 0)->reason, "several key records"));
	run_free(&r);

	/* NODATA is no key, as NXDOMAIN is. */
	const struct fake_rr nodata[] = {{"rsa._domainkey.example.com", DNS_T_A, "192.0.2.1"},
					 {NULL, 0, NULL}};
	assert_int_equal(verify_with(&r, msg, len, 0, 0, nodata), MAILAUTH_PERMERROR);
	assert_string_equal(dkim_verifier_signature(r.v, 0)->reason, "no key");
	run_free(&r);
	free(msg);
}

/* Signature fields that are wrong before any key is needed: permerror,
 * and no DNS question. */
static void test_tag_errors(void **state)
{
	(void)state;
	static const struct {
		const char *tags;
		const char *reason;
	} cases[] = {
		{"v=1; a=rsa-sha256; d=example.com; s=rsa; h=from; bh=AAAA; b=AAAA; d=example.com",
		 "malformed tag list"},
		{"v=1; a=rsa-sha256; d=example.com; s=rsa; h=from; bh=AAAA; b=AAAA;;",
		 "malformed tag list"},
		{"v=1; a=rsa-sha256; d=example.com; s=rsa; h=from; bh=AAAA; b=AAAA; 9x=1",
		 "malformed tag list"},
		{"v=1; a=rsa-sha256; d=example.com; s=rsa; h=from; bh=AAAA; b", "malformed tag list"},
		{"v=1; a=rsa-sha256; d=example.com; s=rsa; h=from; bh=AAAA; b=AA\x01" "AA",
		 "malformed tag list"},
		{"a=rsa-sha256; d=example.com; s=rsa; h=from; bh=AAAA; b=AAAA", "missing v= tag"},
		{"v=1; d=example.com; s=rsa; h=from; bh=AAAA; b=AAAA", "missing a= tag"},
		{"v=1; a=rsa-sha256; d=example.com; s=rsa; h=from; b=AAAA", "missing bh= tag"},
		{"v=1; a=rsa-sha256; s=rsa; h=from; bh=AAAA; b=AAAA", "missing d= tag"},
		{"v=1; a=rsa-sha256; d=example.com; h=from; bh=AAAA; b=AAAA", "missing s= tag"},
		{"v=1; a=rsa-sha256; d=example.com; s=rsa; bh=AAAA; b=AAAA", "missing h= tag"},
		{"v=2; a=rsa-sha256; d=example.com; s=rsa; h=from; bh=AAAA; b=AAAA",
		 "unsupported version"},
		{"v=1; a=hmac-sha256; d=example.com; s=rsa; h=from; bh=AAAA; b=AAAA",
		 "unknown algorithm"},
		{"v=1; a=rsa-sha256; c=relaxed/fancy; d=example.com; s=rsa; h=from; bh=AAAA; b=AAAA",
		 "unknown canonicalization"},
		{"v=1; a=rsa-sha256; c=relaxed/; d=example.com; s=rsa; h=from; bh=AAAA; b=AAAA",
		 "unknown canonicalization"},
		{"v=1; a=rsa-sha256; d=exa mple.com; s=rsa; h=from; bh=AAAA; b=AAAA", "bad domain"},
		{"v=1; a=rsa-sha256; d=example..com; s=rsa; h=from; bh=AAAA; b=AAAA", "bad domain"},
		{"v=1; a=rsa-sha256; d=example.com; s=r/sa; h=from; bh=AAAA; b=AAAA", "bad selector"},
		{"v=1; a=rsa-sha256; d=example.com; s=rsa; i=a@badexample.com; h=from; bh=AAAA; "
		 "b=AAAA",
		 "not within domain"},
		{"v=1; a=rsa-sha256; d=example.com; s=rsa; i=example.com; h=from; bh=AAAA; b=AAAA",
		 "not within domain"},
		{"v=1; a=rsa-sha256; d=example.com; s=rsa; q=http/get; h=from; bh=AAAA; b=AAAA",
		 "query method"},
		{"v=1; a=rsa-sha256; d=example.com; s=rsa; l=12a; h=from; bh=AAAA; b=AAAA",
		 "body length"},
		{"v=1; a=rsa-sha256; d=example.com; s=rsa; t=-5; h=from; bh=AAAA; b=AAAA",
		 "bad timestamp"},
		{"v=1; a=rsa-sha256; d=example.com; s=rsa; x=soon; h=from; bh=AAAA; b=AAAA",
		 "bad expiration"},
		{"v=1; a=rsa-sha256; d=example.com; s=rsa; t=1700000000; x=1690000000; h=from; "
		 "bh=AAAA; b=AAAA",
		 "before timestamp"},
		{"v=1; a=rsa-sha256; d=example.com; s=rsa; t=99999999999999999999999; h=from; "
		 "bh=AAAA; b=AAAA",
		 "in the future"},
		{"v=1; a=rsa-sha256; d=example.com; s=rsa; h=from; bh=AAA; b=AAAA", "bad body hash"},
		{"v=1; a=rsa-sha256; d=example.com; s=rsa; h=from; bh=AAAA; b=", "bad signature data"},
		{"v=1; a=rsa-sha256; d=example.com; s=rsa; h=from; bh=AAAA; b=AA==AA==",
		 "bad signature data"},
		{"v=1; a=rsa-sha256; d=example.com; s=rsa; h=from:; bh=AAAA; b=AAAA",
		 "bad signed header list"},
		{"v=1; a=rsa-sha256; d=example.com; s=rsa; h=from:to cc; bh=AAAA; b=AAAA",
		 "bad signed header list"},
		{"v=1; a=rsa-sha256; d=example.com; s=rsa; h=to:subject; bh=AAAA; b=AAAA",
		 "From field not signed"},
	};
	for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		char msg[1024];
		int n = snprintf(msg, sizeof(msg),
				 "DKIM-Signature: %s\r\nFrom: a@example.com\r\n\r\nbody\r\n",
				 cases[k].tags);
		struct run r;
		enum mailauth_result got = verify_with(&r, msg, (size_t)n, 0, 0, dkim_zone);
		const char *reason = dkim_verifier_signature(r.v, 0)->reason;
		if (got != MAILAUTH_PERMERROR || strstr(reason, cases[k].reason) == NULL)
			fail_msg("tags %zu: %s \"%s\", want \"%s\"", k, mailauth_result_name(got),
				 reason, cases[k].reason);
		assert_int_equal(dns_cache_question_count(r.dns), 0);
		run_free(&r);
	}
}

/* A well-formed signature whose l= claims more body than arrived. */
static void test_body_length_past_end(void **state)
{
	(void)state;
	size_t len;
	char *msg = read_vector("body_length_appended", &len);
	/* Cut the body after its first line. */
	char *cut = strstr(strstr(msg, "\r\n\r\n") + 4, "\r\n") + 2;
	struct run r;
	assert_int_equal(verify_with(&r, msg, (size_t)(cut - msg), 0, 0, dkim_zone),
			 MAILAUTH_PERMERROR);
	assert_non_null(strstr(dkim_verifier_signature(r.v, 0)->reason, "exceeds body"));
	run_free(&r);
	free(msg);
}

static void test_header_too_large(void **state)
{
	(void)state;
	size_t len;
	char *msg = read_vector("rsa_relaxed_relaxed", &len);
	struct dkim_verifier *v = dkim_verifier_new(DKIM_VECTORS_NOW);
	struct dns_cache *dns = dns_cache_new();
	size_t big = 64 * 1024;
	char *field = malloc(big);
	memset(field, 'x', big);
	memcpy(field, "X-Big: ", 7);
	/* The signature first, then more header than is kept. */
	const char *end = strstr(msg, "==\r\n") + 2;
	dkim_verifier_header(v, msg, (size_t)(end - msg));
	for (int i = 0; i < 20; i++)
		dkim_verifier_header(v, field, big);
	dkim_verifier_eoh(v);
	dkim_verifier_body(v, "hi\r\n", 4);
	dkim_verifier_eom(v);
	struct run r = {v, dns};
	assert_int_equal(fake_dns_run(dns, dkim_zone, eval, &r), MAILAUTH_PERMERROR);
	assert_non_null(strstr(dkim_verifier_signature(v, 0)->reason, "header too large"));
	dkim_verifier_free(v);
	dns_cache_free(dns);
	free(field);
	free(msg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vectors),
		cmocka_unit_test(test_every_split_point),
		cmocka_unit_test(test_many_signatures),
		cmocka_unit_test(test_prefetch_after_eoh),
		cmocka_unit_test(test_header_b),
		cmocka_unit_test(test_no_signature),
		cmocka_unit_test(test_key_records),
		cmocka_unit_test(test_tag_errors),
		cmocka_unit_test(test_body_length_past_end),
		cmocka_unit_test(test_header_too_large),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
