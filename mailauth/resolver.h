/*
 * The DNS driver for lmtpd and petrelctl: answers a dns_cache's queued
 * questions (see dns.h) with c-ares on a libuv loop, so lookups never block
 * the loop.
 *
 * c-ares 1.18 (Debian 12) is used with ARES_FLAG_NOCHECKRESP so that a
 * SERVFAIL or REFUSED reply is reported as such (-> DNS_TEMPFAIL) instead
 * of being retried into a timeout, and with the servers from [lmtp]
 * dns_servers ("127.0.0.1:5353", so tests can run a DNS server on
 * loopback) or from /etc/resolv.conf. A resolver belongs to one loop and
 * one thread (c-ares channels are not shared between threads).
 */
#ifndef PETREL_MAILAUTH_RESOLVER_H
#define PETREL_MAILAUTH_RESOLVER_H

#include <uv.h>

#include "mailauth/dns.h"

struct dns_resolver;
struct dns_request;

/* servers: comma-separated "ip", "ip:port", "[ipv6]:port" (also "[ipv6]"
 * or a bare IPv6 address without a port; spaces around entries are
 * ignored); NULL or "" uses /etc/resolv.conf. Port defaults to 53.
 * timeout_ms: for a whole question, retries included; a question not
 * answered in time is DNS_TEMPFAIL. c-ares gets a third of it per try,
 * two tries (the second twice as long), so one server uses it all.
 * Returns 0, or -1 with a malloc'd *error_r (a bad server entry is named). */
int dns_resolver_new(uv_loop_t *loop, const char *servers, unsigned timeout_ms,
		     struct dns_resolver **resolver_r, char **error_r);
/* Cancels every request (their callbacks are not called) and closes the
 * loop handles; the memory goes once libuv has closed them, so the loop
 * must run afterwards (uv_run until it ends) before it is closed. */
void dns_resolver_free(struct dns_resolver *resolver);

/* Takes every question queued in cache and asks it; calls done(arg) once,
 * from the loop, when all of them have an answer in the cache (never from
 * inside this call, even when nothing was queued). Every answer is in the
 * cache by then, DNS_TEMPFAIL for those not answered within timeout_ms of
 * this call. done may fill again, cancel requests or free the resolver.
 * The request belongs to the resolver: once done has returned, the
 * pointer is gone and must not be cancelled. Never returns NULL; must not
 * be called once dns_resolver_free has been (it aborts). */
struct dns_request *dns_resolver_fill(struct dns_resolver *resolver, struct dns_cache *cache,
				      void (*done)(void *arg), void *arg);
/* done will not be called; the cache is no longer touched. Safe to call
 * from inside other callbacks, including this request's own done. The
 * cache may be freed right after. Questions already sent are not
 * withdrawn (c-ares cannot); their late replies are dropped. */
void dns_request_cancel(struct dns_request *req);

#endif
