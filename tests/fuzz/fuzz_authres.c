/*
 * Fuzz target for mailauth/authres and the DMARC record parser.
 *
 * Input: a flags byte, a pct roll byte, then data. The data is
 *   - an Authentication-Results value for authres_claims_id(); leading
 *     CFWS must not change the answer;
 *   - up to four TXT records (split at 0x1e) at _dmarc.example.com, found
 *     directly or through the organisational-domain fallback, for
 *     dmarc_check(); the outcome must be final, consistent and the same
 *     on a second run;
 *   - the SPF reason and sender and DKIM fields of a field we format; the
 *     field must have only "\r\n\t" folds, no other controls, lines within
 *     998 bytes, and must claim the authserv-id it was written with.
 *
 * The DKIM verifier is a double, as in tests/unit/mailauth/test_authres.c:
 * authres.c uses only dkim_verifier_count() and dkim_verifier_signature(),
 * so the real dkim.o is never linked for them.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mailauth/authres.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define check(expr)                                                                      \
	do {                                                                                 \
		if (!(expr)) {                                                               \
			fprintf(stderr, "fuzz_authres: %s failed (line %d)\n", #expr, __LINE__); \
			abort();                                                             \
		}                                                                            \
	} while (0)

struct dkim_verifier {
	size_t count;
	struct dkim_signature_result sigs[2];
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

static const char *const ID = "mx.example.org";

static void fuzz_claims(const uint8_t *data, size_t size)
{
	bool claims = authres_claims_id((const char *)data, size, ID);
	char *prefixed = malloc(size + 8);
	memcpy(prefixed, "(x)\r\n \t ", 8);
	if (size > 0)
		memcpy(prefixed + 8, data, size);
	check(authres_claims_id(prefixed, size + 8, ID) == claims);
	free(prefixed);
	(void)authres_claims_id((const char *)data, size, "\"");
}

static bool terminated(const char *s, size_t size)
{
	return memchr(s, '\0', size) != NULL;
}

static enum mailauth_result run_dmarc(uint8_t flags, uint8_t roll, const uint8_t *data,
				      size_t size, struct dmarc_outcome *out)
{
	struct dns_cache *dns = dns_cache_new();
	struct dns_record recs[4];
	size_t n = 0, start = 0;
	for (size_t i = 0; i <= size && n < 4; i++) {
		if (i == size || data[i] == 0x1e) {
			recs[n++] = (struct dns_record){ .data = (char *)(data + start),
							 .len = i - start };
			start = i + 1;
		}
	}
	const char *from = (flags & 1) ? "Mail.Example.COM" : "example.com";
	if (flags & 1)
		dns_cache_put(dns, "_dmarc.mail.example.com", DNS_T_TXT, DNS_NXDOMAIN, NULL, 0);
	if (flags & 8)
		dns_cache_put(dns, "_dmarc.example.com", DNS_T_TXT, DNS_TEMPFAIL, NULL, 0);
	else
		dns_cache_put(dns, "_dmarc.example.com", DNS_T_TXT, DNS_OK, recs, n);
	const char *dkim[] = { "other.example", "mail.example.com" };
	struct dmarc_request req = {
		.from_domain = (flags & 16) ? NULL : from,
		.spf_result = (flags & 2) ? MAILAUTH_PASS : MAILAUTH_SOFTFAIL,
		.spf_domain = (flags & 32) ? "bounce.example.com" : "example.com",
		.dkim_pass_domains = dkim,
		.dkim_pass_count = (flags & 4) ? 2 : 1,
		.pct_roll = roll % 100,
	};
	enum mailauth_result r = dmarc_check(dns, &req, out);
	dns_cache_free(dns);
	return r;
}

static void fuzz_dmarc(uint8_t flags, uint8_t roll, const uint8_t *data, size_t size,
		       struct dmarc_outcome *out)
{
	enum mailauth_result r = run_dmarc(flags, roll, data, size, out);
	check(r == out->result);
	check(terminated(out->reason, sizeof(out->reason)));
	check(terminated(out->header_from, sizeof(out->header_from)));
	check(terminated(out->policy_domain, sizeof(out->policy_domain)));
	switch (r) {
	case MAILAUTH_PASS:
		check(out->spf_aligned || out->dkim_aligned);
		check(out->disposition == DMARC_POLICY_NONE);
		check(out->policy != DMARC_POLICY_UNSPECIFIED);
		break;
	case MAILAUTH_FAIL:
		check(!out->spf_aligned && !out->dkim_aligned);
		check(out->policy != DMARC_POLICY_UNSPECIFIED);
		check(out->disposition != DMARC_POLICY_UNSPECIFIED);
		check(out->disposition <= out->policy && out->disposition + 1 >= out->policy);
		break;
	case MAILAUTH_NONE:
	case MAILAUTH_TEMPERROR:
	case MAILAUTH_PERMERROR:
		check(out->disposition == DMARC_POLICY_UNSPECIFIED);
		check(!(flags & 16) || r == MAILAUTH_PERMERROR);
		check(!(flags & 8) || (flags & 16) || r == MAILAUTH_TEMPERROR);
		break;
	default:
		check(!"unexpected DMARC result");
	}
	struct dmarc_outcome again;
	check(run_dmarc(flags, roll, data, size, &again) == r);
	check(memcmp(out, &again, sizeof(again)) == 0);
}

/* Copies up to size-1 bytes of data from *pos into field, NUL-terminated. */
static void take(char *field, size_t size, const uint8_t *data, size_t len, size_t *pos)
{
	size_t n = len - *pos < size - 1 ? len - *pos : size - 1;
	memcpy(field, data + *pos, n);
	field[n] = '\0';
	*pos += n;
}

static void check_field(const char *field, const char *id)
{
	size_t line = 0;
	for (const char *p = field; *p != '\0'; p++) {
		unsigned char c = (unsigned char)*p;
		if (c == '\r') {
			check(p[1] == '\n' && p[2] == '\t');
			check(line <= 998);
			line = 0;
			p++;
			continue;
		}
		check(c == '\t' || (c >= 0x20 && c != 0x7f));
		line++;
	}
	check(line <= 998);
	const char *value = field + strlen("Authentication-Results:");
	check(authres_claims_id(value, strlen(value), id));
}

static void fuzz_format(uint8_t flags, const uint8_t *data, size_t size,
			const struct dmarc_outcome *d)
{
	/* Field text stops at a NUL, as a C string would. */
	const uint8_t *nul = memchr(data, '\0', size);
	size_t len = nul != NULL ? (size_t)(nul - data) : size, pos = 0;

	struct spf_outcome spf = { .result = MAILAUTH_FAIL,
				   .identity = (flags & 64) ? "helo" : "mailfrom" };
	take(spf.reason, sizeof(spf.reason), data, len, &pos);
	take(spf.sender, sizeof(spf.sender), data, len, &pos);
	take(spf.domain, sizeof(spf.domain), data, len, &pos);
	struct dkim_verifier dkim = { .count = (flags & 128) ? 2 : 0 };
	for (size_t i = 0; i < 2; i++) {
		struct dkim_signature_result *s = &dkim.sigs[i];
		s->result = i == 0 ? MAILAUTH_POLICY : MAILAUTH_FAIL;
		take(s->domain, sizeof(s->domain), data, len, &pos);
		take(s->selector, sizeof(s->selector), data, len, &pos);
		take(s->algorithm, sizeof(s->algorithm), data, len, &pos);
		take(s->header_b, sizeof(s->header_b), data, len, &pos);
		take(s->reason, sizeof(s->reason), data, len, &pos);
	}
	static const char *const ids[] = { "mx.example.org", "mx \"example\"\\" };
	const char *id = ids[(flags >> 2) & 1];
	struct authres_input in = { .authserv_id = id, .spf = &spf, .dkim = &dkim, .dmarc = d };
	char *field = authres_format(&in);
	check_field(field, id);
	free(field);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	uint8_t flags = data[0], roll = data[1];
	data += 2;
	size -= 2;
	fuzz_claims(data, size);
	struct dmarc_outcome d;
	fuzz_dmarc(flags, roll, data, size, &d);
	fuzz_format(flags, data, size, &d);
	return 0;
}
