/*
 * Socket addresses as text, as hash keys, as networks, and as listen
 * addresses from the configuration.
 *
 * Nothing here resolves host names: configuration and PROXY headers carry
 * numeric addresses only, so no function in this module blocks or touches
 * the network.
 *
 * IPv4-mapped IPv6 addresses (::ffff:a.b.c.d) are IPv4 for every purpose
 * except listen addresses: a dual-stack socket reports IPv4 clients that
 * way, and an IPv4 allow-list or penalty table must still see them as the
 * same client.
 */
#ifndef PETREL_COMMON_NETADDR_H
#define PETREL_COMMON_NETADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <sys/un.h>

/* Max length of a formatted address, with NUL: fits any IPv6 text form. */
#define NETADDR_STRLEN 64

/* Writes the address (no port) as text: "192.0.2.1", "2001:db8::1"; an
 * IPv4-mapped IPv6 address (::ffff:192.0.2.1) is written as plain IPv4;
 * AF_UNIX gives "unix", any other family "unknown". IPv6 scope ids are not
 * written. Always NUL-terminates. */
void netaddr_format(const struct sockaddr *sa, char out[NETADDR_STRLEN]);
/* Port in host order; 0 for AF_UNIX and other non-IP families. */
uint16_t netaddr_port(const struct sockaddr *sa);

/* A normalised IP address for hashing and comparison: IPv4 and IPv4-mapped
 * IPv6 give the same key. Unused bytes of addr are zero. */
struct netaddr_key {
	uint8_t family; /* 4 or 6, 0 = not IP (unix) */
	uint8_t addr[16];
};

/* Fills *key_r from sa. Every non-IP address gives the same key, family 0. */
void netaddr_key(const struct sockaddr *sa, struct netaddr_key *key_r);
bool netaddr_key_eq(const struct netaddr_key *a, const struct netaddr_key *b);
/* Hash of the key, seeded once per process so that clients cannot choose
 * addresses that all land in one bucket. Equal keys give equal hashes
 * within a process; the value is not stable across processes. */
uint32_t netaddr_key_hash(const struct netaddr_key *k);

struct cidr {
	uint8_t family; /* 4 or 6 */
	uint8_t addr[16];
	uint8_t prefix;
};

/* Parses "10.0.0.0/8", "192.0.2.7" (a /32), "2001:db8::/32", "::1" (a /128).
 * Host bits beyond the prefix are masked off. An IPv4-mapped IPv6 network
 * with a prefix of at least 96 ("::ffff:10.0.0.0/104") is stored as the
 * IPv4 network it covers (10.0.0.0/8). No whitespace is allowed.
 * Returns 0, or -1 with *error_r set to a static English message. */
int cidr_parse(const char *text, struct cidr *cidr_r, const char **error_r);
/* True when sa is inside the network. IPv4-mapped IPv6 client addresses
 * match IPv4 networks. AF_UNIX never matches. */
bool cidr_match(const struct cidr *cidr, const struct sockaddr *sa);

struct cidr_list {
	struct cidr *items; /* owned; NULL when count is 0 */
	size_t count;
};

/* Parses a list of networks separated by commas and/or whitespace; runs of
 * separators count as one, and empty text gives an empty list.
 * Returns 0 with *list_r filled (free it with cidr_list_free()), or -1 with
 * *list_r empty, nothing allocated, and *error_r naming the bad item:
 * "invalid network 'x': reason". That message lives in a thread-local
 * buffer and stays valid until the next cidr_list_parse() call in the
 * same thread; copy it to keep it. */
int cidr_list_parse(const char *text, struct cidr_list *list_r, const char **error_r);
/* True when any network of the list matches; an empty list matches nothing. */
bool cidr_list_match(const struct cidr_list *list, const struct sockaddr *sa);
/* Frees the items and leaves an empty list; safe on an empty list. */
void cidr_list_free(struct cidr_list *list);

enum listen_kind {
	LISTEN_TCP,
	LISTEN_UNIX,
};

struct listen_addr {
	enum listen_kind kind;
	struct sockaddr_storage ss; /* LISTEN_TCP */
	socklen_t sslen;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)]; /* LISTEN_UNIX */
};

/* Parses one listen address: "127.0.0.1:143", "[::1]:143", "*:143" (all
 * IPv4), "[::]:143" (all IPv6), "unix:/run/petrel/lmtp" or an absolute path
 * "/run/petrel/lmtp". Hosts are numeric; IPv6 needs brackets. TCP needs a
 * port 1..65535; a unix path must be absolute and fit sun_path with its NUL.
 * Fields that do not apply to the kind are zero.
 * Returns 0, or -1 with *error_r set to a static English message. */
int listen_addr_parse(const char *text, struct listen_addr *addr_r, const char **error_r);
/* Text form for logs: "127.0.0.1:143", "[::1]:143", "unix:/path". Always
 * NUL-terminates when outlen > 0, truncating if needed; NETADDR_STRLEN + 8
 * bytes fit any TCP address, sizeof(path) + 5 any unix one. */
void listen_addr_format(const struct listen_addr *addr, char *out, size_t outlen);

#endif
