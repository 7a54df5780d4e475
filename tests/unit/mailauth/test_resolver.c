/*
 * Unit tests for mailauth/resolver: c-ares on a libuv loop against a fake
 * authoritative server on loopback (a thread answering UDP with replies
 * built by hand), so every record type, every failure RCODE, silence,
 * garbage, cancellation and teardown are exercised over a real socket.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <uv.h>

#include "mailauth/dns.h"
#include "mailauth/resolver.h"

/* ---- The fake server ------------------------------------------------ */

struct fake_server {
	int fd;
	int tcp_fd; /* same port; answers one query per connection */
	int stop_pipe[2];
	unsigned short port;
	pthread_t thread;
	atomic_int queries;
};

struct reply {
	uint8_t buf[4096];
	size_t len;
	unsigned ancount;
};

static void put8(struct reply *r, unsigned v)
{
	r->buf[r->len++] = (uint8_t)v;
}

static void put16(struct reply *r, unsigned v)
{
	put8(r, v >> 8);
	put8(r, v & 0xff);
}

static void put32(struct reply *r, uint32_t v)
{
	put16(r, v >> 16);
	put16(r, v & 0xffff);
}

static void put_bytes(struct reply *r, const void *p, size_t len)
{
	memcpy(r->buf + r->len, p, len);
	r->len += len;
}

/* Labels of a dotted name, without the terminating root label. */
static void put_labels(struct reply *r, const char *name)
{
	while (*name != '\0') {
		const char *dot = strchr(name, '.');
		size_t len = dot != NULL ? (size_t)(dot - name) : strlen(name);
		put8(r, (unsigned)len);
		put_bytes(r, name, len);
		name += len;
		if (*name == '.')
			name++;
	}
}

static void put_name(struct reply *r, const char *name)
{
	put_labels(r, name);
	put8(r, 0);
}

/* Compression pointer to the question name (always at offset 12). */
static void put_qname_ptr(struct reply *r)
{
	put16(r, 0xc000 | 12);
}

/* Starts an RR; owner NULL means the question name. Returns where the
 * RDLENGTH goes, for rr_end. */
static size_t rr_start(struct reply *r, const char *owner, unsigned type)
{
	if (owner == NULL)
		put_qname_ptr(r);
	else
		put_name(r, owner);
	put16(r, type);
	put16(r, 1);
	put32(r, 300);
	put16(r, 0);
	r->ancount++;
	return r->len - 2;
}

static void rr_end(struct reply *r, size_t at)
{
	size_t len = r->len - at - 2;
	r->buf[at] = (uint8_t)(len >> 8);
	r->buf[at + 1] = (uint8_t)len;
}

static void rr_a(struct reply *r, const char *owner, const char *ip)
{
	size_t at = rr_start(r, owner, DNS_T_A);
	uint8_t addr[4] = {0};
	(void)inet_pton(AF_INET, ip, addr);
	put_bytes(r, addr, 4);
	rr_end(r, at);
}

/* One TXT record; strings are given with their lengths (they may hold NUL). */
static void rr_txt(struct reply *r, size_t nstr, const char *const *strs, const size_t *lens)
{
	size_t at = rr_start(r, NULL, DNS_T_TXT);
	for (size_t i = 0; i < nstr; i++) {
		put8(r, (unsigned)lens[i]);
		put_bytes(r, strs[i], lens[i]);
	}
	rr_end(r, at);
}

static void rr_txt1(struct reply *r, const char *s)
{
	size_t len = strlen(s);
	rr_txt(r, 1, &s, &len);
}

static void set_rcode(struct reply *r, unsigned rcode)
{
	r->buf[3] = (uint8_t)((r->buf[3] & 0xf0) | rcode);
}

enum action {
	ACT_SEND,
	ACT_DROP,
};

/* Names that exist with other types than the one asked: NODATA. */
static bool name_exists(const char *name)
{
	static const char *const names[] = {
		"a.test",   "aaaa.test", "mx.test",     "txt.test", "nul.test",
		"long.test", "edns.test", "target.test", "1.2.0.192.in-addr.arpa",
	};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(name, names[i]) == 0)
			return true;
	return false;
}

/* The zone. Every name lives under .test except the PTR one. */
static enum action zone_answer(const char *name, unsigned qtype, bool edns, bool tcp,
				struct reply *r)
{
	unsigned n;

	if (strcmp(name, "a.test") == 0 && qtype == DNS_T_A) {
		rr_a(r, NULL, "192.0.2.1");
		rr_a(r, NULL, "192.0.2.2");
	} else if (strcmp(name, "aaaa.test") == 0 && qtype == DNS_T_AAAA) {
		size_t at = rr_start(r, NULL, DNS_T_AAAA);
		uint8_t addr[16] = {0};
		(void)inet_pton(AF_INET6, "2001:db8::1", addr);
		put_bytes(r, addr, 16);
		rr_end(r, at);
	} else if (strcmp(name, "mx.test") == 0 && qtype == DNS_T_MX) {
		size_t at = rr_start(r, NULL, DNS_T_MX);
		put16(r, 10);
		put_name(r, "MAIL.Example.COM");
		rr_end(r, at);
		at = rr_start(r, NULL, DNS_T_MX);
		put16(r, 20);
		put_labels(r, "Backup");
		put_qname_ptr(r);
		rr_end(r, at);
	} else if (strcmp(name, "txt.test") == 0 && qtype == DNS_T_TXT) {
		static const char *const strs[] = {"v=spf1 ", "ip4:192.0.2.0/24 ", "-all"};
		static const size_t lens[] = {7, 17, 4};
		rr_txt(r, 3, strs, lens);
		rr_txt1(r, "second");
	} else if (strcmp(name, "nul.test") == 0 && qtype == DNS_T_TXT) {
		static const char *const strs[] = {"a\0b", ""};
		static const size_t lens[] = {3, 0};
		rr_txt(r, 2, strs, lens);
	} else if (strcmp(name, "long.test") == 0 && qtype == DNS_T_TXT) {
		/* 4 x 200 bytes: more than 512, so it needs EDNS (or TCP). */
		static char chunk[200];
		memset(chunk, 'k', sizeof(chunk));
		const char *strs[] = {chunk, chunk, chunk, chunk};
		const size_t lens[] = {200, 200, 200, 200};
		if (!edns)
			return ACT_DROP;
		rr_txt(r, 4, strs, lens);
	} else if (strcmp(name, "1.2.0.192.in-addr.arpa") == 0 && qtype == DNS_T_PTR) {
		size_t at = rr_start(r, NULL, DNS_T_PTR);
		put_name(r, "Host.Example.COM");
		rr_end(r, at);
		at = rr_start(r, NULL, DNS_T_PTR);
		put_name(r, "alias.example.net");
		rr_end(r, at);
	} else if (strcmp(name, "cname.test") == 0) {
		size_t at = rr_start(r, NULL, 5);
		put_name(r, "target.test");
		rr_end(r, at);
		if (qtype == DNS_T_A)
			rr_a(r, "target.test", "192.0.2.9");
	} else if (strcmp(name, "nx.test") == 0) {
		set_rcode(r, 3);
	} else if (strcmp(name, "nodata.test") == 0) {
		/* NOERROR, empty answer section */
	} else if (strcmp(name, "servfail.test") == 0) {
		set_rcode(r, 2);
	} else if (strcmp(name, "refused.test") == 0) {
		set_rcode(r, 5);
	} else if (strcmp(name, "silent.test") == 0) {
		return ACT_DROP;
	} else if (strcmp(name, "trunc.test") == 0) {
		rr_a(r, NULL, "192.0.2.1");
		r->len -= 3; /* the RDATA ends early; ANCOUNT still says 1 */
	} else if (strcmp(name, "garbage.test") == 0) {
		static const uint8_t junk[] = {0xde, 0xad, 0xbe, 0xef, 0x00};
		memcpy(r->buf, junk, sizeof(junk));
		r->len = sizeof(junk);
		r->ancount = 0;
		return ACT_SEND;
	} else if (strcmp(name, "delay.test") == 0) {
		struct timespec ts = {0, 150 * 1000 * 1000};
		nanosleep(&ts, NULL);
		rr_a(r, NULL, "192.0.2.7");
	} else if (sscanf(name, "n%u.many.test", &n) == 1 && qtype == DNS_T_A) {
		char ip[32];
		snprintf(ip, sizeof(ip), "192.0.2.%u", n);
		rr_a(r, NULL, ip);
	} else if (strcmp(name, "tc.test") == 0 && qtype == DNS_T_A) {
		if (tcp)
			rr_a(r, NULL, "192.0.2.77");
		else
			r->buf[2] |= 0x02; /* TC: ask again over TCP */
	} else if (strcmp(name, "edns.test") == 0 && qtype == DNS_T_TXT) {
		rr_txt1(r, edns ? "yes" : "no");
	} else if (!name_exists(name)) {
		set_rcode(r, 3);
	}
	r->buf[6] = (uint8_t)(r->ancount >> 8);
	r->buf[7] = (uint8_t)r->ancount;
	return ACT_SEND;
}

static enum action build_reply(const uint8_t *q, size_t qlen, bool tcp, struct reply *r)
{
	char name[256];
	size_t off = 12, nlen = 0;

	if (qlen < 12)
		return ACT_DROP;
	for (;;) {
		if (off >= qlen)
			return ACT_DROP;
		unsigned l = q[off++];
		if (l == 0)
			break;
		if (l > 63 || off + l > qlen || nlen + l + 2 > sizeof(name))
			return ACT_DROP;
		if (nlen > 0)
			name[nlen++] = '.';
		for (unsigned i = 0; i < l; i++)
			name[nlen++] = (char)tolower(q[off + i]);
		off += l;
	}
	name[nlen] = '\0';
	if (off + 4 > qlen)
		return ACT_DROP;
	unsigned qtype = (unsigned)q[off] << 8 | q[off + 1];
	off += 4;
	unsigned arcount = (unsigned)q[10] << 8 | q[11];
	/* An OPT RR: root owner, type 41. */
	bool edns = arcount > 0 && off + 3 <= qlen && q[off] == 0 && q[off + 1] == 0 &&
		    q[off + 2] == 41;

	memset(r, 0, sizeof(*r));
	put_bytes(r, q, 2);             /* ID */
	put8(r, 0x84 | (q[2] & 0x01)); /* QR, AA, RD echoed */
	put8(r, 0x80);                 /* RA, NOERROR */
	put16(r, 1);
	put16(r, 0);
	put16(r, 0);
	put16(r, 0);
	put_bytes(r, q + 12, off - 12);
	return zone_answer(name, qtype, edns, tcp, r);
}

static bool read_full(int fd, uint8_t *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = read(fd, buf, len);
		if (n <= 0)
			return false;
		buf += n;
		len -= (size_t)n;
	}
	return true;
}

/* RFC 1035 4.2.2: a two-byte length before each message. */
static void serve_tcp(struct fake_server *s)
{
	int c = accept(s->tcp_fd, NULL, NULL);
	if (c < 0)
		return;
	struct timeval tv = {2, 0};
	setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	uint8_t lenbuf[2], q[1500];
	if (read_full(c, lenbuf, 2)) {
		size_t qlen = (size_t)lenbuf[0] << 8 | lenbuf[1];
		struct reply r;
		if (qlen <= sizeof(q) && read_full(c, q, qlen)) {
			atomic_fetch_add(&s->queries, 1);
			if (build_reply(q, qlen, true, &r) == ACT_SEND) {
				uint8_t out[sizeof(r.buf) + 2];
				out[0] = (uint8_t)(r.len >> 8);
				out[1] = (uint8_t)r.len;
				memcpy(out + 2, r.buf, r.len);
				(void)write(c, out, r.len + 2);
			}
		}
	}
	close(c);
}

static void *server_main(void *arg)
{
	struct fake_server *s = arg;
	struct pollfd pfd[3] = {
		{s->fd, POLLIN, 0}, {s->stop_pipe[0], POLLIN, 0}, {s->tcp_fd, POLLIN, 0}};

	for (;;) {
		if (poll(pfd, 3, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (pfd[1].revents != 0)
			break;
		if (pfd[2].revents & POLLIN)
			serve_tcp(s);
		if (!(pfd[0].revents & POLLIN))
			continue;
		uint8_t q[1500];
		struct sockaddr_storage from;
		socklen_t fromlen = sizeof(from);
		ssize_t n = recvfrom(s->fd, q, sizeof(q), 0, (struct sockaddr *)&from, &fromlen);
		if (n <= 0)
			continue;
		atomic_fetch_add(&s->queries, 1);
		struct reply r;
		if (build_reply(q, (size_t)n, false, &r) == ACT_SEND)
			(void)sendto(s->fd, r.buf, r.len, 0, (struct sockaddr *)&from, fromlen);
	}
	return NULL;
}

/* A socket of type bound to the loopback address of family, at port (0:
 * any); sets *port_r. Returns -1 when that fails. */
static int bind_loopback(int family, int type, unsigned short port, unsigned short *port_r)
{
	int fd = socket(family, type | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	struct sockaddr_storage ss;
	socklen_t len;
	memset(&ss, 0, sizeof(ss));
	if (family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
		sin->sin_family = AF_INET;
		sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		sin->sin_port = htons(port);
		len = sizeof(*sin);
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
		sin6->sin6_family = AF_INET6;
		sin6->sin6_addr = in6addr_loopback;
		sin6->sin6_port = htons(port);
		len = sizeof(*sin6);
	}
	if (bind(fd, (struct sockaddr *)&ss, len) < 0 ||
	    getsockname(fd, (struct sockaddr *)&ss, &len) < 0 ||
	    (type == SOCK_STREAM && listen(fd, 16) < 0)) {
		close(fd);
		return -1;
	}
	*port_r = ntohs(family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
					  : ((struct sockaddr_in6 *)&ss)->sin6_port);
	return fd;
}

/* UDP and TCP on one ephemeral port. Returns -1 when the address family
 * is not available here. */
static int server_start(struct fake_server *s, int family)
{
	memset(s, 0, sizeof(*s));
	for (int attempt = 0; attempt < 20; attempt++) {
		unsigned short tcp_port;
		s->fd = bind_loopback(family, SOCK_DGRAM, 0, &s->port);
		if (s->fd < 0)
			return -1;
		s->tcp_fd = bind_loopback(family, SOCK_STREAM, s->port, &tcp_port);
		if (s->tcp_fd >= 0)
			break;
		close(s->fd);
		s->fd = -1;
	}
	if (s->fd < 0)
		return -1;
	assert_int_equal(pipe(s->stop_pipe), 0);
	assert_int_equal(pthread_create(&s->thread, NULL, server_main, s), 0);
	return 0;
}

static void server_stop(struct fake_server *s)
{
	assert_int_equal(write(s->stop_pipe[1], "x", 1), 1);
	pthread_join(s->thread, NULL);
	close(s->stop_pipe[0]);
	close(s->stop_pipe[1]);
	close(s->fd);
	close(s->tcp_fd);
}

/* ---- Fixture -------------------------------------------------------- */

struct fixture {
	uv_loop_t loop;
	struct fake_server server;
	struct dns_resolver *resolver;
	struct dns_cache *cache;
	uv_timer_t watchdog;
	bool watchdog_fired;
	int done_calls;
	uint64_t started;
	uint64_t elapsed_ms;
	/* for the callback tests */
	struct dns_request *other;
	int rounds;
};

static void new_resolver(struct fixture *f, unsigned timeout_ms)
{
	char servers[64], *error = NULL;
	snprintf(servers, sizeof(servers), "127.0.0.1:%u", f->server.port);
	if (f->resolver != NULL)
		dns_resolver_free(f->resolver);
	assert_int_equal(dns_resolver_new(&f->loop, servers, timeout_ms, &f->resolver, &error), 0);
	assert_null(error);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	assert_int_equal(server_start(&f->server, AF_INET), 0);
	assert_int_equal(uv_loop_init(&f->loop), 0);
	assert_int_equal(uv_timer_init(&f->loop, &f->watchdog), 0);
	new_resolver(f, 2000);
	f->cache = dns_cache_new();
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	dns_resolver_free(f->resolver);
	uv_close((uv_handle_t *)&f->watchdog, NULL);
	assert_int_equal(uv_run(&f->loop, UV_RUN_DEFAULT), 0);
	assert_int_equal(uv_loop_close(&f->loop), 0);
	dns_cache_free(f->cache);
	server_stop(&f->server);
	free(f);
	return 0;
}

static void done_cb(void *arg)
{
	struct fixture *f = arg;
	f->done_calls++;
	f->elapsed_ms = (uv_hrtime() - f->started) / 1000000;
}

static void watchdog_cb(uv_timer_t *t)
{
	struct fixture *f = t->data;
	f->watchdog_fired = true;
	uv_stop(t->loop);
}

/* Runs the loop until `calls` done callbacks have happened, or fails
 * after 10 s. */
static void run_until_done(struct fixture *f, int calls)
{
	f->watchdog.data = f;
	uv_timer_start(&f->watchdog, watchdog_cb, 10000, 0);
	while (f->done_calls < calls && !f->watchdog_fired)
		uv_run(&f->loop, UV_RUN_ONCE);
	uv_timer_stop(&f->watchdog);
	assert_false(f->watchdog_fired);
	assert_int_equal(f->done_calls, calls);
}

/* Runs the loop for ms milliseconds. */
static void run_for(struct fixture *f, unsigned ms)
{
	f->watchdog.data = f;
	f->watchdog_fired = false;
	uv_timer_start(&f->watchdog, watchdog_cb, ms, 0);
	while (!f->watchdog_fired)
		uv_run(&f->loop, UV_RUN_ONCE);
	f->watchdog_fired = false;
}

/* Asks the questions queued in f->cache and waits for the answers. */
static void resolve(struct fixture *f)
{
	f->started = uv_hrtime();
	f->done_calls = 0;
	assert_non_null(dns_resolver_fill(f->resolver, f->cache, done_cb, f));
	assert_int_equal(f->done_calls, 0);
	run_until_done(f, 1);
	assert_false(dns_cache_has_open_questions(f->cache));
}

static const struct dns_answer *ask(struct fixture *f, const char *name, enum dns_type type)
{
	assert_null(dns_cache_get(f->cache, name, type));
	resolve(f);
	const struct dns_answer *a = dns_cache_get(f->cache, name, type);
	assert_non_null(a);
	return a;
}

static void assert_ipv4(const struct dns_record *rec, const char *ip)
{
	uint8_t want[4];
	assert_int_equal(inet_pton(AF_INET, ip, want), 1);
	assert_int_equal(rec->family, 4);
	assert_memory_equal(rec->addr, want, 4);
}

/* ---- Records -------------------------------------------------------- */

static void test_a(void **state)
{
	struct fixture *f = *state;
	const struct dns_answer *a = ask(f, "a.test", DNS_T_A);
	assert_int_equal(a->status, DNS_OK);
	assert_int_equal(a->count, 2);
	assert_ipv4(&a->records[0], "192.0.2.1");
	assert_ipv4(&a->records[1], "192.0.2.2");
}

static void test_aaaa(void **state)
{
	struct fixture *f = *state;
	const struct dns_answer *a = ask(f, "aaaa.test", DNS_T_AAAA);
	assert_int_equal(a->status, DNS_OK);
	assert_int_equal(a->count, 1);
	uint8_t want[16];
	assert_int_equal(inet_pton(AF_INET6, "2001:db8::1", want), 1);
	assert_int_equal(a->records[0].family, 6);
	assert_memory_equal(a->records[0].addr, want, 16);
}

static void test_mx(void **state)
{
	struct fixture *f = *state;
	const struct dns_answer *a = ask(f, "MX.test.", DNS_T_MX);
	assert_int_equal(a->status, DNS_OK);
	assert_int_equal(a->count, 2);
	assert_int_equal(a->records[0].preference, 10);
	assert_string_equal(a->records[0].data, "mail.example.com");
	assert_int_equal(a->records[0].len, strlen("mail.example.com"));
	assert_int_equal(a->records[1].preference, 20);
	assert_string_equal(a->records[1].data, "backup.mx.test");
}

static void test_txt_records_joined(void **state)
{
	struct fixture *f = *state;
	const struct dns_answer *a = ask(f, "txt.test", DNS_T_TXT);
	assert_int_equal(a->status, DNS_OK);
	assert_int_equal(a->count, 2);
	assert_string_equal(a->records[0].data, "v=spf1 ip4:192.0.2.0/24 -all");
	assert_int_equal(a->records[0].len, 28);
	assert_string_equal(a->records[1].data, "second");
	assert_int_equal(a->records[1].len, 6);
}

static void test_txt_nul(void **state)
{
	struct fixture *f = *state;
	const struct dns_answer *a = ask(f, "nul.test", DNS_T_TXT);
	assert_int_equal(a->status, DNS_OK);
	assert_int_equal(a->count, 1);
	assert_int_equal(a->records[0].len, 3);
	assert_memory_equal(a->records[0].data, "a\0b", 4);
}

/* EDNS is on, so an 800-byte TXT comes over UDP in one reply. */
static void test_txt_long_edns(void **state)
{
	struct fixture *f = *state;
	const struct dns_answer *a = ask(f, "edns.test", DNS_T_TXT);
	assert_int_equal(a->status, DNS_OK);
	assert_string_equal(a->records[0].data, "yes");
	a = ask(f, "long.test", DNS_T_TXT);
	assert_int_equal(a->status, DNS_OK);
	assert_int_equal(a->count, 1);
	assert_int_equal(a->records[0].len, 800);
	assert_int_equal(a->records[0].data[799], 'k');
}

/* TC set over UDP: c-ares asks again over TCP (sock_state_cb with
 * writable while connecting). */
static void test_truncated_flag_tcp(void **state)
{
	struct fixture *f = *state;
	const struct dns_answer *a = ask(f, "tc.test", DNS_T_A);
	assert_int_equal(a->status, DNS_OK);
	assert_int_equal(a->count, 1);
	assert_ipv4(&a->records[0], "192.0.2.77");
	assert_int_equal(atomic_load(&f->server.queries), 2);
}

static void test_ptr(void **state)
{
	struct fixture *f = *state;
	const struct dns_answer *a = ask(f, "1.2.0.192.in-addr.arpa", DNS_T_PTR);
	assert_int_equal(a->status, DNS_OK);
	assert_int_equal(a->count, 2);
	assert_string_equal(a->records[0].data, "host.example.com");
	assert_int_equal(a->records[0].len, 16);
	assert_string_equal(a->records[1].data, "alias.example.net");
}

static void test_cname(void **state)
{
	struct fixture *f = *state;
	const struct dns_answer *a = ask(f, "cname.test", DNS_T_A);
	assert_int_equal(a->status, DNS_OK);
	assert_int_equal(a->count, 1);
	assert_ipv4(&a->records[0], "192.0.2.9");
	/* A CNAME whose target has nothing of the type. */
	a = ask(f, "cname.test", DNS_T_TXT);
	assert_int_equal(a->status, DNS_NODATA);
}

/* ---- Statuses ------------------------------------------------------- */

static void test_nxdomain_nodata(void **state)
{
	struct fixture *f = *state;
	assert_null(dns_cache_get(f->cache, "nx.test", DNS_T_TXT));
	assert_null(dns_cache_get(f->cache, "nodata.test", DNS_T_A));
	assert_null(dns_cache_get(f->cache, "a.test", DNS_T_MX));
	resolve(f);
	assert_int_equal(dns_cache_get(f->cache, "nx.test", DNS_T_TXT)->status, DNS_NXDOMAIN);
	assert_int_equal(dns_cache_get(f->cache, "nodata.test", DNS_T_A)->status, DNS_NODATA);
	assert_int_equal(dns_cache_get(f->cache, "a.test", DNS_T_MX)->status, DNS_NODATA);
	assert_true(f->elapsed_ms < 500);
}

/* With ARES_FLAG_NOCHECKRESP these come back at once, not after retries. */
static void test_servfail_refused(void **state)
{
	struct fixture *f = *state;
	const struct dns_answer *a = ask(f, "servfail.test", DNS_T_A);
	assert_int_equal(a->status, DNS_TEMPFAIL);
	assert_true(f->elapsed_ms < 500);
	a = ask(f, "refused.test", DNS_T_TXT);
	assert_int_equal(a->status, DNS_TEMPFAIL);
	assert_true(f->elapsed_ms < 500);
	assert_int_equal(atomic_load(&f->server.queries), 2);
}

static void test_silent_server_times_out(void **state)
{
	struct fixture *f = *state;
	new_resolver(f, 300);
	const struct dns_answer *a = ask(f, "silent.test", DNS_T_A);
	assert_int_equal(a->status, DNS_TEMPFAIL);
	assert_in_range(f->elapsed_ms, 250, 900);
	/* c-ares retried once. */
	assert_int_equal(atomic_load(&f->server.queries), 2);
}

/* A second server that never answers: c-ares alone would spend
 * t + t + 2t + 2t on the two; the request deadline stops at timeout_ms. */
static void test_deadline_two_servers(void **state)
{
	struct fixture *f = *state;
	unsigned short port;
	int mute = bind_loopback(AF_INET, SOCK_DGRAM, 0, &port);
	assert_true(mute >= 0);
	char servers[64], *error = NULL;
	snprintf(servers, sizeof(servers), "127.0.0.1:%u,127.0.0.1:%u", port, f->server.port);
	dns_resolver_free(f->resolver);
	assert_int_equal(dns_resolver_new(&f->loop, servers, 300, &f->resolver, &error), 0);
	const struct dns_answer *a = ask(f, "silent.test", DNS_T_A);
	assert_int_equal(a->status, DNS_TEMPFAIL);
	assert_in_range(f->elapsed_ms, 250, 500);
	close(mute);
}

/* Nothing listens: the ICMP error ends the question at once. */
static void test_connection_refused(void **state)
{
	struct fixture *f = *state;
	unsigned short port;
	int fd = bind_loopback(AF_INET, SOCK_DGRAM, 0, &port);
	assert_true(fd >= 0);
	close(fd);
	char servers[64], *error = NULL;
	snprintf(servers, sizeof(servers), "127.0.0.1:%u", port);
	dns_resolver_free(f->resolver);
	assert_int_equal(dns_resolver_new(&f->loop, servers, 2000, &f->resolver, &error), 0);
	const struct dns_answer *a = ask(f, "a.test", DNS_T_A);
	assert_int_equal(a->status, DNS_TEMPFAIL);
	assert_true(f->elapsed_ms < 500);
}

/* c-ares refuses a 64-byte label inside ares_query; done still comes
 * from the loop. */
static void test_bad_name(void **state)
{
	struct fixture *f = *state;
	char name[80];
	memset(name, 'x', 64);
	strcpy(name + 64, ".test");
	const struct dns_answer *a = ask(f, name, DNS_T_TXT);
	assert_int_equal(a->status, DNS_NXDOMAIN);
	assert_int_equal(atomic_load(&f->server.queries), 0);
}

static void test_truncated_reply(void **state)
{
	struct fixture *f = *state;
	const struct dns_answer *a = ask(f, "trunc.test", DNS_T_A);
	assert_int_equal(a->status, DNS_TEMPFAIL);
	assert_true(f->elapsed_ms < 500);
}

static void test_garbage_reply(void **state)
{
	struct fixture *f = *state;
	new_resolver(f, 300);
	const struct dns_answer *a = ask(f, "garbage.test", DNS_T_A);
	assert_int_equal(a->status, DNS_TEMPFAIL);
	assert_in_range(f->elapsed_ms, 0, 900);
}

static void test_many_questions(void **state)
{
	struct fixture *f = *state;
	char name[64];
	for (unsigned i = 0; i < 50; i++) {
		snprintf(name, sizeof(name), "n%u.many.test", i + 1);
		assert_null(dns_cache_get(f->cache, name, DNS_T_A));
	}
	resolve(f);
	for (unsigned i = 0; i < 50; i++) {
		char ip[32];
		snprintf(name, sizeof(name), "n%u.many.test", i + 1);
		snprintf(ip, sizeof(ip), "192.0.2.%u", i + 1);
		const struct dns_answer *a = dns_cache_get(f->cache, name, DNS_T_A);
		assert_non_null(a);
		assert_int_equal(a->status, DNS_OK);
		assert_int_equal(a->count, 1);
		assert_ipv4(&a->records[0], ip);
	}
}

/* One slow question does not hold up another request's answers, and
 * the deadline applies to the questions of the slow request only. */
static void test_two_caches(void **state)
{
	struct fixture *f = *state;
	struct dns_cache *other = dns_cache_new();
	new_resolver(f, 300);
	assert_null(dns_cache_get(other, "silent.test", DNS_T_A));
	assert_null(dns_cache_get(other, "a.test", DNS_T_A));
	assert_null(dns_cache_get(f->cache, "txt.test", DNS_T_TXT));
	f->started = uv_hrtime();
	dns_resolver_fill(f->resolver, other, done_cb, f);
	dns_resolver_fill(f->resolver, f->cache, done_cb, f);
	run_until_done(f, 1);
	assert_true(f->elapsed_ms < 250);
	assert_int_equal(dns_cache_get(f->cache, "txt.test", DNS_T_TXT)->status, DNS_OK);
	run_until_done(f, 2);
	assert_in_range(f->elapsed_ms, 250, 900);
	assert_int_equal(dns_cache_get(other, "silent.test", DNS_T_A)->status, DNS_TEMPFAIL);
	assert_int_equal(dns_cache_get(other, "a.test", DNS_T_A)->status, DNS_OK);
	dns_cache_free(other);
}

/* ---- Requests ------------------------------------------------------- */

static void test_nothing_queued(void **state)
{
	struct fixture *f = *state;
	dns_resolver_fill(f->resolver, f->cache, done_cb, f);
	assert_int_equal(f->done_calls, 0);
	run_until_done(f, 1);
}

static void never_cb(void *arg)
{
	(void)arg;
	fail_msg("done called for a cancelled request");
}

static void test_cancel(void **state)
{
	struct fixture *f = *state;
	assert_null(dns_cache_get(f->cache, "delay.test", DNS_T_A));
	assert_null(dns_cache_get(f->cache, "a.test", DNS_T_A));
	assert_null(dns_cache_get(f->cache, "silent.test", DNS_T_A));
	struct dns_request *req = dns_resolver_fill(f->resolver, f->cache, never_cb, f);
	dns_request_cancel(req);
	/* The cache may go at once; late replies must not touch it. */
	dns_cache_free(f->cache);
	f->cache = NULL;
	run_for(f, 400);
	assert_true(atomic_load(&f->server.queries) >= 3);
	/* And a cancelled request that has finished but not been told yet. */
	f->cache = dns_cache_new();
	req = dns_resolver_fill(f->resolver, f->cache, never_cb, f);
	dns_request_cancel(req);
	run_for(f, 20);
}

static void test_free_with_requests_outstanding(void **state)
{
	struct fixture *f = *state;
	struct dns_cache *other = dns_cache_new();
	assert_null(dns_cache_get(f->cache, "silent.test", DNS_T_A));
	assert_null(dns_cache_get(f->cache, "delay.test", DNS_T_A));
	assert_null(dns_cache_get(other, "a.test", DNS_T_A));
	dns_resolver_fill(f->resolver, f->cache, never_cb, f);
	run_for(f, 30);
	dns_resolver_fill(f->resolver, other, never_cb, f);
	struct dns_cache *empty = dns_cache_new();
	dns_resolver_fill(f->resolver, empty, never_cb, f); /* finished, not told */
	dns_resolver_free(f->resolver);
	f->resolver = NULL;
	uint64_t start = uv_hrtime();
	assert_int_equal(uv_run(&f->loop, UV_RUN_DEFAULT), 0);
	assert_true((uv_hrtime() - start) / 1000000 < 100);
	dns_cache_free(other);
	dns_cache_free(empty);
}

static void free_from_done_cb(void *arg)
{
	struct fixture *f = arg;
	f->done_calls++;
	/* The other request finished in the same round; it is cancelled
	 * by the free and must not be called. */
	dns_resolver_free(f->resolver);
	f->resolver = NULL;
}

static void test_free_from_done(void **state)
{
	struct fixture *f = *state;
	struct dns_cache *other = dns_cache_new();
	struct dns_cache *slow = dns_cache_new();
	assert_null(dns_cache_get(slow, "silent.test", DNS_T_A));
	dns_resolver_fill(f->resolver, slow, never_cb, f);
	dns_resolver_fill(f->resolver, f->cache, free_from_done_cb, f);
	dns_resolver_fill(f->resolver, other, never_cb, f);
	run_until_done(f, 1);
	assert_null(f->resolver);
	dns_cache_free(other);
	dns_cache_free(slow);
}

static void cancel_other_cb(void *arg)
{
	struct fixture *f = arg;
	f->done_calls++;
	dns_request_cancel(f->other);
}

static void test_cancel_from_done(void **state)
{
	struct fixture *f = *state;
	struct dns_cache *other = dns_cache_new();
	dns_resolver_fill(f->resolver, f->cache, cancel_other_cb, f);
	f->other = dns_resolver_fill(f->resolver, other, never_cb, f);
	run_until_done(f, 1);
	run_for(f, 20);
	assert_int_equal(f->done_calls, 1);
	/* A request cancelling itself from its own done. */
	f->other = dns_resolver_fill(f->resolver, other, cancel_other_cb, f);
	run_until_done(f, 2);
	dns_cache_free(other);
}

/* The replay model: done runs the evaluation again, which asks more. */
static void replay_cb(void *arg)
{
	struct fixture *f = arg;
	f->rounds++;
	const struct dns_answer *mx = dns_cache_get(f->cache, "mx.test", DNS_T_MX);
	assert_non_null(mx);
	assert_int_equal(mx->status, DNS_OK);
	bool pending = false;
	for (size_t i = 0; i < mx->count; i++)
		if (dns_cache_get(f->cache, mx->records[i].data, DNS_T_A) == NULL)
			pending = true;
	if (pending)
		dns_resolver_fill(f->resolver, f->cache, replay_cb, f);
	else
		f->done_calls++;
}

static void test_replay_from_done(void **state)
{
	struct fixture *f = *state;
	assert_null(dns_cache_get(f->cache, "mx.test", DNS_T_MX));
	dns_resolver_fill(f->resolver, f->cache, replay_cb, f);
	run_until_done(f, 1);
	assert_int_equal(f->rounds, 2);
	assert_int_equal(dns_cache_get(f->cache, "mail.example.com", DNS_T_A)->status,
			 DNS_NXDOMAIN);
}

/* ---- Configuration -------------------------------------------------- */

static void test_server_strings(void **state)
{
	struct fixture *f = *state;
	static const char *const bad[] = {
		"1.2.3",        "1.2.3.4:",      "1.2.3.4:0",  "1.2.3.4:65536", "1.2.3.4:5x",
		"[::1",         "[::1]x",        "[::1]:",     "[1.2.3.4]:53",  "dns.example",
		",1.2.3.4",     "1.2.3.4,,::1",  "1.2.3.4,",   " ",             "[]:53",
		"fe80::1%eth0", "1.2.3.4:53:53", "::1::2",
	};
	static const char *const good[] = {
		NULL, "", "127.0.0.1", "127.0.0.1:5353", " 127.0.0.1:53 , [::1]:5353,::1", "[::1]",
		/* short entries that grow the most: "[::]:53" each */
		"::,::,::,::,::,::,::,::,::,::,::,::,::,::,::,::,::,::,::,::,::,::,::,::",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct dns_resolver *r = NULL;
		char *error = NULL;
		assert_int_equal(dns_resolver_new(&f->loop, bad[i], 1000, &r, &error), -1);
		assert_non_null(error);
		assert_null(r);
		free(error);
	}
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		struct dns_resolver *r = NULL;
		char *error = NULL;
		int ret = dns_resolver_new(&f->loop, good[i], 1000, &r, &error);
		if (ret != 0)
			fail_msg("\"%s\": %s", good[i] ? good[i] : "(null)", error);
		dns_resolver_free(r);
	}
}

static void test_ipv6_server(void **state)
{
	struct fixture *f = *state;
	struct fake_server s6;
	if (server_start(&s6, AF_INET6) < 0)
		skip();
	char servers[64], *error = NULL;
	snprintf(servers, sizeof(servers), "[::1]:%u", s6.port);
	dns_resolver_free(f->resolver);
	assert_int_equal(dns_resolver_new(&f->loop, servers, 2000, &f->resolver, &error), 0);
	const struct dns_answer *a = ask(f, "a.test", DNS_T_A);
	assert_int_equal(a->status, DNS_OK);
	assert_int_equal(a->count, 2);
	assert_int_equal(atomic_load(&s6.queries), 1);
	assert_int_equal(atomic_load(&f->server.queries), 0);
	server_stop(&s6);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_a, setup, teardown),
		cmocka_unit_test_setup_teardown(test_aaaa, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mx, setup, teardown),
		cmocka_unit_test_setup_teardown(test_txt_records_joined, setup, teardown),
		cmocka_unit_test_setup_teardown(test_txt_nul, setup, teardown),
		cmocka_unit_test_setup_teardown(test_txt_long_edns, setup, teardown),
		cmocka_unit_test_setup_teardown(test_truncated_flag_tcp, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ptr, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cname, setup, teardown),
		cmocka_unit_test_setup_teardown(test_nxdomain_nodata, setup, teardown),
		cmocka_unit_test_setup_teardown(test_servfail_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_silent_server_times_out, setup, teardown),
		cmocka_unit_test_setup_teardown(test_deadline_two_servers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_connection_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_name, setup, teardown),
		cmocka_unit_test_setup_teardown(test_truncated_reply, setup, teardown),
		cmocka_unit_test_setup_teardown(test_garbage_reply, setup, teardown),
		cmocka_unit_test_setup_teardown(test_many_questions, setup, teardown),
		cmocka_unit_test_setup_teardown(test_two_caches, setup, teardown),
		cmocka_unit_test_setup_teardown(test_nothing_queued, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cancel, setup, teardown),
		cmocka_unit_test_setup_teardown(test_free_with_requests_outstanding, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_free_from_done, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cancel_from_done, setup, teardown),
		cmocka_unit_test_setup_teardown(test_replay_from_done, setup, teardown),
		cmocka_unit_test_setup_teardown(test_server_strings, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ipv6_server, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
