/*
 * Unit tests for mailauth/authres: the exact bytes of the fields we write
 * (folding, quoting, comments), that nothing from DNS or the message can
 * inject a line, and recognition of fields claiming our authserv-id.
 *
 * DKIM test double: authres.c reads DKIM results only through
 * dkim_verifier_count() and dkim_verifier_signature(), so this file
 * defines struct dkim_verifier and those two functions itself. The linker
 * takes them from this object before looking in the library, so the real
 * dkim.o is never pulled in for them; nothing here uses any other DKIM
 * function, which would pull dkim.o in and clash.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mailauth/authres.h"

struct dkim_verifier {
	size_t count;
	struct dkim_signature_result sigs[4];
};

size_t dkim_verifier_count(const struct dkim_verifier *v)
{
	return v->count;
}

const struct dkim_signature_result *dkim_verifier_signature(const struct dkim_verifier *v,
							    size_t i)
{
	return i < v->count ? &v->sigs[i] : NULL;
}

static const char *ID = "mx.example.org";

/* Structure every field we write must have: only "\r\n\t" folds, no other
 * control character, lines within 998 bytes, and a value that claims the
 * authserv-id it was written with (when that is a plain token). */
static void check_shape(const char *field, const char *id)
{
	static const char prefix[] = "Authentication-Results: ";
	assert_memory_equal(field, prefix, sizeof(prefix) - 1);
	size_t line = 0;
	for (const char *p = field; *p != '\0'; p++) {
		unsigned char c = (unsigned char)*p;
		if (c == '\r') {
			assert_int_equal(p[1], '\n');
			assert_int_equal(p[2], '\t');
			assert_true(line <= 998);
			line = 0;
			p++;
			continue;
		}
		assert_true(c == '\t' || (c >= 0x20 && c != 0x7f));
		line++;
	}
	assert_true(line <= 998);
	const char *value = field + strlen("Authentication-Results:");
	if (id != NULL)
		assert_true(authres_claims_id(value, strlen(value), id));
}

static void expect(const struct authres_input *in, const char *want)
{
	char *got = authres_format(in);
	assert_non_null(got);
	if (strcmp(got, want) != 0)
		print_error("got:  %s\nwant: %s\n", got, want);
	assert_string_equal(got, want);
	check_shape(got, NULL);
	free(got);
}

static struct spf_outcome spf_pass(void)
{
	struct spf_outcome s = {.result = MAILAUTH_PASS, .identity = "mailfrom"};
	strcpy(s.domain, "example.com");
	strcpy(s.sender, "alice@example.com");
	strcpy(s.reason, "matched ip4:192.0.2.0/24");
	return s;
}

static struct dkim_signature_result dkim_sig(enum mailauth_result r, const char *d,
					     const char *s, const char *alg, const char *b,
					     const char *reason)
{
	struct dkim_signature_result sig = {.result = r};
	snprintf(sig.domain, sizeof(sig.domain), "%s", d);
	snprintf(sig.selector, sizeof(sig.selector), "%s", s);
	snprintf(sig.algorithm, sizeof(sig.algorithm), "%s", alg);
	snprintf(sig.header_b, sizeof(sig.header_b), "%s", b);
	snprintf(sig.reason, sizeof(sig.reason), "%s", reason);
	return sig;
}

static struct dmarc_outcome dmarc(enum mailauth_result r, enum dmarc_policy p,
				  enum dmarc_policy dis, const char *from, const char *reason)
{
	struct dmarc_outcome d = {.result = r, .policy = p, .disposition = dis};
	snprintf(d.header_from, sizeof(d.header_from), "%s", from);
	snprintf(d.reason, sizeof(d.reason), "%s", reason);
	return d;
}

static void test_none(void **state)
{
	(void)state;
	struct authres_input in = {.authserv_id = ID};
	expect(&in, "Authentication-Results: mx.example.org; none");
}

static void test_all_pass(void **state)
{
	(void)state;
	struct spf_outcome spf = spf_pass();
	struct dkim_verifier dkim = {.count = 1};
	dkim.sigs[0] = dkim_sig(MAILAUTH_PASS, "example.com", "sel", "rsa-sha256", "abcdEFGH", "");
	struct dmarc_outcome d = dmarc(MAILAUTH_PASS, DMARC_POLICY_REJECT, DMARC_POLICY_NONE,
				       "example.com", "SPF and DKIM aligned");
	struct authres_input in = {.authserv_id = ID, .spf = &spf, .dkim = &dkim, .dmarc = &d};
	expect(&in, "Authentication-Results: mx.example.org;\r\n"
		    "\tspf=pass (matched ip4:192.0.2.0/24) smtp.mailfrom=alice@example.com;\r\n"
		    "\tdkim=pass (rsa-sha256) header.d=example.com header.s=sel header.b=abcdEFGH;\r\n"
		    "\tdmarc=pass (p=reject dis=none) header.from=example.com");
}

static void test_each_method_alone(void **state)
{
	(void)state;
	struct spf_outcome spf = {.result = MAILAUTH_NONE, .identity = "helo"};
	strcpy(spf.domain, "mail.example.net");
	strcpy(spf.sender, "postmaster@mail.example.net");
	strcpy(spf.reason, "no SPF record");
	struct authres_input in = {.authserv_id = ID, .spf = &spf};
	expect(&in, "Authentication-Results: mx.example.org;\r\n"
		    "\tspf=none (no SPF record) smtp.helo=mail.example.net");

	/* A verifier without signatures: dkim=none. */
	struct dkim_verifier dkim = {.count = 0};
	in = (struct authres_input){.authserv_id = ID, .dkim = &dkim};
	expect(&in, "Authentication-Results: mx.example.org;\r\n\tdkim=none");

	struct dmarc_outcome d = dmarc(MAILAUTH_FAIL, DMARC_POLICY_REJECT,
				       DMARC_POLICY_QUARANTINE, "example.com", "x");
	in = (struct authres_input){.authserv_id = ID, .dmarc = &d};
	expect(&in, "Authentication-Results: mx.example.org;\r\n"
		    "\tdmarc=fail (p=reject dis=quarantine) header.from=example.com");

	/* Without a From domain there is no header.from, and the reason is
	 * the comment. */
	d = dmarc(MAILAUTH_PERMERROR, DMARC_POLICY_UNSPECIFIED, DMARC_POLICY_UNSPECIFIED, "",
		  "no single RFC5322.From domain");
	expect(&in, "Authentication-Results: mx.example.org;\r\n"
		    "\tdmarc=permerror (no single RFC5322.From domain)");
	d = dmarc(MAILAUTH_NONE, DMARC_POLICY_UNSPECIFIED, DMARC_POLICY_UNSPECIFIED,
		  "example.com", "no DMARC record");
	expect(&in, "Authentication-Results: mx.example.org;\r\n"
		    "\tdmarc=none (no DMARC record) header.from=example.com");
	/* A result nobody finished is never written as "pending". */
	d.result = MAILAUTH_PENDING;
	d.reason[0] = '\0';
	expect(&in, "Authentication-Results: mx.example.org;\r\n"
		    "\tdmarc=temperror header.from=example.com");
}

static void test_dkim_signatures(void **state)
{
	(void)state;
	struct dkim_verifier dkim = {.count = 3};
	dkim.sigs[0] = dkim_sig(MAILAUTH_FAIL, "example.com", "s1", "rsa-sha256", "AbC+/x9=",
				"body hash did not verify");
	dkim.sigs[1] = dkim_sig(MAILAUTH_POLICY, "example.net", "old", "rsa-sha1", "zzzzzzzz",
				"rsa-sha1 not accepted");
	dkim.sigs[2] = dkim_sig(MAILAUTH_PERMERROR, "", "", "", "", "no d= tag");
	struct authres_input in = {.authserv_id = ID, .dkim = &dkim};
	/* header.b with '/' and '=' is not a token: quoted. */
	expect(&in, "Authentication-Results: mx.example.org;\r\n"
		    "\tdkim=fail (rsa-sha256, body hash did not verify) header.d=example.com\r\n"
		    "\theader.s=s1 header.b=\"AbC+/x9=\";\r\n"
		    "\tdkim=policy (rsa-sha1, rsa-sha1 not accepted) header.d=example.net\r\n"
		    "\theader.s=old header.b=zzzzzzzz;\r\n"
		    "\tdkim=permerror (no d= tag)");
}

static void test_folding(void **state)
{
	(void)state;
	struct spf_outcome spf = spf_pass();
	strcpy(spf.sender, "bounces+list-name-12345@lists.subdomain.example.com");
	struct authres_input in = {.authserv_id = ID, .spf = &spf};
	expect(&in, "Authentication-Results: mx.example.org;\r\n"
		    "\tspf=pass (matched ip4:192.0.2.0/24)\r\n"
		    "\tsmtp.mailfrom=bounces+list-name-12345@lists.subdomain.example.com");

	/* A comment longer than a line goes on its own line and is capped
	 * at 200 bytes. */
	memset(spf.reason, 'r', 250);
	spf.reason[250] = '\0';
	strcpy(spf.sender, "a@example.com");
	char want[600];
	snprintf(want, sizeof(want),
		 "Authentication-Results: mx.example.org;\r\n\tspf=pass\r\n\t(%.200s...)\r\n"
		 "\tsmtp.mailfrom=a@example.com",
		 spf.reason);
	expect(&in, want);
}

static void test_quoting(void **state)
{
	(void)state;
	struct spf_outcome spf = spf_pass();
	struct authres_input in = {.authserv_id = ID, .spf = &spf};
	spf.reason[0] = '\0';

	static const struct {
		const char *sender, *written;
	} cases[] = {
		{"user+tag@example.com", "user+tag@example.com"},
		{"first.last@example.com", "first.last@example.com"},
		{"@example.com", "@example.com"},
		{"\"john doe\"@example.com", "\"\\\"john doe\\\"@example.com\""},
		{"a;b@example.com", "\"a;b@example.com\""},
		{"a..b@example.com", "\"a..b@example.com\""},
		{".a@example.com", "\".a@example.com\""},
		{"a@b@example.com", "\"a@b@example.com\""},
		{"a@example", "\"a@example\""},
		{"a@-x.example", "\"a@-x.example\""},
		{"a@x_y.example", "\"a@x_y.example\""},
		{"back\\slash@example.com", "\"back\\\\slash@example.com\""},
		{"caf\xc3\xa9@exampl\xc3\xa9.example", "caf\xc3\xa9@exampl\xc3\xa9.example"},
		{"example.com", "example.com"},
		{"a@[192.0.2.1]", "\"a@[192.0.2.1]\""},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(spf.sender, sizeof(spf.sender), "%s", cases[i].sender);
		char want[256];
		snprintf(want, sizeof(want),
			 "Authentication-Results: mx.example.org;\r\n\tspf=pass smtp.mailfrom=%s",
			 cases[i].written);
		expect(&in, want);
	}

	/* HELO is a domain or an address literal. */
	spf.identity = "helo";
	strcpy(spf.domain, "[192.0.2.1]");
	expect(&in, "Authentication-Results: mx.example.org;\r\n"
		    "\tspf=pass smtp.helo=\"[192.0.2.1]\"");

	/* An authserv-id that is not a token is quoted too. */
	struct authres_input none = {.authserv_id = "mx example"};
	expect(&none, "Authentication-Results: \"mx example\"; none");
	none.authserv_id = NULL;
	expect(&none, "Authentication-Results: \"\"; none");
}

static void test_comments(void **state)
{
	(void)state;
	struct spf_outcome spf = spf_pass();
	struct authres_input in = {.authserv_id = ID, .spf = &spf};
	static const struct {
		const char *reason, *written;
	} cases[] = {
		{"a (b) c\\d", "(a \\(b\\) c\\\\d)"},
		{"unbalanced ) (", "(unbalanced \\) \\()"},
		{"  spaces\t\tand\r\nlines  ", "(spaces and lines)"},
		{"caf\xc3\xa9 \xff \xc2\x85x", "(caf\xc3\xa9 ? x)"},
		{"bell\a esc\x1b del\x7f", "(bell esc del)"},
		{" \r\n ", ""},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(spf.reason, sizeof(spf.reason), "%s", cases[i].reason);
		char want[256];
		snprintf(want, sizeof(want),
			 "Authentication-Results: mx.example.org;\r\n\tspf=pass%s%s "
			 "smtp.mailfrom=alice@example.com",
			 cases[i].written[0] != '\0' ? " " : "", cases[i].written);
		expect(&in, want);
	}
	/* A cut never splits a UTF-8 sequence: 199 ASCII bytes, then "é". */
	memset(spf.reason, 'x', 199);
	strcpy(spf.reason + 199, "\xc3\xa9");
	char *got = authres_format(&in);
	assert_non_null(strstr(got, "x...)"));
	assert_null(strstr(got, "\xc3"));
	free(got);
}

static void test_injection(void **state)
{
	(void)state;
	struct spf_outcome spf = spf_pass();
	strcpy(spf.reason, "ok)\r\nX-Injected: yes\r\n\r\nbody");
	strcpy(spf.sender, "a@example.com\r\nBcc: victim@example.net");
	struct dkim_verifier dkim = {.count = 1};
	dkim.sigs[0] = dkim_sig(MAILAUTH_PASS, "example.com\r\n\tdkim=pass", "s\n1", "rsa-sha256\r",
				"ab\rcd", "");
	struct dmarc_outcome d = dmarc(MAILAUTH_PASS, DMARC_POLICY_NONE, DMARC_POLICY_NONE,
				       "example.com;\r\nX: y", "");
	struct authres_input in = {.authserv_id = "mx.example.org\r\nX-Evil: 1", .spf = &spf,
				   .dkim = &dkim, .dmarc = &d};
	expect(&in, "Authentication-Results: \"mx.example.orgX-Evil: 1\";\r\n"
		    "\tspf=pass (ok\\) X-Injected: yes body)\r\n"
		    "\tsmtp.mailfrom=\"a@example.comBcc: victim@example.net\";\r\n"
		    "\tdkim=pass (rsa-sha256) header.d=\"example.comdkim=pass\" header.s=s1\r\n"
		    "\theader.b=abcd;\r\n"
		    "\tdmarc=pass (p=none dis=none) header.from=\"example.com;X: y\"");
}

static void test_unterminated_fields(void **state)
{
	(void)state;
	/* Fixed arrays filled to the brim without a NUL are read only as far
	 * as their size (ASan catches any read beyond). */
	struct dkim_verifier *dkim = calloc(1, sizeof(*dkim));
	dkim->count = 1;
	struct dkim_signature_result *sig = &dkim->sigs[0];
	sig->result = MAILAUTH_FAIL;
	memset(sig->domain, 'd', sizeof(sig->domain));
	memset(sig->selector, 's', sizeof(sig->selector));
	memset(sig->identity, 'i', sizeof(sig->identity));
	memset(sig->algorithm, 'a', sizeof(sig->algorithm));
	memset(sig->header_b, 'b', sizeof(sig->header_b));
	memset(sig->reason, 'r', sizeof(sig->reason));
	struct authres_input in = {.authserv_id = ID, .dkim = dkim};
	char *got = authres_format(&in);
	check_shape(got, ID);
	assert_non_null(strstr(got, "\theader.b=bbbbbbbbbbbbbbbb"));
	assert_null(strstr(got, "bbbbbbbbbbbbbbbbb"));
	free(got);
	free(dkim);
}

static void test_overlong_value_left_out(void **state)
{
	(void)state;
	struct spf_outcome spf = spf_pass();
	memset(spf.sender, 'a', 450);
	strcpy(spf.sender + 450, "@example.com");
	spf.reason[0] = '\0';
	struct authres_input in = {.authserv_id = ID, .spf = &spf};
	expect(&in, "Authentication-Results: mx.example.org;\r\n\tspf=pass");
	/* All backslashes would double in length; still no long line. */
	memset(spf.sender, '\\', 399);
	spf.sender[399] = '\0';
	char *got = authres_format(&in);
	check_shape(got, ID);
	assert_true(strlen(got) > 800);
	free(got);
}

static void test_claims_id(void **state)
{
	(void)state;
	static const struct {
		const char *value;
		bool claims;
	} cases[] = {
		{"mx.example.org; spf=pass smtp.mailfrom=a@example.com", true},
		{" mx.example.org;\r\n\tdkim=pass", true},
		{" MX.Example.ORG ; none", true},
		{"mx.example.org", true},
		{"mx.example.org;", true},
		{"mx.example.org(trailing comment); none", true},
		{"mx.example.org 1; spf=pass", true},
		{"mx.example.org (v) 1 (x); spf=pass", true},
		{"(comment) mx.example.org; none", true},
		{"(a (nested (comment)) \\) \\( quoted) mx.example.org; none", true},
		{"\r\n\t(folded)\r\n mx.example.org; none", true},
		{"\"mx.example.org\"; none", true},
		{" \"MX.example.org\" 1; none", true},
		{"\"mx.exa\\mple.org\"; none", true},
		{"\"mx.example\r\n.org\"; none", true},
		{"\"mx.example.org", true}, /* unclosed: still removed */
		{"mx.example.org.evil.example; spf=pass", false},
		{"evil.mx.example.org; spf=pass", false},
		{"mx.example.or; spf=pass", false},
		{"mx-example.org; spf=pass", false},
		{"(mx.example.org) other.example; spf=pass", false},
		{"(unterminated mx.example.org; spf=pass", false},
		{"(a (b) mx.example.org; spf=pass", false},
		{"\"mx.example.org \"; none", false},
		{"\"mx.example.org\\\"\"; none", false},
		{"\"\"; none", false},
		{"", false},
		{"   \r\n\t ", false},
		{"()", false},
		{"; mx.example.org", false},
		{"mx.example.org\xc3\xa9; none", false},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		print_message("claims %zu: %s\n", i, cases[i].value);
		assert_int_equal(authres_claims_id(cases[i].value, strlen(cases[i].value), ID),
				 cases[i].claims);
	}
	/* Length, not NUL, ends the value; a NUL ends a token. */
	static const char nul[] = "mx.example.org\0.evil";
	assert_true(authres_claims_id(nul, sizeof(nul) - 1, ID));
	static const char nul2[] = "mx.exa\0mple.org";
	assert_false(authres_claims_id(nul2, sizeof(nul2) - 1, ID));
	assert_true(authres_claims_id("mx.example.org.evil", 14, ID));
	assert_false(authres_claims_id("mx.example.org", 13, ID));
	assert_false(authres_claims_id("(x) mx.example.org", 3, ID));
	/* No id, or an empty one, claims nothing. */
	assert_false(authres_claims_id("mx.example.org;", 15, NULL));
	assert_false(authres_claims_id("", 0, ""));
	assert_false(authres_claims_id(NULL, 0, ID));
	/* Quoted-string ids match too. */
	assert_true(authres_claims_id("\"mx example\"; none", 18, "MX EXAMPLE"));
	static const char utf8[] = "caf\xc3\xa9.example; none";
	assert_true(authres_claims_id(utf8, sizeof(utf8) - 1, "CAF\xc3\xa9.example"));
}

static void test_claims_id_hostile(void **state)
{
	(void)state;
	/* Deep nesting costs no stack: a million levels, closed, then the id. */
	size_t depth = 1000000, idlen = strlen(ID);
	char *s = malloc(2 * depth + idlen + 2);
	memset(s, '(', depth);
	memset(s + depth, ')', depth);
	memcpy(s + 2 * depth, ID, idlen);
	strcpy(s + 2 * depth + idlen, ";");
	assert_true(authres_claims_id(s, strlen(s), ID));
	/* One ')' short: everything is comment. */
	s[2 * depth - 1] = 'x';
	assert_false(authres_claims_id(s, strlen(s), ID));
	/* A trailing backslash inside a comment stays within the length. */
	assert_false(authres_claims_id("(\\", 2, ID));
	assert_false(authres_claims_id("\"\\", 2, ID));
	free(s);
}

static void test_round_trip(void **state)
{
	(void)state;
	struct spf_outcome spf = spf_pass();
	struct dmarc_outcome d = dmarc(MAILAUTH_FAIL, DMARC_POLICY_REJECT, DMARC_POLICY_REJECT,
				       "example.com", "");
	static const char *const ids[] = {"mx.example.org", "MX.EXAMPLE.ORG", "mx example",
					  "a\"b\\c", "caf\xc3\xa9"};
	for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
		struct authres_input in = {.authserv_id = ids[i], .spf = &spf, .dmarc = &d};
		char *got = authres_format(&in);
		check_shape(got, ids[i]);
		const char *value = got + strlen("Authentication-Results:");
		assert_false(authres_claims_id(value, strlen(value), "mx.example.net"));
		free(got);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_none),
		cmocka_unit_test(test_all_pass),
		cmocka_unit_test(test_each_method_alone),
		cmocka_unit_test(test_dkim_signatures),
		cmocka_unit_test(test_folding),
		cmocka_unit_test(test_quoting),
		cmocka_unit_test(test_comments),
		cmocka_unit_test(test_injection),
		cmocka_unit_test(test_unterminated_fields),
		cmocka_unit_test(test_overlong_value_left_out),
		cmocka_unit_test(test_claims_id),
		cmocka_unit_test(test_claims_id_hostile),
		cmocka_unit_test(test_round_trip),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
