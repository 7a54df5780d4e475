/*
 * SPF macro language (RFC 7208 section 7), exposed for the unit tests
 * (tests/unit/mailauth/test_spf.c). Only spf.c and the tests include this;
 * the library's interface is spf.h.
 *
 * Expansion is pure: every value comes from struct spf_macro_vars, so the
 * caller looks up %{p} (which needs DNS) before expanding.
 */
#ifndef PETREL_MAILAUTH_SPF_INTERNAL_H
#define PETREL_MAILAUTH_SPF_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

/* Longest expansion spf.c asks for. RFC 7208 sets none, but a domain name
 * is cut to 253 characters after expansion and the explanation is shown in
 * 511, so anything longer is hostile; spf.c treats it as an unusable name
 * (or ignores the explanation). */
#define SPF_EXPAND_MAX 4096

struct spf_macro_vars {
	const char *s; /* <sender>: local-part@domain */
	const char *l; /* local-part of <sender> */
	const char *o; /* domain of <sender> */
	const char *d; /* <domain>: the record being evaluated */
	const char *h; /* HELO name; NULL expands to "" */
	const char *r; /* receiving host; NULL expands to "unknown" */
	const char *p; /* validated client name; NULL expands to "unknown" */
	uint8_t ip_family; /* 4 or 6: %{i}, %{c}, %{v} */
	uint8_t ip[16];
	long long t; /* %{t}: seconds since the epoch */
};

enum spf_macro_kind {
	/* domain-spec: no c/r/t, no spaces, and it must end in "." toplabel
	 * (an optional trailing dot) or in a macro (RFC 7208 7.1). */
	SPF_MACRO_DOMAIN,
	/* The macro-string of an unknown modifier: no c/r/t, no spaces. */
	SPF_MACRO_STRING,
	/* explain-string (the TXT text named by exp=): spaces and c/r/t are
	 * allowed (RFC 7208 6.2, 7.3). */
	SPF_MACRO_EXPLAIN,
};

/* Checks the syntax of s[0..len) as the given kind. Returns 0, or -1 with
 * *error_r set to a static description. Transformer digits of 0 are
 * refused (RFC 7208 7.3: the value MUST be nonzero). */
int spf_macro_check(const char *s, size_t len, enum spf_macro_kind kind, const char **error_r);

/* Checks, then appends the expansion of s[0..len) to out. Uppercase macro
 * letters are URL-escaped (RFC 3986 unreserved characters kept). No
 * trailing dot is removed and no truncation to 253 happens here: that is
 * for the caller that turns the result into a DNS name. Returns 0, or -1
 * with *error_r set (syntax, or out would grow past out->max). */
int spf_macro_expand(const struct spf_macro_vars *v, const char *s, size_t len,
		     enum spf_macro_kind kind, struct buf *out, const char **error_r);

/* True when s[0..len) contains a %{p} or %{P} macro (the caller must
 * then find the validated name before expanding). */
bool spf_macro_uses_p(const char *s, size_t len);

#endif
