/*
 * DNS answers for one message's checks, and the "replay" evaluation model.
 *
 * SPF, DKIM and DMARC are written as straight-line code that asks
 * dns_cache_get() for what it needs. When an answer is not known yet the
 * call returns NULL and records the question; the evaluator then returns
 * MAILAUTH_PENDING. The driver (resolver.c on a libuv loop in lmtpd and
 * petrelctl, fake_dns in unit tests) answers every recorded question and
 * runs the evaluator again from the start; answers already known come back
 * at once. Evaluations are cheap next to a DNS round trip, and this keeps
 * the RFC logic free of callbacks and state machines. Each evaluation must
 * be deterministic given the same answers, so a replay asks the same
 * questions in the same order.
 *
 * A cache belongs to one message and one thread; it is not shared.
 */
#ifndef PETREL_MAILAUTH_DNS_H
#define PETREL_MAILAUTH_DNS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum dns_type {
	DNS_T_A = 1,
	DNS_T_PTR = 12,
	DNS_T_MX = 15,
	DNS_T_TXT = 16,
	DNS_T_AAAA = 28,
};

enum dns_status {
	DNS_OK,       /* at least one record */
	DNS_NODATA,   /* the name exists, no record of this type */
	DNS_NXDOMAIN, /* the name does not exist */
	DNS_TEMPFAIL, /* SERVFAIL, timeout, refused, malformed reply */
};

struct dns_record {
	/* A / AAAA: the address in network order; family 4 or 6. */
	uint8_t family;
	uint8_t addr[16];
	/* MX: the preference. */
	uint16_t preference;
	/* MX exchange and PTR target: the name, lowercase, no trailing dot.
	 * TXT: the character-strings of one record concatenated without
	 * separators (RFC 7208 3.3, RFC 6376 3.6.2.2). NUL-terminated; len
	 * excludes the NUL (TXT data may contain NUL bytes; len is exact). */
	char *data;
	size_t len;
};

struct dns_answer {
	enum dns_status status;
	size_t count; /* records; 0 unless status is DNS_OK */
	struct dns_record *records;
};

/* A cache answers at most this many distinct questions; further questions
 * get DNS_TEMPFAIL without being asked (a bound on what one message can
 * make us send; SPF's own limits stay far below it). */
#define DNS_CACHE_MAX_QUERIES 256
/* Names longer than this (RFC 1035 text form) get DNS_NXDOMAIN unasked. */
#define DNS_NAME_MAX 253

struct dns_cache;

struct dns_cache *dns_cache_new(void);
void dns_cache_free(struct dns_cache *cache);

/* The answer for (name, type), or NULL when it is not known yet (the
 * question is then queued for the driver). The name is compared without
 * case and without a trailing dot. The answer stays valid until the cache
 * is freed. */
const struct dns_answer *dns_cache_get(struct dns_cache *cache, const char *name,
				       enum dns_type type);

/* Driver side. A queued question: */
struct dns_question {
	const char *name; /* normalised: lowercase, no trailing dot */
	enum dns_type type;
};

/* Copies up to max queued questions (not yet answered, not yet handed out)
 * into out and marks them as handed out; returns how many. Pointers stay
 * valid until the cache is freed. */
size_t dns_cache_take_questions(struct dns_cache *cache, struct dns_question *out, size_t max);
/* True while some question is handed out or queued and not yet answered. */
bool dns_cache_has_open_questions(const struct dns_cache *cache);

/* Stores the answer to a question (normally one taken above; an answer to
 * a question never asked is stored too, which is how tests preload). The
 * records array and each data are copied. A second answer to the same
 * question is ignored. */
void dns_cache_put(struct dns_cache *cache, const char *name, enum dns_type type,
		   enum dns_status status, const struct dns_record *records, size_t count);

/* Number of distinct questions asked (for logs and limits tests). */
size_t dns_cache_question_count(const struct dns_cache *cache);

/* "A", "TXT", ... */
const char *dns_type_name(enum dns_type type);

#endif
