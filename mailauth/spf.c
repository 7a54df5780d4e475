/*
 * SPF check_host() (RFC 7208) on the replay model of dns.h.
 *
 * Every run starts from nothing: the lookup and void-lookup counters, the
 * validated %{p} name and the verdict are rebuilt from the cached answers,
 * so a replay never counts a limit twice and asks the same questions in
 * the same order. When an answer is missing the run stops with
 * MAILAUTH_PENDING; where one step needs several independent answers (the
 * addresses of every MX host, of every PTR name) all of them are asked
 * before any is used, so one driver round answers the lot and the verdict
 * does not depend on which answer arrived first.
 *
 * A record is read twice: first every term is parsed, because a syntax
 * error anywhere makes the whole record permerror before any mechanism
 * runs (RFC 7208 4.6); then the mechanisms are evaluated left to right.
 * Terms are parsed in place, so a record of thousands of terms costs two
 * linear passes and no allocation.
 *
 * Where RFC 7208 leaves room, behaviour follows python3-spf (pyspf 2.0),
 * the implementation interop tests compare against; test_spf.c lists the
 * places where we keep to the RFC instead.
 */
#include "mailauth/spf.h"

#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "common/buf.h"
#include "common/xalloc.h"
#include "mailauth/spf_internal.h"

/* RFC 7208 4.6.4: an "mx" naming more hosts than this is permerror, a
 * "ptr" (or %{p}) looks at this many names and ignores the rest. */
#define SPF_MAX_MX 10
#define SPF_MAX_PTR 10
/* include/redirect nesting. The lookup limit ends any loop at the 11th
 * step; this only guards the C stack should that ever change. */
#define SPF_MAX_DEPTH 16
/* How much of a term a reason quotes. */
#define REASON_TERM_MAX 80

enum term_kind {
	T_ALL,
	T_INCLUDE,
	T_A,
	T_MX,
	T_PTR,
	T_IP4,
	T_IP6,
	T_EXISTS,
	T_REDIRECT,
	T_EXP,
	T_MODIFIER, /* unknown modifier: checked, then ignored (RFC 7208 6) */
};

static const struct {
	const char *name;
	enum term_kind kind;
} mechanisms[] = {
	{"all", T_ALL}, {"include", T_INCLUDE}, {"a", T_A},	    {"mx", T_MX},
	{"ptr", T_PTR}, {"ip4", T_IP4},		{"ip6", T_IP6}, {"exists", T_EXISTS},
};

struct term {
	enum term_kind kind;
	enum mailauth_result qualifier;
	const char *text; /* the whole term, for reasons */
	size_t text_len;
	const char *spec; /* domain-spec, or NULL for "the current domain" */
	size_t spec_len;
	unsigned cidr4, cidr6;
	uint8_t addr[16]; /* ip4 / ip6 network */
};

struct spf_ctx {
	struct dns_cache *dns;
	struct spf_outcome *out;
	struct spf_macro_vars vars; /* vars.d is set before each expansion */
	uint8_t family;		    /* the client, IPv4-mapped IPv6 made IPv4 */
	uint8_t ip[16];
	unsigned lookups, voids;
	/* Why the run stopped early: pending, temperror or permerror. */
	enum mailauth_result abort;
	/* %{p}, found once per run like pyspf does. */
	bool p_known;
	char p_value[DNS_NAME_MAX + 1];
};

static int stop(struct spf_ctx *c, enum mailauth_result why, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Ends the run with a temperror or permerror and says why; returns -1 so
 * callers can write "return stop(...)". */
static int stop(struct spf_ctx *c, enum mailauth_result why, const char *fmt, ...)
{
	va_list ap;
	c->abort = why;
	va_start(ap, fmt);
	vsnprintf(c->out->reason, sizeof(c->out->reason), fmt, ap);
	va_end(ap);
	return -1;
}

static int pending(struct spf_ctx *c)
{
	c->abort = MAILAUTH_PENDING;
	return -1;
}

static int term_len(const struct term *t)
{
	return t->text_len > REASON_TERM_MAX ? REASON_TERM_MAX : (int)t->text_len;
}

static bool is_alpha(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z');
}

static bool is_digit(char ch)
{
	return ch >= '0' && ch <= '9';
}

static bool mem_eq_ci(const char *a, size_t alen, const char *b)
{
	return alen == strlen(b) && strncasecmp(a, b, alen) == 0;
}

/* ---- limits ---- */

/* RFC 7208 4.6.4: include, a, mx, ptr, exists and redirect count. */
static int count_lookup(struct spf_ctx *c, const struct term *t)
{
	if (++c->lookups > SPF_MAX_DNS_MECHANISMS)
		return stop(c, MAILAUTH_PERMERROR, "more than %d DNS lookups (at %.*s)",
			    SPF_MAX_DNS_MECHANISMS, term_len(t), t->text);
	return 0;
}

/* Void lookups are counted per query, as pyspf does: an "mx" whose three
 * hosts have no address is three. */
static int count_void(struct spf_ctx *c, const char *name, enum dns_type type)
{
	if (++c->voids > SPF_MAX_VOID_LOOKUPS)
		return stop(c, MAILAUTH_PERMERROR, "more than %d void DNS lookups (%s %s)",
			    SPF_MAX_VOID_LOOKUPS, dns_type_name(type), name);
	return 0;
}

enum {
	LK_VOID = 1,	 /* NXDOMAIN and NODATA count as void lookups */
	LK_TEMPFAIL = 2, /* hand DNS_TEMPFAIL back instead of a temperror */
};

/* The answer, or NULL once the run has to stop (pending, temperror, void
 * limit). */
static const struct dns_answer *lookup(struct spf_ctx *c, const char *name, enum dns_type type,
				       int flags)
{
	const struct dns_answer *a = dns_cache_get(c->dns, name, type);
	if (a == NULL) {
		pending(c);
		return NULL;
	}
	if (a->status == DNS_TEMPFAIL && !(flags & LK_TEMPFAIL)) {
		stop(c, MAILAUTH_TEMPERROR, "DNS failure looking up %s %s", dns_type_name(type),
		     name);
		return NULL;
	}
	if ((a->status == DNS_NXDOMAIN || a->status == DNS_NODATA) && (flags & LK_VOID) &&
	    count_void(c, name, type) < 0)
		return NULL;
	return a;
}

/* ---- names and addresses ---- */

/* Labels of 1..63 characters, 1..253 in all, no trailing dot. */
static bool dns_name_ok(const char *s, size_t len)
{
	if (len == 0 || len > DNS_NAME_MAX)
		return false;
	size_t label = 0;
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '.') {
			if (label == 0)
				return false;
			label = 0;
		} else if (++label > 63) {
			return false;
		}
	}
	return label > 0;
}

/* RFC 7208 4.3: the domain check_host() starts from must be a well-formed
 * multi-label name, else the result is "none" without a lookup. We also
 * refuse characters no host name has (an address literal as HELO, a
 * space), which pyspf would send to DNS and see fail. */
static bool initial_domain_ok(const char *s)
{
	size_t len = strlen(s);
	if (len > 0 && s[len - 1] == '.')
		len--;
	if (!dns_name_ok(s, len) || memchr(s, '.', len) == NULL)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!is_alpha(s[i]) && !is_digit(s[i]) && s[i] != '-' && s[i] != '_' && s[i] != '.')
			return false;
	return true;
}

/* Turns an expansion into a DNS name (RFC 7208 4.8, 7.3): drops one
 * trailing dot, cuts whole labels off the left until 253 characters
 * remain. Returns false for a name DNS cannot carry (an empty or too long
 * label); such a mechanism matches nothing, and include/redirect see
 * "none" (4.3), as in pyspf. */
static bool finish_name(const struct buf *b, char name[static DNS_NAME_MAX + 1])
{
	const char *s = buf_cstr(b);
	size_t len = b->len;
	if (len > 0 && s[len - 1] == '.')
		len--;
	while (len > DNS_NAME_MAX) {
		const char *dot = memchr(s, '.', len);
		if (dot == NULL)
			return false;
		len -= (size_t)(dot + 1 - s);
		s = dot + 1;
	}
	if (!dns_name_ok(s, len))
		return false;
	memcpy(name, s, len);
	name[len] = '\0';
	return true;
}

static bool prefix_match(const uint8_t *a, const uint8_t *b, unsigned bits)
{
	unsigned bytes = bits / 8, rest = bits % 8;
	if (memcmp(a, b, bytes) != 0)
		return false;
	if (rest == 0)
		return true;
	uint8_t mask = (uint8_t)(0xff << (8 - rest));
	return (a[bytes] & mask) == (b[bytes] & mask);
}

static bool answer_has_client(const struct spf_ctx *c, const struct dns_answer *a, unsigned bits)
{
	for (size_t i = 0; i < a->count; i++)
		if (a->records[i].family == c->family && prefix_match(a->records[i].addr, c->ip, bits))
			return true;
	return false;
}

static enum dns_type address_type(const struct spf_ctx *c)
{
	return c->family == 6 ? DNS_T_AAAA : DNS_T_A;
}

/* ip4-network: four decimal numbers 0..255 without leading zeros. */
static bool parse_ip4(const char *s, size_t len, uint8_t out[4])
{
	size_t i = 0;
	for (int part = 0; part < 4; part++) {
		if (part > 0) {
			if (i >= len || s[i] != '.')
				return false;
			i++;
		}
		size_t start = i;
		unsigned v = 0;
		while (i < len && is_digit(s[i]) && i - start < 3)
			v = v * 10 + (unsigned)(s[i++] - '0');
		if (i == start || v > 255 || (s[start] == '0' && i - start > 1))
			return false;
		out[part] = (uint8_t)v;
	}
	return i == len;
}

static bool parse_ip6(const char *s, size_t len, uint8_t out[16])
{
	char tmp[64];
	if (len == 0 || len >= sizeof(tmp))
		return false;
	memcpy(tmp, s, len);
	tmp[len] = '\0';
	return inet_pton(AF_INET6, tmp, out) == 1;
}

/* ---- term syntax ---- */

/* Takes a "/N" (prefix "/") or "//N" (prefix "//") off the end of
 * s[0..*len). N is "0" or digits without a leading zero; anything else is
 * left in place for the caller to reject. Returns true when taken. */
static bool strip_cidr(const char *s, size_t *len, const char *prefix, unsigned *value)
{
	size_t n = *len, i = n, plen = strlen(prefix);
	while (i > 0 && is_digit(s[i - 1]))
		i--;
	size_t digits = n - i;
	if (digits == 0 || (s[i] == '0' && digits > 1) || i < plen ||
	    memcmp(s + i - plen, prefix, plen) != 0)
		return false;
	/* "//N" is not a "/N" after a slash: the dual form is taken first. */
	if (plen == 1 && i >= 2 && s[i - 2] == '/')
		return false;
	unsigned v = 0;
	for (size_t k = i; k < n; k++)
		v = v > 1000 ? v : v * 10 + (unsigned)(s[k] - '0');
	*value = v;
	*len = i - plen;
	return true;
}

static int check_spec(const char *spec, size_t len, const char **error_r)
{
	const char *why;
	if (spf_macro_check(spec, len, SPF_MACRO_DOMAIN, &why) < 0) {
		*error_r = why;
		return -1;
	}
	return 0;
}

/* Parses one term (RFC 7208 4.6.1, 5, 6). Returns 0, or -1 with *error_r
 * set to a static description. */
static int parse_term(const char *s, size_t len, struct term *t, const char **error_r)
{
	memset(t, 0, sizeof(*t));
	t->text = s;
	t->text_len = len;
	t->qualifier = MAILAUTH_PASS;
	t->cidr4 = 32;
	t->cidr6 = 128;

	/* modifier = name "=" macro-string, name = ALPHA *( ALPHA / DIGIT /
	 * "-" / "_" / "." ); names are case-insensitive (4.6.1). */
	if (is_alpha(s[0])) {
		size_t i = 1;
		while (i < len && (is_alpha(s[i]) || is_digit(s[i]) || s[i] == '-' || s[i] == '_' ||
				   s[i] == '.'))
			i++;
		if (i < len && s[i] == '=') {
			t->spec = s + i + 1;
			t->spec_len = len - i - 1;
			if (mem_eq_ci(s, i, "redirect"))
				t->kind = T_REDIRECT;
			else if (mem_eq_ci(s, i, "exp"))
				t->kind = T_EXP;
			else
				t->kind = T_MODIFIER;
			if (t->kind != T_MODIFIER)
				return check_spec(t->spec, t->spec_len, error_r);
			/* Unknown modifiers are ignored, but their value must
			 * still be a macro-string (pyspf expands it too). */
			if (spf_macro_check(t->spec, t->spec_len, SPF_MACRO_STRING, error_r) < 0)
				return -1;
			t->spec = NULL;
			return 0;
		}
	}

	size_t i = 0;
	switch (s[0]) {
	case '+':
		i = 1;
		break;
	case '-':
		t->qualifier = MAILAUTH_FAIL;
		i = 1;
		break;
	case '~':
		t->qualifier = MAILAUTH_SOFTFAIL;
		i = 1;
		break;
	case '?':
		t->qualifier = MAILAUTH_NEUTRAL;
		i = 1;
		break;
	}
	size_t name_start = i;
	while (i < len && s[i] != ':' && s[i] != '/')
		i++;
	size_t k;
	for (k = 0; k < sizeof(mechanisms) / sizeof(mechanisms[0]); k++)
		if (mem_eq_ci(s + name_start, i - name_start, mechanisms[k].name))
			break;
	if (k == sizeof(mechanisms) / sizeof(mechanisms[0])) {
		*error_r = "unknown mechanism";
		return -1;
	}
	t->kind = mechanisms[k].kind;

	const char *rest = s + i;
	size_t rest_len = len - i;
	unsigned v;
	bool has_cidr4 = false, has_cidr6 = false;
	if (t->kind == T_A || t->kind == T_MX || t->kind == T_IP4 || t->kind == T_IP6) {
		if ((has_cidr6 = strip_cidr(rest, &rest_len, "//", &v)))
			t->cidr6 = v;
		if ((has_cidr4 = strip_cidr(rest, &rest_len, "/", &v)))
			t->cidr4 = v;
	}
	bool has_arg = rest_len > 0 && rest[0] == ':';
	if (rest_len > 0 && !has_arg) {
		*error_r = "unexpected text after the mechanism name";
		return -1;
	}
	const char *arg = has_arg ? rest + 1 : NULL;
	size_t arg_len = has_arg ? rest_len - 1 : 0;

	switch (t->kind) {
	case T_ALL:
		if (has_arg) {
			*error_r = "\"all\" takes no argument";
			return -1;
		}
		return 0;
	case T_IP4:
		if (has_cidr6) {
			*error_r = "dual CIDR length on ip4";
			return -1;
		}
		if (!has_arg || !parse_ip4(arg, arg_len, t->addr)) {
			*error_r = "invalid ip4 address";
			return -1;
		}
		if (t->cidr4 > 32) {
			*error_r = "ip4 prefix length over 32";
			return -1;
		}
		return 0;
	case T_IP6:
		if (has_cidr6) {
			*error_r = "dual CIDR length on ip6";
			return -1;
		}
		if (!has_arg || !parse_ip6(arg, arg_len, t->addr)) {
			*error_r = "invalid ip6 address";
			return -1;
		}
		/* ip6 takes its length in the single-slash form. */
		t->cidr6 = has_cidr4 ? t->cidr4 : 128;
		if (t->cidr6 > 128) {
			*error_r = "ip6 prefix length over 128";
			return -1;
		}
		return 0;
	case T_A:
	case T_MX:
		if (t->cidr4 > 32 || t->cidr6 > 128) {
			*error_r = "CIDR length too long";
			return -1;
		}
		break;
	case T_INCLUDE:
	case T_EXISTS:
		if (!has_arg) {
			*error_r = "mechanism needs a domain-spec";
			return -1;
		}
		break;
	default:
		break;
	}
	if (has_arg) {
		t->spec = arg;
		t->spec_len = arg_len;
		return check_spec(arg, arg_len, error_r);
	}
	return 0;
}

/* Splits the next space-separated term off [*p, end); false at the end. */
static bool next_term(const char **p, const char *end, const char **term, size_t *len)
{
	const char *s = *p;
	while (s < end && *s == ' ')
		s++;
	if (s == end)
		return false;
	const char *e = memchr(s, ' ', (size_t)(end - s));
	if (e == NULL)
		e = end;
	*term = s;
	*len = (size_t)(e - s);
	*p = e;
	return true;
}

/* ---- DNS-backed pieces ---- */

static void reverse_name(const struct spf_ctx *c, char out[80])
{
	static const char hex[] = "0123456789abcdef";
	if (c->family == 4) {
		snprintf(out, 80, "%u.%u.%u.%u.in-addr.arpa", c->ip[3], c->ip[2], c->ip[1], c->ip[0]);
		return;
	}
	char *p = out;
	for (int k = 15; k >= 0; k--) {
		*p++ = hex[c->ip[k] & 15];
		*p++ = '.';
		*p++ = hex[c->ip[k] >> 4];
		*p++ = '.';
	}
	strcpy(p, "ip6.arpa");
}

/* The client's validated names (RFC 7208 5.5): of the first 10 PTR names,
 * those whose A/AAAA records include the client. A failed PTR lookup gives
 * no names and a failed address lookup skips that name (5.5; pyspf makes
 * both temperror). Returns how many, or -1 when the run stops. */
static int validated_names(struct spf_ctx *c, const char *names[SPF_MAX_PTR])
{
	char rev[80];
	reverse_name(c, rev);
	const struct dns_answer *a = lookup(c, rev, DNS_T_PTR, LK_VOID | LK_TEMPFAIL);
	if (a == NULL)
		return -1;
	if (a->status != DNS_OK)
		return 0;
	size_t n = a->count < SPF_MAX_PTR ? a->count : SPF_MAX_PTR;
	bool waiting = false;
	for (size_t i = 0; i < n; i++) {
		const struct dns_record *r = &a->records[i];
		if (dns_name_ok(r->data, r->len) &&
		    dns_cache_get(c->dns, r->data, address_type(c)) == NULL)
			waiting = true;
	}
	if (waiting)
		return pending(c);
	int found = 0;
	for (size_t i = 0; i < n; i++) {
		const struct dns_record *r = &a->records[i];
		if (!dns_name_ok(r->data, r->len))
			continue;
		const struct dns_answer *addrs =
			lookup(c, r->data, address_type(c), LK_VOID | LK_TEMPFAIL);
		if (addrs == NULL)
			return -1;
		if (addrs->status == DNS_OK && answer_has_client(c, addrs, c->family == 6 ? 128 : 32))
			names[found++] = r->data;
	}
	return found;
}

static bool is_subdomain_or_same(const char *name, const char *domain)
{
	size_t n = strlen(name), d = strlen(domain);
	if (n == d)
		return strcasecmp(name, domain) == 0;
	return n > d && name[n - d - 1] == '.' && strcasecmp(name + n - d, domain) == 0;
}

/* %{p} (RFC 7208 7.3): a validated name equal to the domain, else one
 * under it, else the first; "unknown" without any. Found once per run and
 * kept, like pyspf's. */
static int find_p(struct spf_ctx *c, const char *domain)
{
	if (c->p_known)
		return 0;
	const char *names[SPF_MAX_PTR];
	int n = validated_names(c, names);
	if (n < 0)
		return -1;
	const char *pick = n > 0 ? names[0] : "unknown";
	for (int i = 0; i < n; i++)
		if (strcasecmp(names[i], domain) == 0) {
			pick = names[i];
			goto found;
		}
	for (int i = 0; i < n; i++)
		if (is_subdomain_or_same(names[i], domain)) {
			pick = names[i];
			break;
		}
found:
	snprintf(c->p_value, sizeof(c->p_value), "%s", pick);
	c->p_known = true;
	c->vars.p = c->p_value;
	return 0;
}

/* The DNS name a term points at: its domain-spec expanded, or the current
 * domain. Returns 1 with name set, 0 when the expansion is no usable name,
 * -1 when the run stops (only while finding %{p}). */
static int target_name(struct spf_ctx *c, const struct term *t, const char *domain,
		       char name[static DNS_NAME_MAX + 1])
{
	if (t->spec == NULL) {
		size_t len = strlen(domain);
		if (len > 0 && domain[len - 1] == '.')
			len--;
		memcpy(name, domain, len); /* domain is a checked name */
		name[len] = '\0';
		return 1;
	}
	if (spf_macro_uses_p(t->spec, t->spec_len) && find_p(c, domain) < 0)
		return -1;
	c->vars.d = domain;
	struct buf b;
	buf_init(&b, SPF_EXPAND_MAX);
	const char *why;
	int ok = spf_macro_expand(&c->vars, t->spec, t->spec_len, SPF_MACRO_DOMAIN, &b, &why) == 0 &&
		 finish_name(&b, name);
	buf_free(&b);
	return ok ? 1 : 0;
}

/* The one record starting "v=spf1" (RFC 7208 4.5). Returns 1 with the
 * record, 0 when there is none, -1 when the run stops. */
static int fetch_record(struct spf_ctx *c, const char *domain, const char **rec, size_t *len)
{
	const struct dns_answer *a = lookup(c, domain, DNS_T_TXT, LK_VOID);
	if (a == NULL)
		return -1;
	if (a->status != DNS_OK)
		return 0;
	const struct dns_record *found = NULL;
	for (size_t i = 0; i < a->count; i++) {
		const struct dns_record *r = &a->records[i];
		if (r->len < 6 || strncasecmp(r->data, "v=spf1", 6) != 0 ||
		    (r->len > 6 && r->data[6] != ' '))
			continue;
		if (found != NULL)
			return stop(c, MAILAUTH_PERMERROR, "more than one SPF record for %s", domain);
		found = r;
	}
	if (found == NULL)
		return 0;
	/* Terms are separated by SP only and made of visible ASCII; pyspf
	 * also refuses non-ASCII records outright. */
	for (size_t i = 0; i < found->len; i++) {
		unsigned char ch = (unsigned char)found->data[i];
		if (ch < 0x20 || ch > 0x7e)
			return stop(c, MAILAUTH_PERMERROR,
				    "SPF record for %s contains a control or non-ASCII character",
				    domain);
	}
	*rec = found->data;
	*len = found->len;
	return 1;
}

/* ---- evaluation ---- */

static int check_host(struct spf_ctx *c, const char *domain, unsigned depth, bool in_include,
		      enum mailauth_result *result);

static int eval_mx(struct spf_ctx *c, const struct term *t, const char *name)
{
	const struct dns_answer *a = lookup(c, name, DNS_T_MX, LK_VOID);
	if (a == NULL)
		return -1;
	if (a->status != DNS_OK)
		return 0;
	if (a->count > SPF_MAX_MX)
		return stop(c, MAILAUTH_PERMERROR, "%s has more than %d MX records (at %.*s)", name,
			    SPF_MAX_MX, term_len(t), t->text);
	/* pyspf's order: by preference, then name. */
	const struct dns_record *order[SPF_MAX_MX];
	size_t n = a->count;
	for (size_t i = 0; i < n; i++) {
		const struct dns_record *r = &a->records[i];
		size_t j = i;
		while (j > 0 && (order[j - 1]->preference > r->preference ||
				 (order[j - 1]->preference == r->preference &&
				  strcmp(order[j - 1]->data, r->data) > 0))) {
			order[j] = order[j - 1];
			j--;
		}
		order[j] = r;
	}
	enum dns_type type = address_type(c);
	bool waiting = false;
	for (size_t i = 0; i < n; i++)
		if (dns_name_ok(order[i]->data, order[i]->len) &&
		    dns_cache_get(c->dns, order[i]->data, type) == NULL)
			waiting = true;
	if (waiting)
		return pending(c);
	/* Every host is looked up before matching, as pyspf does, so a void
	 * or failed lookup after the matching host still counts. A null MX
	 * (RFC 7505, exchange ".") has no name and is skipped. */
	bool match = false;
	unsigned bits = c->family == 6 ? t->cidr6 : t->cidr4;
	for (size_t i = 0; i < n; i++) {
		if (!dns_name_ok(order[i]->data, order[i]->len))
			continue;
		const struct dns_answer *addrs = lookup(c, order[i]->data, type, LK_VOID);
		if (addrs == NULL)
			return -1;
		if (addrs->status == DNS_OK && answer_has_client(c, addrs, bits))
			match = true;
	}
	return match;
}

/* Returns 1 on a match, 0 on none, -1 when the run stops. */
static int eval_mechanism(struct spf_ctx *c, const struct term *t, const char *domain,
			  unsigned depth)
{
	char name[DNS_NAME_MAX + 1];
	int r;

	switch (t->kind) {
	case T_ALL:
		return 1;
	case T_IP4:
		return c->family == 4 && prefix_match(c->ip, t->addr, t->cidr4);
	case T_IP6:
		return c->family == 6 && prefix_match(c->ip, t->addr, t->cidr6);
	case T_A:
	case T_MX:
	case T_PTR:
	case T_EXISTS:
	case T_INCLUDE:
		break;
	default:
		return 0;
	}

	if (count_lookup(c, t) < 0)
		return -1;
	r = target_name(c, t, domain, name);
	if (r < 0)
		return -1;
	if (r == 0) {
		if (t->kind == T_INCLUDE)
			return stop(c, MAILAUTH_PERMERROR, "%.*s: not a usable domain name",
				    term_len(t), t->text);
		return 0;
	}

	switch (t->kind) {
	case T_A: {
		const struct dns_answer *a = lookup(c, name, address_type(c), LK_VOID);
		if (a == NULL)
			return -1;
		return a->status == DNS_OK &&
		       answer_has_client(c, a, c->family == 6 ? t->cidr6 : t->cidr4);
	}
	case T_MX:
		return eval_mx(c, t, name);
	case T_PTR: {
		const char *names[SPF_MAX_PTR];
		int n = validated_names(c, names);
		if (n < 0)
			return -1;
		for (int i = 0; i < n; i++)
			if (is_subdomain_or_same(names[i], name))
				return 1;
		return 0;
	}
	case T_EXISTS: {
		/* Always A, whatever the client's family (RFC 7208 5.7). */
		const struct dns_answer *a = lookup(c, name, DNS_T_A, LK_VOID);
		if (a == NULL)
			return -1;
		return a->status == DNS_OK;
	}
	case T_INCLUDE: {
		enum mailauth_result res;
		if (check_host(c, name, depth + 1, true, &res) < 0)
			return -1;
		switch (res) {
		case MAILAUTH_PASS:
			return 1;
		case MAILAUTH_NONE:
			/* RFC 7208 5.2: include of a domain without a
			 * record is permerror. */
			return stop(c, MAILAUTH_PERMERROR, "%.*s: no SPF record at %s", term_len(t),
				    t->text, name);
		default:
			return 0; /* fail, softfail, neutral: no match */
		}
	}
	default:
		return 0;
	}
}

/* exp= (RFC 7208 6.2): on "fail", the TXT record it names, expanded, is
 * the explanation. Anything going wrong just leaves no explanation; only
 * a missing answer stops the run (pending). */
static int explain(struct spf_ctx *c, const struct term *exp, const char *domain)
{
	char saved_reason[sizeof(c->out->reason)];
	memcpy(saved_reason, c->out->reason, sizeof(saved_reason));
	char name[DNS_NAME_MAX + 1];
	struct buf b;
	int r = target_name(c, exp, domain, name);
	if (r < 0)
		goto failed;
	if (r == 0)
		return 0;
	const struct dns_answer *a = dns_cache_get(c->dns, name, DNS_T_TXT);
	if (a == NULL)
		return pending(c);
	if (a->status != DNS_OK || a->count != 1)
		return 0;
	const char *text = a->records[0].data;
	size_t len = a->records[0].len;
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)text[i] < 0x20 || (unsigned char)text[i] > 0x7e)
			return 0;
	if (spf_macro_uses_p(text, len) && find_p(c, domain) < 0)
		goto failed;
	c->vars.d = domain;
	buf_init(&b, SPF_EXPAND_MAX);
	const char *why;
	if (spf_macro_expand(&c->vars, text, len, SPF_MACRO_EXPLAIN, &b, &why) == 0)
		snprintf(c->out->explanation, sizeof(c->out->explanation), "%s", buf_cstr(&b));
	buf_free(&b);
	return 0;

failed:
	/* Finding %{p} stopped: a pending answer is waited for; the void
	 * limit (the only other way) just costs the explanation. */
	if (c->abort == MAILAUTH_PENDING)
		return -1;
	memcpy(c->out->reason, saved_reason, sizeof(saved_reason));
	return 0;
}

/* check_host() (RFC 7208 4). Returns 0 with *result one of none, neutral,
 * pass, fail, softfail; or -1 when the run stops (c->abort says why).
 * in_include: evaluating an include's target, whose exp= is never used. */
static int check_host(struct spf_ctx *c, const char *domain, unsigned depth, bool in_include,
		      enum mailauth_result *result)
{
	if (depth > SPF_MAX_DEPTH)
		return stop(c, MAILAUTH_PERMERROR, "SPF records nested too deeply at %s", domain);
	const char *rec = NULL;
	size_t rec_len = 0;
	int r = fetch_record(c, domain, &rec, &rec_len);
	if (r < 0)
		return -1;
	if (r == 0) {
		*result = MAILAUTH_NONE;
		snprintf(c->out->reason, sizeof(c->out->reason), "no SPF record for %s", domain);
		return 0;
	}

	const char *end = rec + rec_len, *p, *s;
	size_t len;
	struct term t, redirect = {0}, exp = {0};
	bool has_redirect = false, has_exp = false;
	const char *why;

	for (p = rec + 6; next_term(&p, end, &s, &len);) {
		if (parse_term(s, len, &t, &why) < 0)
			return stop(c, MAILAUTH_PERMERROR, "syntax error in SPF record of %s: %s (%.*s)",
				    domain, why, term_len(&t), s);
		if (t.kind == T_REDIRECT || t.kind == T_EXP) {
			bool *seen = t.kind == T_REDIRECT ? &has_redirect : &has_exp;
			if (*seen)
				return stop(c, MAILAUTH_PERMERROR,
					    "SPF record of %s has more than one %s= modifier", domain,
					    t.kind == T_REDIRECT ? "redirect" : "exp");
			*seen = true;
			if (t.kind == T_REDIRECT)
				redirect = t;
			else
				exp = t;
		}
		/* pyspf refuses a literal include of the record's own domain
		 * at once, even after a mechanism that would match. */
		if (t.kind == T_INCLUDE && memchr(t.spec, '%', t.spec_len) == NULL) {
			size_t n = t.spec_len, dn = strlen(domain);
			if (n > 0 && t.spec[n - 1] == '.')
				n--;
			if (dn > 0 && domain[dn - 1] == '.')
				dn--;
			if (n == dn && strncasecmp(t.spec, domain, n) == 0)
				return stop(c, MAILAUTH_PERMERROR, "SPF record of %s includes itself",
					    domain);
		}
	}

	for (p = rec + 6; next_term(&p, end, &s, &len);) {
		if (parse_term(s, len, &t, &why) < 0 || t.kind >= T_REDIRECT)
			continue;
		r = eval_mechanism(c, &t, domain, depth);
		if (r < 0)
			return -1;
		if (r == 0)
			continue;
		*result = t.qualifier;
		if (depth == 0)
			snprintf(c->out->reason, sizeof(c->out->reason), "matched %.*s", term_len(&t),
				 t.text);
		else
			snprintf(c->out->reason, sizeof(c->out->reason), "matched %.*s in %s",
				 term_len(&t), t.text, domain);
		if (t.qualifier == MAILAUTH_FAIL && has_exp && !in_include)
			return explain(c, &exp, domain);
		return 0;
	}

	/* RFC 7208 6.1: redirect= applies when no mechanism matched (an
	 * "all" always matches, so it wins over redirect=). It counts
	 * against the 10 only when used, unlike pyspf, which counts it while
	 * parsing. */
	if (has_redirect) {
		char name[DNS_NAME_MAX + 1];
		if (count_lookup(c, &redirect) < 0)
			return -1;
		r = target_name(c, &redirect, domain, name);
		if (r < 0)
			return -1;
		if (r == 0)
			return stop(c, MAILAUTH_PERMERROR, "%.*s: not a usable domain name",
				    term_len(&redirect), redirect.text);
		/* Same level as this record: the target's exp= applies, this
		 * record's does not (6.2). */
		if (check_host(c, name, depth + 1, in_include, result) < 0)
			return -1;
		if (*result == MAILAUTH_NONE)
			return stop(c, MAILAUTH_PERMERROR, "%.*s: no SPF record at %s",
				    term_len(&redirect), redirect.text, name);
		return 0;
	}

	*result = MAILAUTH_NEUTRAL;
	snprintf(c->out->reason, sizeof(c->out->reason), "no mechanism matched in %s", domain);
	return 0;
}

/* RFC 7208 2.4, 4.3: the MAIL FROM identity, or postmaster@HELO for the
 * null reverse path. Sets the macro variables; returns the domain to
 * check (owned by the caller with local and sender), or NULL with a reason
 * when there is nothing to check. */
static char *choose_identity(struct spf_ctx *c, const struct spf_request *req, char **local,
			     char **sender)
{
	const char *mail_from = req->mail_from != NULL ? req->mail_from : "";
	char *domain;

	if (mail_from[0] == '\0') {
		c->out->identity = "helo";
		if (req->helo == NULL || req->helo[0] == '\0') {
			snprintf(c->out->reason, sizeof(c->out->reason),
				 "null sender and no HELO name");
			return NULL;
		}
		*local = xstrdup("postmaster");
		domain = xstrdup(req->helo);
	} else {
		/* The domain follows the last "@": a quoted local-part may
		 * hold one too. */
		const char *at = strrchr(mail_from, '@');
		if (at == NULL) {
			*local = xstrdup("postmaster");
			domain = xstrdup(mail_from);
		} else {
			*local = at == mail_from ? xstrdup("postmaster")
						 : xstrndup(mail_from, (size_t)(at - mail_from));
			domain = xstrdup(at + 1);
		}
	}
	*sender = xasprintf("%s@%s", *local, domain);
	snprintf(c->out->domain, sizeof(c->out->domain), "%s", domain);
	snprintf(c->out->sender, sizeof(c->out->sender), "%s", *sender);
	c->vars.s = *sender;
	c->vars.l = *local;
	c->vars.o = domain;
	c->vars.h = req->helo;
	c->vars.r = req->receiver;
	return domain;
}

enum mailauth_result spf_check(struct dns_cache *dns, const struct spf_request *req,
			       struct spf_outcome *out)
{
	static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	struct spf_ctx c;
	char *local = NULL, *sender = NULL, *domain = NULL;
	enum mailauth_result result = MAILAUTH_NONE;

	memset(out, 0, sizeof(*out));
	out->identity = "mailfrom";
	memset(&c, 0, sizeof(c));
	c.dns = dns;
	c.out = out;

	if (req->ip_family == 4) {
		c.family = 4;
		memcpy(c.ip, req->ip, 4);
	} else if (req->ip_family == 6 && memcmp(req->ip, mapped, 12) == 0) {
		/* An IPv4 client on a dual-stack socket is an IPv4 client. */
		c.family = 4;
		memcpy(c.ip, req->ip + 12, 4);
	} else if (req->ip_family == 6) {
		c.family = 6;
		memcpy(c.ip, req->ip, 16);
	} else {
		snprintf(out->reason, sizeof(out->reason), "no client address");
		goto done;
	}
	c.vars.ip_family = c.family;
	memcpy(c.vars.ip, c.ip, 16);
	c.vars.t = (long long)time(NULL);

	domain = choose_identity(&c, req, &local, &sender);
	if (domain == NULL)
		goto done;
	if (!initial_domain_ok(domain)) {
		snprintf(out->reason, sizeof(out->reason), "%.200s is not a valid domain name",
			 out->domain);
		goto done;
	}
	if (check_host(&c, domain, 0, false, &result) < 0)
		result = c.abort;

done:
	out->result = result;
	out->dns_mechanisms = c.lookups;
	out->void_lookups = c.voids;
	if (result != MAILAUTH_FAIL)
		out->explanation[0] = '\0';
	free(local);
	free(sender);
	free(domain);
	return result;
}
