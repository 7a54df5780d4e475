#include "fake_dns.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static size_t rr_data(const char *value, char *out, size_t outsize)
{
	size_t n = 0;
	for (const char *p = value; *p && n + 1 < outsize; p++)
		if (*p != '\x1f')
			out[n++] = *p;
	out[n] = '\0';
	return n;
}

static void answer_one(struct dns_cache *cache, const struct dns_question *q,
		       const struct fake_rr *zone)
{
	struct dns_record recs[32];
	char texts[32][1024];
	size_t n = 0;
	bool name_exists = false;

	for (const struct fake_rr *rr = zone; rr->name != NULL; rr++) {
		if (strcasecmp(rr->name, q->name) != 0)
			continue;
		name_exists = true;
		if (rr->type != q->type)
			continue;
		if (strcmp(rr->value, "!TEMPFAIL") == 0) {
			dns_cache_put(cache, q->name, q->type, DNS_TEMPFAIL, NULL, 0);
			return;
		}
		assert_true(n < 32);
		struct dns_record *r = &recs[n];
		memset(r, 0, sizeof(*r));
		switch (rr->type) {
		case DNS_T_A:
			r->family = 4;
			assert_int_equal(inet_pton(AF_INET, rr->value, r->addr), 1);
			break;
		case DNS_T_AAAA:
			r->family = 6;
			assert_int_equal(inet_pton(AF_INET6, rr->value, r->addr), 1);
			break;
		case DNS_T_MX: {
			char *end;
			r->preference = (uint16_t)strtoul(rr->value, &end, 10);
			while (*end == ' ')
				end++;
			r->len = rr_data(end, texts[n], sizeof(texts[n]));
			r->data = texts[n];
			break;
		}
		case DNS_T_TXT:
		case DNS_T_PTR:
			r->len = rr_data(rr->value, texts[n], sizeof(texts[n]));
			r->data = texts[n];
			break;
		}
		n++;
	}
	if (n > 0)
		dns_cache_put(cache, q->name, q->type, DNS_OK, recs, n);
	else
		dns_cache_put(cache, q->name, q->type, name_exists ? DNS_NODATA : DNS_NXDOMAIN, NULL, 0);
}

size_t fake_dns_answer(struct dns_cache *cache, const struct fake_rr *zone)
{
	struct dns_question qs[64];
	size_t total = 0, n;
	while ((n = dns_cache_take_questions(cache, qs, 64)) > 0) {
		for (size_t i = 0; i < n; i++)
			answer_one(cache, &qs[i], zone);
		total += n;
	}
	return total;
}

enum mailauth_result fake_dns_run(struct dns_cache *cache, const struct fake_rr *zone,
				  enum mailauth_result (*eval)(void *arg), void *arg)
{
	for (int round = 0; round < 100; round++) {
		enum mailauth_result r = eval(arg);
		if (r != MAILAUTH_PENDING)
			return r;
		assert_true(fake_dns_answer(cache, zone) > 0);
	}
	fail_msg("evaluation did not settle in 100 rounds");
	return MAILAUTH_PENDING;
}
