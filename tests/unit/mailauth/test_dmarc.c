/*
 * Unit tests for mailauth/dmarc: policy discovery (From domain, then the
 * organisational domain), the record syntax, alignment in both modes for
 * SPF and DKIM, p/sp/pct, and DNS failures. The multi-label public suffix
 * cases (co.uk) are the ones libopendmarc gets wrong.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "fake_dns.h"
#include "mailauth/dmarc.h"

static const struct fake_rr zone[] = {
	/* example.com: reject for itself, quarantine for subdomains. */
	{"_dmarc.example.com", DNS_T_TXT, "v=DMARC1; p=reject; sp=quarantine; rua=mailto:d@example.com"},
	/* A subdomain with its own record (no fallback). */
	{"_dmarc.own.example.com", DNS_T_TXT, "v=DMARC1; p=none"},
	/* A subdomain whose only TXT is not DMARC: falls back. */
	{"_dmarc.spf.example.com", DNS_T_TXT, "v=spf1 -all"},
	/* Strict modes. */
	{"_dmarc.strict.test", DNS_T_TXT, "v=DMARC1; p=reject; adkim=s; aspf=s"},
	/* pct. */
	{"_dmarc.half.test", DNS_T_TXT, "v=DMARC1; p=reject; pct=50"},
	{"_dmarc.halfq.test", DNS_T_TXT, "v=DMARC1; p=quarantine; pct=50"},
	{"_dmarc.zero.test", DNS_T_TXT, "v=DMARC1; p=reject; pct=0"},
	{"_dmarc.full.test", DNS_T_TXT, "v=DMARC1; p=reject; pct=100"},
	{"_dmarc.nonepct.test", DNS_T_TXT, "v=DMARC1; p=none; pct=0"},
	/* Two DMARC records at the From domain, and at an org domain. */
	{"_dmarc.multi.test", DNS_T_TXT, "v=DMARC1; p=reject"},
	{"_dmarc.multi.test", DNS_T_TXT, "v=DMARC1; p=none"},
	{"_dmarc.sub.multi.test", DNS_T_TXT, "v=DMARC1; p=reject"},
	{"_dmarc.sub.multi.test", DNS_T_TXT, "v=DMARC1; p=quarantine"},
	/* One DMARC record among other TXT records is fine. */
	{"_dmarc.mixed.test", DNS_T_TXT, "some verification token"},
	{"_dmarc.mixed.test", DNS_T_TXT, "v=DMARC1; p=reject"},
	{"_dmarc.mixed.test", DNS_T_TXT, "v=DMARC1p=none"},
	/* DNS failures. */
	{"_dmarc.broken.test", DNS_T_TXT, "!TEMPFAIL"},
	{"_dmarc.orgbroken.test", DNS_T_TXT, "!TEMPFAIL"},
	/* Multi-label public suffix: the org domain is example.co.uk, and a
	 * record at _dmarc.co.uk must never be consulted. */
	{"_dmarc.example.co.uk", DNS_T_TXT, "v=DMARC1; p=reject; sp=reject; adkim=r; aspf=r"},
	{"_dmarc.co.uk", DNS_T_TXT, "v=DMARC1; p=none"},
	{"_dmarc.strict.co.uk", DNS_T_TXT, "v=DMARC1; p=reject; adkim=s; aspf=s"},
	{NULL, 0, NULL},
};

struct run {
	struct dns_cache *dns;
	struct dmarc_request req;
	struct dmarc_outcome out;
};

static enum mailauth_result eval(void *arg)
{
	struct run *r = arg;
	return dmarc_check(r->dns, &r->req, &r->out);
}

/* Runs dmarc_check against z with an SPF result for spf_domain and at
 * most one passing DKIM domain. */
static enum mailauth_result check_in(const struct fake_rr *z, struct run *r, const char *from,
				     enum mailauth_result spf, const char *spf_domain,
				     const char *dkim_domain, unsigned roll)
{
	static const char *dkim[1];
	dkim[0] = dkim_domain;
	r->dns = dns_cache_new();
	r->req = (struct dmarc_request){
		.from_domain = from,
		.spf_result = spf,
		.spf_domain = spf_domain,
		.dkim_pass_domains = dkim,
		.dkim_pass_count = dkim_domain != NULL ? 1 : 0,
		.pct_roll = roll,
	};
	enum mailauth_result res = fake_dns_run(r->dns, z, eval, r);
	assert_int_equal(res, r->out.result);
	return res;
}

static enum mailauth_result check(struct run *r, const char *from, enum mailauth_result spf,
				  const char *spf_domain, const char *dkim_domain, unsigned roll)
{
	return check_in(zone, r, from, spf, spf_domain, dkim_domain, roll);
}

static void done(struct run *r)
{
	dns_cache_free(r->dns);
	r->dns = NULL;
}

static void test_pass_via_spf_only(void **state)
{
	(void)state;
	struct run r;
	assert_int_equal(check(&r, "example.com", MAILAUTH_PASS, "bounce.example.com", NULL, 0),
			 MAILAUTH_PASS);
	assert_true(r.out.spf_aligned);
	assert_false(r.out.dkim_aligned);
	assert_int_equal(r.out.policy, DMARC_POLICY_REJECT);
	assert_int_equal(r.out.disposition, DMARC_POLICY_NONE);
	assert_string_equal(r.out.header_from, "example.com");
	assert_string_equal(r.out.policy_domain, "example.com");
	assert_string_equal(r.out.reason, "SPF aligned");
	/* One question: the record was at the From domain. */
	assert_int_equal(dns_cache_question_count(r.dns), 1);
	done(&r);
}

static void test_pass_via_dkim_only(void **state)
{
	(void)state;
	struct run r;
	assert_int_equal(check(&r, "example.com", MAILAUTH_FAIL, "example.com", "mail.example.com", 0),
			 MAILAUTH_PASS);
	assert_false(r.out.spf_aligned);
	assert_true(r.out.dkim_aligned);
	assert_string_equal(r.out.reason, "DKIM aligned");
	done(&r);
	/* Among several passing signatures, one aligned one is enough. */
	const char *domains[] = {"other.example", NULL, "Example.COM"};
	r.dns = dns_cache_new();
	r.req = (struct dmarc_request){.from_domain = "example.com", .spf_result = MAILAUTH_NONE,
				       .dkim_pass_domains = domains, .dkim_pass_count = 3};
	assert_int_equal(fake_dns_run(r.dns, zone, eval, &r), MAILAUTH_PASS);
	assert_true(r.out.dkim_aligned);
	done(&r);
}

static void test_spf_counts_only_on_pass(void **state)
{
	(void)state;
	struct run r;
	static const enum mailauth_result others[] = {
		MAILAUTH_NONE, MAILAUTH_FAIL, MAILAUTH_SOFTFAIL, MAILAUTH_NEUTRAL,
		MAILAUTH_TEMPERROR, MAILAUTH_PERMERROR,
	};
	for (size_t i = 0; i < sizeof(others) / sizeof(others[0]); i++) {
		assert_int_equal(check(&r, "example.com", others[i], "example.com", NULL, 0),
				 MAILAUTH_FAIL);
		assert_false(r.out.spf_aligned);
		done(&r);
	}
	/* A pass without a domain aligns with nothing. */
	assert_int_equal(check(&r, "example.com", MAILAUTH_PASS, NULL, NULL, 0), MAILAUTH_FAIL);
	done(&r);
}

static void test_fail_unaligned(void **state)
{
	(void)state;
	struct run r;
	assert_int_equal(check(&r, "example.com", MAILAUTH_PASS, "example.net", "example.org", 0),
			 MAILAUTH_FAIL);
	assert_false(r.out.spf_aligned);
	assert_false(r.out.dkim_aligned);
	assert_int_equal(r.out.policy, DMARC_POLICY_REJECT);
	assert_int_equal(r.out.disposition, DMARC_POLICY_REJECT);
	assert_string_equal(r.out.reason, "neither SPF nor DKIM aligned");
	done(&r);
	/* A look-alike suffix is not the same organisational domain. */
	assert_int_equal(check(&r, "example.com", MAILAUTH_PASS, "notexample.com", "example.com.evil", 0),
			 MAILAUTH_FAIL);
	done(&r);
}

static void test_strict_spf(void **state)
{
	(void)state;
	struct run r;
	assert_int_equal(check(&r, "strict.test", MAILAUTH_PASS, "bounce.strict.test", NULL, 0),
			 MAILAUTH_FAIL);
	assert_false(r.out.spf_aligned);
	done(&r);
	assert_int_equal(check(&r, "strict.test", MAILAUTH_PASS, "STRICT.test.", NULL, 0), MAILAUTH_PASS);
	assert_true(r.out.spf_aligned);
	done(&r);
	/* Relaxed (the default) takes the subdomain. */
	assert_int_equal(check(&r, "example.com", MAILAUTH_PASS, "a.b.example.com", NULL, 0),
			 MAILAUTH_PASS);
	done(&r);
}

static void test_strict_dkim(void **state)
{
	(void)state;
	struct run r;
	assert_int_equal(check(&r, "strict.test", MAILAUTH_NONE, NULL, "mail.strict.test", 0),
			 MAILAUTH_FAIL);
	assert_false(r.out.dkim_aligned);
	done(&r);
	assert_int_equal(check(&r, "strict.test", MAILAUTH_NONE, NULL, "strict.test", 0), MAILAUTH_PASS);
	assert_true(r.out.dkim_aligned);
	done(&r);
	/* Strict the other way round: the From domain is the subdomain. The
	 * record comes from the org domain (strict.test) and applies. */
	assert_int_equal(check(&r, "sub.strict.test", MAILAUTH_PASS, "strict.test", "strict.test", 0),
			 MAILAUTH_FAIL);
	assert_string_equal(r.out.policy_domain, "strict.test");
	done(&r);
	assert_int_equal(check(&r, "sub.strict.test", MAILAUTH_FAIL, NULL, "sub.strict.test", 0),
			 MAILAUTH_PASS);
	done(&r);
}

static void test_p_and_sp(void **state)
{
	(void)state;
	struct run r;
	/* p applies at the From domain itself. */
	check(&r, "example.com", MAILAUTH_FAIL, NULL, NULL, 0);
	assert_int_equal(r.out.policy, DMARC_POLICY_REJECT);
	done(&r);
	/* sp applies to a subdomain that found the org domain's record. */
	check(&r, "mail.example.com", MAILAUTH_FAIL, NULL, NULL, 0);
	assert_int_equal(r.out.result, MAILAUTH_FAIL);
	assert_string_equal(r.out.policy_domain, "example.com");
	assert_int_equal(r.out.policy, DMARC_POLICY_QUARANTINE);
	assert_int_equal(r.out.disposition, DMARC_POLICY_QUARANTINE);
	assert_int_equal(dns_cache_question_count(r.dns), 2);
	done(&r);
	/* Without sp, subdomains get p. */
	check(&r, "x.half.test", MAILAUTH_FAIL, NULL, NULL, 0);
	assert_int_equal(r.out.policy, DMARC_POLICY_REJECT);
	done(&r);
	/* A subdomain with its own record uses it (and its p, not sp). */
	check(&r, "own.example.com", MAILAUTH_FAIL, NULL, NULL, 0);
	assert_string_equal(r.out.policy_domain, "own.example.com");
	assert_int_equal(r.out.policy, DMARC_POLICY_NONE);
	assert_int_equal(r.out.disposition, DMARC_POLICY_NONE);
	assert_int_equal(dns_cache_question_count(r.dns), 1);
	done(&r);
}

static void test_pct(void **state)
{
	(void)state;
	struct run r;
	/* pct=50: rolls 0..49 get the policy, 50..99 the next lower one. */
	check(&r, "half.test", MAILAUTH_FAIL, NULL, NULL, 49);
	assert_int_equal(r.out.disposition, DMARC_POLICY_REJECT);
	assert_string_equal(r.out.reason, "neither SPF nor DKIM aligned");
	done(&r);
	check(&r, "half.test", MAILAUTH_FAIL, NULL, NULL, 50);
	assert_int_equal(r.out.policy, DMARC_POLICY_REJECT);
	assert_int_equal(r.out.disposition, DMARC_POLICY_QUARANTINE);
	assert_string_equal(r.out.reason, "neither SPF nor DKIM aligned: pct=50 sampled out");
	done(&r);
	check(&r, "halfq.test", MAILAUTH_FAIL, NULL, NULL, 49);
	assert_int_equal(r.out.disposition, DMARC_POLICY_QUARANTINE);
	done(&r);
	check(&r, "halfq.test", MAILAUTH_FAIL, NULL, NULL, 99);
	assert_int_equal(r.out.policy, DMARC_POLICY_QUARANTINE);
	assert_int_equal(r.out.disposition, DMARC_POLICY_NONE);
	done(&r);
	/* pct=0 never applies; pct=100 always does. */
	check(&r, "zero.test", MAILAUTH_FAIL, NULL, NULL, 0);
	assert_int_equal(r.out.disposition, DMARC_POLICY_QUARANTINE);
	done(&r);
	check(&r, "full.test", MAILAUTH_FAIL, NULL, NULL, 99);
	assert_int_equal(r.out.disposition, DMARC_POLICY_REJECT);
	done(&r);
	/* Default pct is 100. */
	check(&r, "example.com", MAILAUTH_FAIL, NULL, NULL, 99);
	assert_int_equal(r.out.disposition, DMARC_POLICY_REJECT);
	done(&r);
	/* p=none has nothing to lower. */
	check(&r, "nonepct.test", MAILAUTH_FAIL, NULL, NULL, 99);
	assert_int_equal(r.out.disposition, DMARC_POLICY_NONE);
	done(&r);
	/* A pass is never touched by pct. */
	check(&r, "half.test", MAILAUTH_PASS, "half.test", NULL, 99);
	assert_int_equal(r.out.result, MAILAUTH_PASS);
	assert_int_equal(r.out.disposition, DMARC_POLICY_NONE);
	done(&r);
}

static void test_no_record(void **state)
{
	(void)state;
	struct run r;
	assert_int_equal(check(&r, "nodmarc.test", MAILAUTH_PASS, "nodmarc.test", NULL, 0),
			 MAILAUTH_NONE);
	assert_int_equal(r.out.policy, DMARC_POLICY_UNSPECIFIED);
	assert_int_equal(r.out.disposition, DMARC_POLICY_UNSPECIFIED);
	assert_string_equal(r.out.reason, "no DMARC record");
	assert_string_equal(r.out.policy_domain, "");
	assert_string_equal(r.out.header_from, "nodmarc.test");
	/* nodmarc.test is its own org domain: one question only. */
	assert_int_equal(dns_cache_question_count(r.dns), 1);
	done(&r);
	/* A subdomain of it asks twice. */
	check(&r, "a.b.nodmarc.test", MAILAUTH_NONE, NULL, NULL, 0);
	assert_int_equal(r.out.result, MAILAUTH_NONE);
	assert_int_equal(dns_cache_question_count(r.dns), 2);
	assert_non_null(dns_cache_get(r.dns, "_dmarc.nodmarc.test", DNS_T_TXT));
	done(&r);
}

static void test_org_domain_fallback(void **state)
{
	(void)state;
	struct run r;
	/* Deep subdomain: straight to the org domain, not the parent. */
	check(&r, "a.b.c.example.com", MAILAUTH_PASS, "example.com", NULL, 0);
	assert_int_equal(r.out.result, MAILAUTH_PASS);
	assert_string_equal(r.out.policy_domain, "example.com");
	assert_non_null(dns_cache_get(r.dns, "_dmarc.a.b.c.example.com", DNS_T_TXT));
	assert_int_equal(dns_cache_question_count(r.dns), 2);
	done(&r);
	/* A TXT record that is not DMARC does not stop the fallback. */
	check(&r, "spf.example.com", MAILAUTH_FAIL, NULL, NULL, 0);
	assert_int_equal(r.out.result, MAILAUTH_FAIL);
	assert_string_equal(r.out.policy_domain, "example.com");
	assert_int_equal(r.out.policy, DMARC_POLICY_QUARANTINE);
	done(&r);
}

static void test_multiple_records(void **state)
{
	(void)state;
	struct run r;
	check(&r, "multi.test", MAILAUTH_FAIL, NULL, NULL, 0);
	assert_int_equal(r.out.result, MAILAUTH_NONE);
	assert_int_equal(r.out.policy, DMARC_POLICY_UNSPECIFIED);
	assert_int_equal(r.out.disposition, DMARC_POLICY_UNSPECIFIED);
	assert_string_equal(r.out.reason, "multiple DMARC records: multi.test");
	done(&r);
	/* Two records at the From domain end discovery: the org domain's
	 * single record is not consulted (6.6.3 step 5). */
	check(&r, "sub.multi.test", MAILAUTH_FAIL, NULL, NULL, 0);
	assert_int_equal(r.out.result, MAILAUTH_NONE);
	assert_string_equal(r.out.reason, "multiple DMARC records: sub.multi.test");
	assert_int_equal(dns_cache_question_count(r.dns), 1);
	done(&r);
	/* Two at the org domain: none as well. */
	check(&r, "x.multi.test", MAILAUTH_FAIL, NULL, NULL, 0);
	assert_int_equal(r.out.result, MAILAUTH_NONE);
	assert_string_equal(r.out.reason, "multiple DMARC records: multi.test");
	done(&r);
	/* Other TXT records, and one that only looks like DMARC, don't count. */
	check(&r, "mixed.test", MAILAUTH_FAIL, NULL, NULL, 0);
	assert_int_equal(r.out.result, MAILAUTH_FAIL);
	assert_int_equal(r.out.policy, DMARC_POLICY_REJECT);
	done(&r);
}

/* One record at _dmarc.rec.test. */
struct record_case {
	const char *txt;
	enum mailauth_result result; /* SPF passes for other.test, or for
					sub.rec.test when relaxed is set */
	enum dmarc_policy policy;
	const char *reason;
	bool relaxed;
};

static void test_records(void **state)
{
	(void)state;
	static const struct record_case cases[] = {
		/* Whitespace and case allowed by the grammar. */
		{" v = DMARC1 ;\tp = REJECT ; ", MAILAUTH_FAIL, DMARC_POLICY_REJECT, NULL, false},
		{"v=DMARC1;p=Quarantine", MAILAUTH_FAIL, DMARC_POLICY_QUARANTINE, NULL, false},
		/* Split over two character-strings. */
		{"v=DMARC1; p=re\x1fject", MAILAUTH_FAIL, DMARC_POLICY_REJECT, NULL, false},
		/* Empty tag specs are tolerated; unknown tags ignored. */
		{"v=DMARC1;; p=reject;;", MAILAUTH_FAIL, DMARC_POLICY_REJECT, NULL, false},
		{"v=DMARC1; p=reject; x_new=whatever; fo=1; rf=afrf; ri=86400; ruf=mailto:f@rec.test",
		 MAILAUTH_FAIL, DMARC_POLICY_REJECT, NULL, false},
		{"v=DMARC1; p=reject; future=caf\xc3\xa9", MAILAUTH_FAIL, DMARC_POLICY_REJECT, NULL, false},
		/* Invalid optional values fall back to their defaults: relaxed
		 * alignment, pct=100 (the roll is 99). */
		{"v=DMARC1; p=reject; aspf=x; adkim=relaxed", MAILAUTH_PASS, DMARC_POLICY_REJECT, NULL,
		 true},
		{"v=DMARC1; p=reject; pct=abc", MAILAUTH_FAIL, DMARC_POLICY_REJECT, NULL, false},
		{"v=DMARC1; p=reject; pct=101", MAILAUTH_FAIL, DMARC_POLICY_REJECT, NULL, false},
		{"v=DMARC1; p=reject; pct=0100", MAILAUTH_FAIL, DMARC_POLICY_REJECT, NULL, false},
		{"v=DMARC1; p=reject; aspf=s", MAILAUTH_FAIL, DMARC_POLICY_REJECT, NULL, true},
		{"v=DMARC1; p=reject; aspf=S", MAILAUTH_FAIL, DMARC_POLICY_REJECT, NULL, true},
		{"v=DMARC1; p=reject; aspf=r", MAILAUTH_PASS, DMARC_POLICY_REJECT, NULL, true},
		/* v must come first, spelt exactly: otherwise not DMARC. */
		{"p=reject; v=DMARC1", MAILAUTH_NONE, DMARC_POLICY_UNSPECIFIED, "no DMARC record", false},
		{"v=dmarc1; p=reject", MAILAUTH_NONE, DMARC_POLICY_UNSPECIFIED, "no DMARC record", false},
		{"V=DMARC1; p=reject", MAILAUTH_NONE, DMARC_POLICY_UNSPECIFIED, "no DMARC record", false},
		{"v=DMARC2; p=reject", MAILAUTH_NONE, DMARC_POLICY_UNSPECIFIED, "no DMARC record", false},
		{"v=DMARC1 p=reject", MAILAUTH_NONE, DMARC_POLICY_UNSPECIFIED, "no DMARC record", false},
		{"", MAILAUTH_NONE, DMARC_POLICY_UNSPECIFIED, "no DMARC record", false},
		/* No or bad p without a usable rua: unusable (6.6.3 step 6). */
		{"v=DMARC1", MAILAUTH_PERMERROR, DMARC_POLICY_UNSPECIFIED,
		 "invalid DMARC record at rec.test: no p tag", false},
		{"v=DMARC1; p=block", MAILAUTH_PERMERROR, DMARC_POLICY_UNSPECIFIED,
		 "invalid DMARC record at rec.test: invalid p tag", false},
		{"v=DMARC1; p=", MAILAUTH_PERMERROR, DMARC_POLICY_UNSPECIFIED,
		 "invalid DMARC record at rec.test: invalid p tag", false},
		{"v=DMARC1; p=reject; sp=maybe", MAILAUTH_PERMERROR, DMARC_POLICY_UNSPECIFIED,
		 "invalid DMARC record at rec.test: invalid sp tag", false},
		{"v=DMARC1; p=bad; rua=not a uri", MAILAUTH_PERMERROR, DMARC_POLICY_UNSPECIFIED,
		 "invalid DMARC record at rec.test: invalid p tag", false},
		{"v=DMARC1; p=bad; rua=mailto:a@rec.test!x", MAILAUTH_PERMERROR,
		 DMARC_POLICY_UNSPECIFIED, "invalid DMARC record at rec.test: invalid p tag", false},
		/* ... with one: act as p=none. */
		{"v=DMARC1; rua=mailto:d@rec.test", MAILAUTH_FAIL, DMARC_POLICY_NONE, NULL, false},
		{"v=DMARC1; p=bad; rua=junk, mailto:d@rec.test!10m", MAILAUTH_FAIL, DMARC_POLICY_NONE, NULL, false},
		{"v=DMARC1; p=reject; sp=bad; rua=https://rec.test/r", MAILAUTH_FAIL, DMARC_POLICY_NONE, NULL, false},
		/* Broken tag lists are unusable. */
		{"v=DMARC1; p=reject; junk", MAILAUTH_PERMERROR, DMARC_POLICY_UNSPECIFIED,
		 "invalid DMARC record at rec.test: tag syntax", false},
		{"v=DMARC1; p=reject; 1x=y", MAILAUTH_PERMERROR, DMARC_POLICY_UNSPECIFIED,
		 "invalid DMARC record at rec.test: tag syntax", false},
		{"v=DMARC1; p=reject; =y", MAILAUTH_PERMERROR, DMARC_POLICY_UNSPECIFIED,
		 "invalid DMARC record at rec.test: tag syntax", false},
		{"v=DMARC1; p=reject; x=\x01", MAILAUTH_PERMERROR, DMARC_POLICY_UNSPECIFIED,
		 "invalid DMARC record at rec.test: tag syntax", false},
		{"v=DMARC1; p=reject; p=none", MAILAUTH_PERMERROR, DMARC_POLICY_UNSPECIFIED,
		 "invalid DMARC record at rec.test: duplicate tag", false},
		{"v=DMARC1; p=reject; v=DMARC1", MAILAUTH_PERMERROR, DMARC_POLICY_UNSPECIFIED,
		 "invalid DMARC record at rec.test: duplicate tag", false},
		{"v=DMARC1; p=reject; a=1;b=1;c=1;d=1;e=1;f=1;g=1;h=1;i=1;j=1;k=1;l=1;m=1;n=1;o=1;"
		 "q=1;r=1;s=1;t=1;u=1;w=1;x=1;y=1;z=1;aa=1;bb=1;cc=1;dd=1;ee=1;ff=1;gg=1",
		 MAILAUTH_PERMERROR, DMARC_POLICY_UNSPECIFIED,
		 "invalid DMARC record at rec.test: too many tags", false},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct record_case *c = &cases[i];
		const struct fake_rr z[] = {
			{"_dmarc.rec.test", DNS_T_TXT, c->txt},
			{NULL, 0, NULL},
		};
		struct run r;
		print_message("record %zu: %s\n", i, c->txt);
		check_in(z, &r, "rec.test", MAILAUTH_PASS, c->relaxed ? "sub.rec.test" : "other.test",
			 NULL, 99);
		assert_int_equal(r.out.result, c->result);
		assert_int_equal(r.out.policy, c->policy);
		/* The roll is 99: only pct=100 (the default) keeps the policy. */
		if (c->result == MAILAUTH_FAIL)
			assert_int_equal(r.out.disposition, c->policy);
		if (c->reason != NULL)
			assert_string_equal(r.out.reason, c->reason);
		if (c->result == MAILAUTH_PERMERROR || c->result == MAILAUTH_NONE)
			assert_int_equal(r.out.disposition, DMARC_POLICY_UNSPECIFIED);
		done(&r);
	}
}

static void test_record_with_nul(void **state)
{
	(void)state;
	/* TXT data may hold NUL bytes; the record's length is exact. */
	struct dns_cache *dns = dns_cache_new();
	static const char txt[] = "v=DMARC1; p=reject; x=a\0b";
	struct dns_record rec = {.data = (char *)txt, .len = sizeof(txt) - 1};
	dns_cache_put(dns, "_dmarc.nul.test", DNS_T_TXT, DNS_OK, &rec, 1);
	struct dmarc_request req = {.from_domain = "nul.test"};
	struct dmarc_outcome out;
	assert_int_equal(dmarc_check(dns, &req, &out), MAILAUTH_PERMERROR);
	dns_cache_free(dns);

	dns = dns_cache_new();
	static const char txt2[] = "v=DMARC1; p=reject";
	rec = (struct dns_record){.data = (char *)txt2, .len = 10}; /* "v=DMARC1; " */
	dns_cache_put(dns, "_dmarc.nul.test", DNS_T_TXT, DNS_OK, &rec, 1);
	assert_int_equal(dmarc_check(dns, &req, &out), MAILAUTH_PERMERROR);
	assert_string_equal(out.reason, "invalid DMARC record at nul.test: no p tag");
	dns_cache_free(dns);
}

static void test_temperror(void **state)
{
	(void)state;
	struct run r;
	check(&r, "broken.test", MAILAUTH_PASS, "broken.test", NULL, 0);
	assert_int_equal(r.out.result, MAILAUTH_TEMPERROR);
	assert_int_equal(r.out.disposition, DMARC_POLICY_UNSPECIFIED);
	assert_string_equal(r.out.reason, "DNS error looking up the DMARC record: broken.test");
	assert_int_equal(dns_cache_question_count(r.dns), 1);
	done(&r);
	/* A failure at the From domain does not fall back. */
	check(&r, "sub.broken.test", MAILAUTH_PASS, "broken.test", NULL, 0);
	assert_int_equal(r.out.result, MAILAUTH_TEMPERROR);
	done(&r);
	/* A failure at the org domain after no record at the From domain. */
	check(&r, "mail.orgbroken.test", MAILAUTH_PASS, "orgbroken.test", NULL, 0);
	assert_int_equal(r.out.result, MAILAUTH_TEMPERROR);
	assert_string_equal(r.out.policy_domain, "orgbroken.test");
	done(&r);
}

static void test_pending_then_final(void **state)
{
	(void)state;
	/* Without answers: pending, and the same question every time. */
	struct dns_cache *dns = dns_cache_new();
	struct dmarc_request req = {.from_domain = "mail.example.com", .spf_result = MAILAUTH_PASS,
				    .spf_domain = "example.com"};
	struct dmarc_outcome out;
	assert_int_equal(dmarc_check(dns, &req, &out), MAILAUTH_PENDING);
	assert_int_equal(dmarc_check(dns, &req, &out), MAILAUTH_PENDING);
	struct dns_question q[4];
	assert_int_equal(dns_cache_take_questions(dns, q, 4), 1);
	assert_string_equal(q[0].name, "_dmarc.mail.example.com");
	assert_int_equal(q[0].type, DNS_T_TXT);
	dns_cache_put(dns, q[0].name, DNS_T_TXT, DNS_NXDOMAIN, NULL, 0);
	assert_int_equal(dmarc_check(dns, &req, &out), MAILAUTH_PENDING);
	assert_int_equal(dns_cache_take_questions(dns, q, 4), 1);
	assert_string_equal(q[0].name, "_dmarc.example.com");
	struct dns_record rec = {.data = "v=DMARC1; p=reject", .len = 18};
	dns_cache_put(dns, q[0].name, DNS_T_TXT, DNS_OK, &rec, 1);
	assert_int_equal(dmarc_check(dns, &req, &out), MAILAUTH_PASS);
	assert_int_equal(dmarc_check(dns, &req, &out), MAILAUTH_PASS);
	dns_cache_free(dns);
}

static void test_multi_label_suffix(void **state)
{
	(void)state;
	char org[256];
	assert_int_equal(dmarc_org_domain("mail.example.co.uk", org, sizeof(org)), 0);
	assert_string_equal(org, "example.co.uk");
	assert_int_equal(dmarc_org_domain("example.co.uk", org, sizeof(org)), 0);
	assert_string_equal(org, "example.co.uk");
	assert_int_equal(dmarc_org_domain("co.uk", org, sizeof(org)), 0);
	assert_string_equal(org, "co.uk");

	struct run r;
	/* Discovery from a subdomain stops at example.co.uk, never co.uk. */
	check(&r, "mail.example.co.uk", MAILAUTH_FAIL, NULL, NULL, 0);
	assert_int_equal(r.out.result, MAILAUTH_FAIL);
	assert_string_equal(r.out.policy_domain, "example.co.uk");
	assert_int_equal(r.out.policy, DMARC_POLICY_REJECT);
	assert_null(dns_cache_get(r.dns, "_dmarc.co.uk", DNS_T_TXT)); /* never asked */
	done(&r);
	/* Relaxed: example.co.uk and mail.example.co.uk align both ways. */
	check(&r, "example.co.uk", MAILAUTH_PASS, "mail.example.co.uk", NULL, 0);
	assert_int_equal(r.out.result, MAILAUTH_PASS);
	done(&r);
	check(&r, "mail.example.co.uk", MAILAUTH_NONE, NULL, "example.co.uk", 0);
	assert_int_equal(r.out.result, MAILAUTH_PASS);
	assert_true(r.out.dkim_aligned);
	done(&r);
	check(&r, "a.example.co.uk", MAILAUTH_PASS, "b.example.co.uk", NULL, 0);
	assert_int_equal(r.out.result, MAILAUTH_PASS);
	done(&r);
	/* Siblings under the suffix are different organisations, and the
	 * suffix itself is nobody's organisational domain. */
	check(&r, "example.co.uk", MAILAUTH_PASS, "other.co.uk", "co.uk", 0);
	assert_int_equal(r.out.result, MAILAUTH_FAIL);
	done(&r);
	/* Strict: exact names only. */
	check(&r, "strict.co.uk", MAILAUTH_PASS, "mail.strict.co.uk", "mail.strict.co.uk", 0);
	assert_int_equal(r.out.result, MAILAUTH_FAIL);
	done(&r);
	check(&r, "strict.co.uk", MAILAUTH_PASS, "strict.co.uk", NULL, 0);
	assert_int_equal(r.out.result, MAILAUTH_PASS);
	done(&r);
	/* From the public suffix itself: its own record (no fallback). */
	check(&r, "co.uk", MAILAUTH_PASS, "example.co.uk", NULL, 0);
	assert_int_equal(r.out.result, MAILAUTH_FAIL);
	assert_string_equal(r.out.policy_domain, "co.uk");
	assert_int_equal(dns_cache_question_count(r.dns), 1);
	done(&r);
}

static void test_org_domain(void **state)
{
	(void)state;
	char org[256];
	assert_int_equal(dmarc_org_domain("a.b.example.com", org, sizeof(org)), 0);
	assert_string_equal(org, "example.com");
	assert_int_equal(dmarc_org_domain("A.B.Example.COM.", org, sizeof(org)), 0);
	assert_string_equal(org, "example.com");
	assert_int_equal(dmarc_org_domain("com", org, sizeof(org)), 0);
	assert_string_equal(org, "com");
	assert_int_equal(dmarc_org_domain("x.y.city.kawasaki.jp", org, sizeof(org)), 0);
	assert_string_equal(org, "city.kawasaki.jp");
	assert_int_equal(dmarc_org_domain("example.com", org, 12), 0);
	assert_int_equal(dmarc_org_domain("example.com", org, 11), -1);
}

static void test_from_domain_errors(void **state)
{
	(void)state;
	struct dns_cache *dns = dns_cache_new();
	struct dmarc_request req = {.from_domain = NULL, .spf_result = MAILAUTH_PASS,
				    .spf_domain = "example.com"};
	struct dmarc_outcome out;
	assert_int_equal(dmarc_check(dns, &req, &out), MAILAUTH_PERMERROR);
	assert_int_equal(out.result, MAILAUTH_PERMERROR);
	assert_string_equal(out.reason, "no single RFC5322.From domain");
	assert_string_equal(out.header_from, "");
	assert_int_equal(out.disposition, DMARC_POLICY_UNSPECIFIED);
	static const char *const bad[] = {"", ".", "a..b", ".example.com", "exa mple.com",
					  "example.com;x", "a\r\nb.com", "x..", "a/b.com"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		req.from_domain = bad[i];
		assert_int_equal(dmarc_check(dns, &req, &out), MAILAUTH_PERMERROR);
		assert_string_equal(out.reason, "invalid RFC5322.From domain");
	}
	char longname[300];
	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	for (size_t i = 60; i < sizeof(longname) - 1; i += 61)
		longname[i] = '.';
	req.from_domain = longname;
	assert_int_equal(dmarc_check(dns, &req, &out), MAILAUTH_PERMERROR);
	memset(longname, 'a', 70);
	longname[70] = '\0';
	assert_int_equal(dmarc_check(dns, &req, &out), MAILAUTH_PERMERROR); /* label > 63 */
	assert_int_equal(dns_cache_question_count(dns), 0);
	dns_cache_free(dns);
}

static void test_uppercase_domains(void **state)
{
	(void)state;
	struct run r;
	check(&r, "MAIL.Example.COM.", MAILAUTH_PASS, "EXAMPLE.com", NULL, 0);
	assert_int_equal(r.out.result, MAILAUTH_PASS);
	assert_string_equal(r.out.header_from, "mail.example.com");
	assert_string_equal(r.out.policy_domain, "example.com");
	done(&r);
	check(&r, "STRICT.TEST", MAILAUTH_NONE, NULL, "Strict.Test", 0);
	assert_int_equal(r.out.result, MAILAUTH_PASS);
	assert_true(r.out.dkim_aligned);
	done(&r);
	check(&r, "Example.CO.UK", MAILAUTH_PASS, "MAIL.EXAMPLE.CO.UK", NULL, 0);
	assert_int_equal(r.out.result, MAILAUTH_PASS);
	done(&r);
}

static void test_policy_names(void **state)
{
	(void)state;
	assert_string_equal(dmarc_policy_name(DMARC_POLICY_UNSPECIFIED), "none");
	assert_string_equal(dmarc_policy_name(DMARC_POLICY_NONE), "none");
	assert_string_equal(dmarc_policy_name(DMARC_POLICY_QUARANTINE), "quarantine");
	assert_string_equal(dmarc_policy_name(DMARC_POLICY_REJECT), "reject");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pass_via_spf_only),
		cmocka_unit_test(test_pass_via_dkim_only),
		cmocka_unit_test(test_spf_counts_only_on_pass),
		cmocka_unit_test(test_fail_unaligned),
		cmocka_unit_test(test_strict_spf),
		cmocka_unit_test(test_strict_dkim),
		cmocka_unit_test(test_p_and_sp),
		cmocka_unit_test(test_pct),
		cmocka_unit_test(test_no_record),
		cmocka_unit_test(test_org_domain_fallback),
		cmocka_unit_test(test_multiple_records),
		cmocka_unit_test(test_records),
		cmocka_unit_test(test_record_with_nul),
		cmocka_unit_test(test_temperror),
		cmocka_unit_test(test_pending_then_final),
		cmocka_unit_test(test_multi_label_suffix),
		cmocka_unit_test(test_org_domain),
		cmocka_unit_test(test_from_domain_errors),
		cmocka_unit_test(test_uppercase_domains),
		cmocka_unit_test(test_policy_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
