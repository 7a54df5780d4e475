#include "common/netaddr.h"

#include <arpa/inet.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "common/xalloc.h"

/* Longest item a network list may hold: an IPv6 text form plus "/128". */
#define CIDR_TEXT_MAX (INET6_ADDRSTRLEN + 4)

static const struct in6_addr *v4mapped_or_null(const struct sockaddr *sa)
{
	if (sa == NULL || sa->sa_family != AF_INET6)
		return NULL;
	const struct in6_addr *a6 = &((const struct sockaddr_in6 *)sa)->sin6_addr;
	return IN6_IS_ADDR_V4MAPPED(a6) ? a6 : NULL;
}

void netaddr_format(const struct sockaddr *sa, char out[NETADDR_STRLEN])
{
	const struct in6_addr *mapped = v4mapped_or_null(sa);
	const char *res = NULL;

	if (mapped != NULL)
		res = inet_ntop(AF_INET, &mapped->s6_addr[12], out, NETADDR_STRLEN);
	else if (sa != NULL && sa->sa_family == AF_INET)
		res = inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr,
				out, NETADDR_STRLEN);
	else if (sa != NULL && sa->sa_family == AF_INET6)
		res = inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr,
				out, NETADDR_STRLEN);
	else if (sa != NULL && sa->sa_family == AF_UNIX)
		res = strcpy(out, "unix");
	if (res == NULL)
		strcpy(out, "unknown");
}

uint16_t netaddr_port(const struct sockaddr *sa)
{
	if (sa == NULL)
		return 0;
	if (sa->sa_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)sa)->sin_port);
	if (sa->sa_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)sa)->sin6_port);
	return 0;
}

void netaddr_key(const struct sockaddr *sa, struct netaddr_key *key_r)
{
	const struct in6_addr *mapped = v4mapped_or_null(sa);

	memset(key_r, 0, sizeof(*key_r));
	if (mapped != NULL) {
		key_r->family = 4;
		memcpy(key_r->addr, &mapped->s6_addr[12], 4);
	} else if (sa != NULL && sa->sa_family == AF_INET) {
		key_r->family = 4;
		memcpy(key_r->addr, &((const struct sockaddr_in *)sa)->sin_addr, 4);
	} else if (sa != NULL && sa->sa_family == AF_INET6) {
		key_r->family = 6;
		memcpy(key_r->addr, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
	}
}

static size_t key_addr_len(uint8_t family)
{
	return family == 4 ? 4 : family == 6 ? 16 : 0;
}

bool netaddr_key_eq(const struct netaddr_key *a, const struct netaddr_key *b)
{
	return a->family == b->family &&
	       memcmp(a->addr, b->addr, key_addr_len(a->family)) == 0;
}

/*
 * SipHash-2-4 with a per-process random key. A client on IPv6 picks freely
 * among 2^64 addresses of its own /64, so an unkeyed hash would let it fill
 * a single bucket of a per-address table (penalties, connection counts).
 */
static uint64_t hash_key[2];
static pthread_once_t hash_key_once = PTHREAD_ONCE_INIT;

static void hash_key_init(void)
{
	if (getrandom(hash_key, sizeof(hash_key), 0) == (ssize_t)sizeof(hash_key))
		return;
	/* Only without getrandom(): weaker, but still differs per process. */
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	hash_key[0] = (uint64_t)ts.tv_nsec * 0x9e3779b97f4a7c15ULL ^ (uint64_t)getpid();
	hash_key[1] = (uint64_t)ts.tv_sec * 0xc2b2ae3d27d4eb4fULL ^ (uint64_t)(uintptr_t)&ts;
}

static inline uint64_t rotl64(uint64_t x, unsigned b)
{
	return (x << b) | (x >> (64 - b));
}

#define SIP_ROUND(v0, v1, v2, v3) do { \
	v0 += v1; v1 = rotl64(v1, 13); v1 ^= v0; v0 = rotl64(v0, 32); \
	v2 += v3; v3 = rotl64(v3, 16); v3 ^= v2; \
	v0 += v3; v3 = rotl64(v3, 21); v3 ^= v0; \
	v2 += v1; v1 = rotl64(v1, 17); v1 ^= v2; v2 = rotl64(v2, 32); \
} while (0)

static uint64_t siphash24(const uint8_t *data, size_t len, const uint64_t key[2])
{
	uint64_t v0 = key[0] ^ 0x736f6d6570736575ULL;
	uint64_t v1 = key[1] ^ 0x646f72616e646f6dULL;
	uint64_t v2 = key[0] ^ 0x6c7967656e657261ULL;
	uint64_t v3 = key[1] ^ 0x7465646279746573ULL;
	size_t i = 0;

	for (; i + 8 <= len; i += 8) {
		uint64_t m = 0;
		for (unsigned j = 0; j < 8; j++)
			m |= (uint64_t)data[i + j] << (8 * j);
		v3 ^= m;
		SIP_ROUND(v0, v1, v2, v3);
		SIP_ROUND(v0, v1, v2, v3);
		v0 ^= m;
	}
	uint64_t last = (uint64_t)len << 56;
	for (unsigned j = 0; i + j < len; j++)
		last |= (uint64_t)data[i + j] << (8 * j);
	v3 ^= last;
	SIP_ROUND(v0, v1, v2, v3);
	SIP_ROUND(v0, v1, v2, v3);
	v0 ^= last;
	v2 ^= 0xff;
	for (unsigned r = 0; r < 4; r++)
		SIP_ROUND(v0, v1, v2, v3);
	return v0 ^ v1 ^ v2 ^ v3;
}

uint32_t netaddr_key_hash(const struct netaddr_key *k)
{
	uint8_t input[1 + sizeof(k->addr)];
	size_t n = key_addr_len(k->family);

	pthread_once(&hash_key_once, hash_key_init);
	input[0] = k->family;
	memcpy(input + 1, k->addr, n);
	uint64_t h = siphash24(input, 1 + n, hash_key);
	return (uint32_t)(h ^ (h >> 32));
}

/* Clears every bit of addr past the first `prefix` bits. */
static void mask_host_bits(uint8_t *addr, size_t nbytes, unsigned prefix)
{
	for (size_t i = 0; i < nbytes; i++) {
		if (prefix >= 8) {
			prefix -= 8;
		} else {
			addr[i] &= (uint8_t)(0xff << (8 - prefix));
			prefix = 0;
		}
	}
}

static bool prefix_equal(const uint8_t *a, const uint8_t *b, unsigned prefix)
{
	size_t whole = prefix / 8;
	unsigned rest = prefix % 8;

	if (memcmp(a, b, whole) != 0)
		return false;
	if (rest == 0)
		return true;
	uint8_t mask = (uint8_t)(0xff << (8 - rest));
	return (a[whole] & mask) == (b[whole] & mask);
}

int cidr_parse(const char *text, struct cidr *cidr_r, const char **error_r)
{
	char host[INET6_ADDRSTRLEN];
	struct cidr c = { 0 };

	if (text == NULL || *text == '\0') {
		*error_r = "empty network";
		return -1;
	}
	const char *slash = strchr(text, '/');
	size_t host_len = slash != NULL ? (size_t)(slash - text) : strlen(text);
	if (host_len == 0) {
		*error_r = "missing address before '/'";
		return -1;
	}
	if (host_len >= sizeof(host)) {
		*error_r = "address too long";
		return -1;
	}
	memcpy(host, text, host_len);
	host[host_len] = '\0';

	if (strchr(host, ':') != NULL) {
		c.family = 6;
		if (inet_pton(AF_INET6, host, c.addr) != 1) {
			*error_r = "not a valid IPv6 address";
			return -1;
		}
	} else {
		c.family = 4;
		if (inet_pton(AF_INET, host, c.addr) != 1) {
			*error_r = "not a valid IPv4 address";
			return -1;
		}
	}
	unsigned max_prefix = c.family == 4 ? 32 : 128;
	unsigned prefix = max_prefix;

	if (slash != NULL) {
		const char *p = slash + 1;
		if (*p == '\0') {
			*error_r = "missing prefix length after '/'";
			return -1;
		}
		/* Stops accumulating once past 128, so no digit string can overflow. */
		prefix = 0;
		for (; *p != '\0'; p++) {
			if (*p < '0' || *p > '9') {
				*error_r = "prefix length is not a decimal number";
				return -1;
			}
			if (prefix <= 128)
				prefix = prefix * 10 + (unsigned)(*p - '0');
		}
		if (prefix > max_prefix) {
			*error_r = c.family == 4 ? "prefix length over 32 for IPv4" :
						   "prefix length over 128 for IPv6";
			return -1;
		}
	}
	c.prefix = (uint8_t)prefix;
	mask_host_bits(c.addr, sizeof(c.addr), prefix);

	/* Clients arrive as IPv4 keys whether mapped or not (netaddr_key), so
	 * a mapped network must become the IPv4 network it stands for. */
	static const uint8_t v4mapped_prefix[12] = { [10] = 0xff, [11] = 0xff };
	if (c.family == 6 && prefix >= 96 &&
	    memcmp(c.addr, v4mapped_prefix, sizeof(v4mapped_prefix)) == 0) {
		memmove(c.addr, c.addr + 12, 4);
		memset(c.addr + 4, 0, 12);
		c.family = 4;
		c.prefix = (uint8_t)(prefix - 96);
	}
	*cidr_r = c;
	return 0;
}

bool cidr_match(const struct cidr *cidr, const struct sockaddr *sa)
{
	struct netaddr_key key;

	netaddr_key(sa, &key);
	if (key.family == 0 || key.family != cidr->family)
		return false;
	return prefix_equal(key.addr, cidr->addr, cidr->prefix);
}

static bool is_list_sep(char c)
{
	return c == ',' || c == ' ' || c == '\t' || c == '\n' || c == '\r' ||
	       c == '\v' || c == '\f';
}

static _Thread_local char cidr_list_error[CIDR_TEXT_MAX + 96];

static const char *list_error(const char *item, size_t len, const char *reason)
{
	/* Only the start of an overlong item is quoted; it is what the admin
	 * needs to find it in the file. */
	int shown = len > CIDR_TEXT_MAX ? CIDR_TEXT_MAX : (int)len;
	snprintf(cidr_list_error, sizeof(cidr_list_error), "invalid network '%.*s%s': %s",
		 shown, item, (size_t)shown < len ? "..." : "", reason);
	return cidr_list_error;
}

int cidr_list_parse(const char *text, struct cidr_list *list_r, const char **error_r)
{
	struct cidr_list list = { NULL, 0 };
	size_t cap = 0;
	const char *p = text != NULL ? text : "";

	*list_r = list;
	for (;;) {
		while (*p != '\0' && is_list_sep(*p))
			p++;
		if (*p == '\0')
			break;
		const char *start = p;
		while (*p != '\0' && !is_list_sep(*p))
			p++;
		size_t len = (size_t)(p - start);

		char item[CIDR_TEXT_MAX + 1];
		struct cidr c = { 0 };
		const char *reason = NULL;
		if (len > CIDR_TEXT_MAX) {
			reason = "too long";
		} else {
			memcpy(item, start, len);
			item[len] = '\0';
			if (cidr_parse(item, &c, &reason) == 0)
				reason = NULL;
		}
		if (reason != NULL) {
			free(list.items);
			*error_r = list_error(start, len, reason);
			return -1;
		}
		if (list.count == cap) {
			cap = cap == 0 ? 4 : cap * 2;
			list.items = xreallocarray(list.items, cap, sizeof(*list.items));
		}
		list.items[list.count++] = c;
	}
	*list_r = list;
	return 0;
}

bool cidr_list_match(const struct cidr_list *list, const struct sockaddr *sa)
{
	for (size_t i = 0; i < list->count; i++)
		if (cidr_match(&list->items[i], sa))
			return true;
	return false;
}

void cidr_list_free(struct cidr_list *list)
{
	free(list->items);
	list->items = NULL;
	list->count = 0;
}

/* Port 1..65535 in decimal, digits only; the digit cap keeps it from
 * overflowing whatever the input length. */
static int parse_port(const char *s, uint16_t *port_r, const char **error_r)
{
	unsigned value = 0;
	size_t digits = 0;

	if (*s == '\0') {
		*error_r = "missing port";
		return -1;
	}
	for (; *s != '\0'; s++, digits++) {
		if (*s < '0' || *s > '9') {
			*error_r = "port is not a decimal number";
			return -1;
		}
		if (digits >= 5) {
			*error_r = "port out of range 1-65535";
			return -1;
		}
		value = value * 10 + (unsigned)(*s - '0');
	}
	if (value == 0 || value > 65535) {
		*error_r = "port out of range 1-65535";
		return -1;
	}
	*port_r = (uint16_t)value;
	return 0;
}

static int parse_unix_path(const char *path, struct listen_addr *addr_r, const char **error_r)
{
	if (*path == '\0') {
		*error_r = "empty unix socket path";
		return -1;
	}
	if (*path != '/') {
		*error_r = "unix socket path must be absolute";
		return -1;
	}
	size_t len = strnlen(path, sizeof(addr_r->path));
	if (len >= sizeof(addr_r->path)) {
		*error_r = "unix socket path too long";
		return -1;
	}
	addr_r->kind = LISTEN_UNIX;
	memcpy(addr_r->path, path, len + 1);
	return 0;
}

int listen_addr_parse(const char *text, struct listen_addr *addr_r, const char **error_r)
{
	char host[INET6_ADDRSTRLEN];
	const char *host_start, *port_text;
	size_t host_len;
	bool v6;
	uint16_t port;

	memset(addr_r, 0, sizeof(*addr_r));
	if (text == NULL || *text == '\0') {
		*error_r = "empty listen address";
		return -1;
	}
	if (strncmp(text, "unix:", 5) == 0)
		return parse_unix_path(text + 5, addr_r, error_r);
	if (text[0] == '/')
		return parse_unix_path(text, addr_r, error_r);

	if (text[0] == '[') {
		const char *close = strchr(text, ']');
		if (close == NULL) {
			*error_r = "unclosed '[' in IPv6 address";
			return -1;
		}
		if (close[1] != ':') {
			*error_r = "missing ':port' after ']'";
			return -1;
		}
		v6 = true;
		host_start = text + 1;
		host_len = (size_t)(close - host_start);
		port_text = close + 2;
	} else {
		const char *colon = strrchr(text, ':');
		if (colon == NULL) {
			*error_r = "missing ':port'";
			return -1;
		}
		if (memchr(text, ':', (size_t)(colon - text)) != NULL) {
			*error_r = "IPv6 address must be written as [address]:port";
			return -1;
		}
		v6 = false;
		host_start = text;
		host_len = (size_t)(colon - text);
		port_text = colon + 1;
	}
	if (host_len == 0) {
		*error_r = "missing address before port (use * for any IPv4 address)";
		return -1;
	}
	if (host_len >= sizeof(host)) {
		*error_r = "address too long";
		return -1;
	}
	memcpy(host, host_start, host_len);
	host[host_len] = '\0';
	if (parse_port(port_text, &port, error_r) < 0)
		return -1;

	if (v6) {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&addr_r->ss;
		if (inet_pton(AF_INET6, host, &sin6->sin6_addr) != 1) {
			*error_r = "not a valid IPv6 address";
			return -1;
		}
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(port);
		addr_r->sslen = sizeof(*sin6);
	} else {
		struct sockaddr_in *sin = (struct sockaddr_in *)&addr_r->ss;
		if (strcmp(host, "*") == 0) {
			sin->sin_addr.s_addr = htonl(INADDR_ANY);
		} else if (inet_pton(AF_INET, host, &sin->sin_addr) != 1) {
			*error_r = "not a valid IPv4 address";
			return -1;
		}
		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
		addr_r->sslen = sizeof(*sin);
	}
	addr_r->kind = LISTEN_TCP;
	return 0;
}

void listen_addr_format(const struct listen_addr *addr, char *out, size_t outlen)
{
	char host[INET6_ADDRSTRLEN];

	if (outlen == 0)
		return;
	if (addr->kind == LISTEN_UNIX) {
		snprintf(out, outlen, "unix:%s", addr->path);
		return;
	}
	/* Not netaddr_format(): a mapped listen address stays IPv6, since that
	 * is the socket family it binds. */
	if (addr->ss.ss_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)&addr->ss;
		inet_ntop(AF_INET, &sin->sin_addr, host, sizeof(host));
		snprintf(out, outlen, "%s:%u", host, ntohs(sin->sin_port));
	} else if (addr->ss.ss_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)&addr->ss;
		inet_ntop(AF_INET6, &sin6->sin6_addr, host, sizeof(host));
		snprintf(out, outlen, "[%s]:%u", host, ntohs(sin6->sin6_port));
	} else {
		snprintf(out, outlen, "unknown");
	}
}
