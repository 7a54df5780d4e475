/*
 * The c-ares driver behind resolver.h.
 *
 * One channel per resolver. c-ares tells us through its socket-state
 * callback which sockets to watch; each gets a uv_poll_t. One uv_timer_t
 * serves both c-ares's retransmission timeouts (ares_timeout) and our own
 * per-request deadline, which is what makes "timeout_ms for the whole
 * question" hold whatever c-ares's retry arithmetic does. A uv_idle_t
 * delivers done callbacks, so user code never runs inside c-ares (where
 * freeing the resolver would pull the channel out from under it) nor
 * inside dns_resolver_fill.
 *
 * Lifetimes: a request is referenced by the resolver until its done has
 * been called or it is cancelled, and by each c-ares callback still due.
 * c-ares has no way to withdraw a single query, so a cancelled or
 * timed-out request lingers, detached from its cache, until c-ares gives
 * its queries up (at most its own timeout) or the channel is destroyed
 * (ARES_EDESTRUCTION).
 */
#include "mailauth/resolver.h"

#include <ares.h>
#include <arpa/inet.h>
#include <ctype.h>
#include <limits.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "common/log.h"
#include "common/xalloc.h"

/* RFC 1035 4.1.1 */
#define DNS_HEADER_SIZE 12
#define DNS_RCODE_NOERROR 0
#define DNS_RCODE_NXDOMAIN 3
#define DNS_CLASS_IN 1

/* c-ares retransmits once; see dns_resolver_new for the timing. */
#define RESOLVER_TRIES 2
/* The EDNS payload size of the DNS Flag Day 2020: large enough for most
 * SPF and DKIM TXT answers without TCP, small enough not to fragment. */
#define RESOLVER_EDNS_SIZE 1232

struct sock_watch {
	uv_poll_t poll;
	ares_socket_t fd;
	struct dns_resolver *resolver;
	struct sock_watch *next;
};

enum request_state {
	REQUEST_ACTIVE,    /* on resolver->active: questions outstanding */
	REQUEST_FINISHED,  /* on resolver->finished: done not called yet */
	REQUEST_NOTIFYING, /* done is running */
	REQUEST_RETIRED,   /* done called or cancelled */
};

struct query {
	struct dns_request *req;
	const char *name; /* the cache's copy; only read while ACTIVE */
	enum dns_type type;
	bool answered;
};

struct dns_request {
	struct dns_resolver *resolver;
	struct dns_cache *cache; /* NULL once cancelled */
	void (*done)(void *arg);
	void *arg;
	enum request_state state;
	bool cancelled;
	bool in_batch; /* picked for the current round of done callbacks */
	uint64_t deadline; /* now_ms() time */
	size_t unanswered;
	/* c-ares callbacks still due, plus one until retired. */
	unsigned refs;
	struct dns_request *prev, *next;
	size_t nqueries;
	struct query queries[];
};

struct request_list {
	struct dns_request *head, *tail;
};

struct dns_resolver {
	uv_loop_t *loop;
	ares_channel channel;
	unsigned timeout_ms;
	uv_timer_t timer;
	uv_idle_t idle;
	struct sock_watch *watches;
	/* All requests get the same timeout and now_ms() never goes back, so
	 * appending keeps this list ordered by deadline. */
	struct request_list active;
	struct request_list finished;
	unsigned open_handles; /* freed when the last one has closed */
	bool closing;
};

static pthread_once_t library_once = PTHREAD_ONCE_INIT;
static int library_status;

static void library_init(void)
{
	library_status = ares_library_init(ARES_LIB_INIT_ALL);
}

static void idle_cb(uv_idle_t *handle);

static void list_append(struct request_list *list, struct dns_request *req)
{
	req->next = NULL;
	req->prev = list->tail;
	if (list->tail != NULL)
		list->tail->next = req;
	else
		list->head = req;
	list->tail = req;
}

static void list_remove(struct request_list *list, struct dns_request *req)
{
	if (req->prev != NULL)
		req->prev->next = req->next;
	else
		list->head = req->next;
	if (req->next != NULL)
		req->next->prev = req->prev;
	else
		list->tail = req->prev;
	req->prev = req->next = NULL;
}

/* Deadlines use the clock itself rather than the loop's cached time, which
 * can be stale when fill is called after a long stretch of work. */
static uint64_t now_ms(void)
{
	return uv_hrtime() / 1000000;
}

static void request_unref(struct dns_request *req)
{
	if (--req->refs == 0)
		free(req);
}

static void request_retire(struct dns_request *req)
{
	req->state = REQUEST_RETIRED;
	req->cache = NULL;
	request_unref(req);
}

/* Every question has its answer in the cache: queue the done callback. */
static void request_finish(struct dns_request *req)
{
	struct dns_resolver *r = req->resolver;

	if (req->state == REQUEST_ACTIVE)
		list_remove(&r->active, req);
	req->state = REQUEST_FINISHED;
	list_append(&r->finished, req);
	if (!r->closing)
		uv_idle_start(&r->idle, idle_cb);
}

/* Reply parsing. c-ares hands out names without the trailing dot; we
 * lowercase them in place (the strings are ours until freed). */
static size_t name_normalise(char *name)
{
	size_t len = strlen(name);
	if (len > 0 && name[len - 1] == '.')
		name[--len] = '\0';
	for (size_t i = 0; i < len; i++)
		name[i] = (char)tolower((unsigned char)name[i]);
	return len;
}

static void put(struct query *q, enum dns_status status, const struct dns_record *records,
		size_t count)
{
	dns_cache_put(q->req->cache, q->name, q->type, status, records, count);
}

/* A parser's result that is not ARES_SUCCESS: ENODATA means the answer
 * section held nothing of our type (a CNAME alone, say); anything else is
 * a reply we could not read. */
static void put_parse_failure(struct query *q, int status)
{
	put(q, status == ARES_ENODATA ? DNS_NODATA : DNS_TEMPFAIL, NULL, 0);
}

static void put_addresses(struct query *q, const unsigned char *abuf, int alen)
{
	struct hostent *host = NULL;
	int status = q->type == DNS_T_A ? ares_parse_a_reply(abuf, alen, &host, NULL, NULL)
					: ares_parse_aaaa_reply(abuf, alen, &host, NULL, NULL);
	if (status != ARES_SUCCESS) {
		put_parse_failure(q, status);
		return;
	}
	size_t want = q->type == DNS_T_A ? 4 : 16;
	size_t n = 0;
	while (host->h_addr_list != NULL && host->h_addr_list[n] != NULL)
		n++;
	struct dns_record *recs = xcalloc(n ? n : 1, sizeof(*recs));
	size_t count = 0;
	if ((size_t)host->h_length == want) {
		for (size_t i = 0; i < n; i++) {
			recs[count].family = want == 4 ? 4 : 6;
			memcpy(recs[count].addr, host->h_addr_list[i], want);
			count++;
		}
	}
	put(q, DNS_OK, recs, count);
	free(recs);
	ares_free_hostent(host);
}

static void put_mx(struct query *q, const unsigned char *abuf, int alen)
{
	struct ares_mx_reply *mx = NULL;
	int status = ares_parse_mx_reply(abuf, alen, &mx);
	if (status != ARES_SUCCESS) {
		put_parse_failure(q, status);
		return;
	}
	size_t n = 0;
	for (struct ares_mx_reply *m = mx; m != NULL; m = m->next)
		n++;
	struct dns_record *recs = xcalloc(n ? n : 1, sizeof(*recs));
	size_t i = 0;
	for (struct ares_mx_reply *m = mx; m != NULL; m = m->next, i++) {
		recs[i].preference = m->priority;
		recs[i].data = m->host;
		recs[i].len = name_normalise(m->host);
	}
	put(q, DNS_OK, recs, n);
	free(recs);
	ares_free_data(mx);
}

/* RFC 7208 3.3 and RFC 6376 3.6.2.2: the character-strings of one record
 * are joined without separators. record_start marks the first string of
 * each record. */
static void put_txt(struct query *q, const unsigned char *abuf, int alen)
{
	struct ares_txt_ext *txt = NULL;
	int status = ares_parse_txt_reply_ext(abuf, alen, &txt);
	if (status != ARES_SUCCESS) {
		put_parse_failure(q, status);
		return;
	}
	size_t nrec = 0, nstr = 0;
	for (struct ares_txt_ext *t = txt; t != NULL; t = t->next, nstr++)
		if (t->record_start || nstr == 0)
			nrec++;
	struct dns_record *recs = xcalloc(nrec ? nrec : 1, sizeof(*recs));
	size_t cur = 0;
	nstr = 0;
	for (struct ares_txt_ext *t = txt; t != NULL; t = t->next, nstr++) {
		if (t->record_start && nstr > 0)
			cur++;
		struct dns_record *rec = &recs[cur];
		/* Each string is at most 255 bytes and a reply at most 64 KiB,
		 * so the sum cannot overflow. */
		rec->data = xrealloc(rec->data, rec->len + t->length + 1);
		if (t->length > 0)
			memcpy(rec->data + rec->len, t->txt, t->length);
		rec->len += t->length;
		rec->data[rec->len] = '\0';
	}
	put(q, DNS_OK, recs, nrec);
	for (size_t i = 0; i < nrec; i++)
		free(recs[i].data);
	free(recs);
	ares_free_data(txt);
}

static void put_ptr(struct query *q, const unsigned char *abuf, int alen)
{
	/* The address is only copied into the hostent, which we do not use;
	 * c-ares still insists on one. */
	static const unsigned char any[4];
	struct hostent *host = NULL;
	int status = ares_parse_ptr_reply(abuf, alen, any, sizeof(any), AF_INET, &host);
	if (status != ARES_SUCCESS) {
		put_parse_failure(q, status);
		return;
	}
	/* c-ares lists every PTR target among the aliases and keeps one of
	 * them as h_name too. */
	size_t n = 0;
	while (host->h_aliases != NULL && host->h_aliases[n] != NULL)
		n++;
	char **names = host->h_aliases;
	if (n == 0 && host->h_name != NULL) {
		names = &host->h_name;
		n = 1;
	}
	struct dns_record *recs = xcalloc(n ? n : 1, sizeof(*recs));
	for (size_t i = 0; i < n; i++) {
		recs[i].data = names[i];
		recs[i].len = name_normalise(names[i]);
	}
	put(q, DNS_OK, recs, n);
	free(recs);
	ares_free_hostent(host);
}

/* ares_query has already turned the reply's RCODE into a status
 * (ares_query.c, qcallback): NXDOMAIN is ARES_ENOTFOUND, NOERROR without
 * answers ARES_ENODATA, SERVFAIL/REFUSED/... their own codes. Because of
 * ARES_FLAG_NOCHECKRESP those replies reach us instead of being retried.
 * The RCODE is checked again anyway, so a success only ever means NOERROR. */
static void answer(struct query *q, int status, const unsigned char *abuf, int alen)
{
	switch (status) {
	case ARES_SUCCESS:
		break;
	case ARES_ENODATA:
		put(q, DNS_NODATA, NULL, 0);
		return;
	case ARES_ENOTFOUND:
	case ARES_EBADNAME:
		put(q, DNS_NXDOMAIN, NULL, 0);
		return;
	default:
		put(q, DNS_TEMPFAIL, NULL, 0);
		return;
	}
	if (abuf == NULL || alen < DNS_HEADER_SIZE) {
		put(q, DNS_TEMPFAIL, NULL, 0);
		return;
	}
	int rcode = abuf[3] & 0x0f;
	if (rcode != DNS_RCODE_NOERROR) {
		put(q, rcode == DNS_RCODE_NXDOMAIN ? DNS_NXDOMAIN : DNS_TEMPFAIL, NULL, 0);
		return;
	}
	switch (q->type) {
	case DNS_T_A:
	case DNS_T_AAAA:
		put_addresses(q, abuf, alen);
		return;
	case DNS_T_MX:
		put_mx(q, abuf, alen);
		return;
	case DNS_T_TXT:
		put_txt(q, abuf, alen);
		return;
	case DNS_T_PTR:
		put_ptr(q, abuf, alen);
		return;
	}
	put(q, DNS_TEMPFAIL, NULL, 0);
}

/* Called by c-ares from ares_process_fd, from ares_query itself for
 * questions that fail at once, and with ARES_EDESTRUCTION from
 * ares_destroy. Never calls user code. */
static void query_cb(void *arg, int status, int timeouts, unsigned char *abuf, int alen)
{
	struct query *q = arg;
	struct dns_request *req = q->req;

	if (req->state == REQUEST_ACTIVE && !q->answered) {
		answer(q, status, abuf, alen);
		q->answered = true;
		if (--req->unanswered == 0)
			request_finish(req);
	}
	request_unref(req);
}

/* The deadline of the whole request: whatever is still open is TEMPFAIL. */
static void expire_requests(struct dns_resolver *r)
{
	uint64_t now = now_ms();
	struct dns_request *req;

	while ((req = r->active.head) != NULL && req->deadline <= now) {
		for (size_t i = 0; i < req->nqueries; i++) {
			struct query *q = &req->queries[i];
			if (q->answered)
				continue;
			put(q, DNS_TEMPFAIL, NULL, 0);
			q->answered = true;
		}
		req->unanswered = 0;
		request_finish(req);
	}
}

static void timer_cb(uv_timer_t *handle);

/* One timer for the earliest of c-ares's next retransmission and the
 * first request deadline. */
static void timer_rearm(struct dns_resolver *r)
{
	if (r->closing)
		return;
	uint64_t wait = UINT64_MAX;
	struct timeval tv;
	if (ares_timeout(r->channel, NULL, &tv) != NULL) {
		/* Round up: waking early would only spin. */
		wait = (uint64_t)tv.tv_sec * 1000 + ((uint64_t)tv.tv_usec + 999) / 1000;
	}
	if (r->active.head != NULL) {
		uint64_t now = now_ms();
		uint64_t deadline = r->active.head->deadline;
		uint64_t left = deadline > now ? deadline - now : 0;
		if (left < wait)
			wait = left;
	}
	if (wait == UINT64_MAX)
		uv_timer_stop(&r->timer);
	else
		uv_timer_start(&r->timer, timer_cb, wait, 0);
}

static void timer_cb(uv_timer_t *handle)
{
	struct dns_resolver *r = handle->data;

	ares_process_fd(r->channel, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
	expire_requests(r);
	timer_rearm(r);
}

static void poll_cb(uv_poll_t *handle, int status, int events)
{
	struct sock_watch *w = handle->data;
	struct dns_resolver *r = w->resolver;
	ares_socket_t rfd = ARES_SOCKET_BAD, wfd = ARES_SOCKET_BAD;

	if (status < 0) {
		/* Let c-ares find the error itself when it reads or writes. */
		rfd = wfd = w->fd;
	} else {
		if (events & UV_READABLE)
			rfd = w->fd;
		if (events & UV_WRITABLE)
			wfd = w->fd;
	}
	/* w may be closed in here (its memory stays until the close
	 * callback), so it is not touched afterwards. */
	ares_process_fd(r->channel, rfd, wfd);
	timer_rearm(r);
}

static void handle_closed(struct dns_resolver *r)
{
	if (--r->open_handles == 0)
		free(r);
}

static void watch_close_cb(uv_handle_t *handle)
{
	struct sock_watch *w = handle->data;
	struct dns_resolver *r = w->resolver;

	free(w);
	handle_closed(r);
}

static void resolver_handle_close_cb(uv_handle_t *handle)
{
	handle_closed(handle->data);
}

static void watch_close(struct dns_resolver *r, struct sock_watch *w)
{
	struct sock_watch **pp = &r->watches;
	while (*pp != w)
		pp = &(*pp)->next;
	*pp = w->next;
	/* Closing stops the poll, which removes the fd from epoll now, before
	 * c-ares closes it (it calls us with 0/0 just before). */
	uv_close((uv_handle_t *)&w->poll, watch_close_cb);
}

static void sock_state_cb(void *data, ares_socket_t fd, int readable, int writable)
{
	struct dns_resolver *r = data;
	struct sock_watch *w = r->watches;

	while (w != NULL && w->fd != fd)
		w = w->next;
	if (!readable && !writable) {
		if (w != NULL)
			watch_close(r, w);
		return;
	}
	if (w == NULL) {
		if (r->closing)
			return;
		w = xcalloc(1, sizeof(*w));
		int err = uv_poll_init_socket(r->loop, &w->poll, fd);
		if (err < 0) {
			/* The query will time out; say why. */
			log_warning(NULL, "dns_poll_failed", "fd=%d error=%s", (int)fd,
				    uv_strerror(err));
			free(w);
			return;
		}
		w->fd = fd;
		w->resolver = r;
		w->poll.data = w;
		w->next = r->watches;
		r->watches = w;
		r->open_handles++;
	}
	int events = (readable ? UV_READABLE : 0) | (writable ? UV_WRITABLE : 0);
	uv_poll_start(&w->poll, events, poll_cb);
}

/* Calls done for the requests that were finished when this round began;
 * those finished by the callbacks wait for the next loop iteration, so a
 * caller that refills from done cannot starve the loop. */
static void idle_cb(uv_idle_t *handle)
{
	struct dns_resolver *r = handle->data;
	struct dns_request *req;

	for (req = r->finished.head; req != NULL; req = req->next)
		req->in_batch = true;
	while (!r->closing && (req = r->finished.head) != NULL && req->in_batch) {
		list_remove(&r->finished, req);
		req->state = REQUEST_NOTIFYING;
		/* done may cancel this or any request, fill, or free the
		 * resolver; the reference we still hold keeps req. */
		req->done(req->arg);
		request_retire(req);
	}
	if (!r->closing && r->finished.head == NULL)
		uv_idle_stop(handle);
}

/* Servers: "ip", "ip:port", "[ipv6]" or "[ipv6]:port", comma-separated,
 * spaces allowed around entries. Checked here so a typo in the config is
 * an error that names the entry, then handed to c-ares in its own syntax. */
static int parse_port(const char *s, size_t len, unsigned *port_r)
{
	unsigned port = 0;
	if (len == 0 || len > 5)
		return -1;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		port = port * 10 + (unsigned)(s[i] - '0');
	}
	if (port == 0 || port > 65535)
		return -1;
	*port_r = port;
	return 0;
}

static int parse_server(const char *entry, char *out, size_t outsize)
{
	char addr[INET6_ADDRSTRLEN + 1];
	unsigned char bin[sizeof(struct in6_addr)];
	const char *port = NULL;
	size_t len = strlen(entry), alen;
	unsigned portnum = 0; /* none given */
	bool v6;

	if (entry[0] == '[') {
		const char *end = strchr(entry, ']');
		if (end == NULL)
			return -1;
		alen = (size_t)(end - entry - 1);
		if (end[1] == ':')
			port = end + 2;
		else if (end[1] != '\0')
			return -1;
		entry++;
		v6 = true;
	} else {
		const char *colon = strchr(entry, ':');
		if (colon != NULL && strchr(colon + 1, ':') == NULL) {
			alen = (size_t)(colon - entry);
			port = colon + 1;
			v6 = false;
		} else {
			/* No colon: IPv4; several: a bare IPv6 address. */
			alen = len;
			v6 = colon != NULL;
		}
	}
	if (alen == 0 || alen >= sizeof(addr))
		return -1;
	memcpy(addr, entry, alen);
	addr[alen] = '\0';
	if (inet_pton(v6 ? AF_INET6 : AF_INET, addr, bin) != 1)
		return -1;
	if (port != NULL && parse_port(port, strlen(port), &portnum) < 0)
		return -1;
	if (portnum == 0)
		portnum = 53;
	int n;
	if (v6)
		n = snprintf(out, outsize, "[%s]:%u", addr, portnum);
	else
		n = snprintf(out, outsize, "%s:%u", addr, portnum);
	return n < 0 || (size_t)n >= outsize ? -1 : 0;
}

static int parse_servers(const char *spec, char **csv_r, char **error_r)
{
	size_t speclen = strlen(spec), entries = 1;
	for (const char *c = spec; *c != '\0'; c++)
		entries += *c == ',';
	/* Room for every entry at its longest, with its comma. */
	char one[INET6_ADDRSTRLEN + 16];
	size_t csvsize = entries * (sizeof(one) + 1);
	char *csv = xmalloc(csvsize);
	char *entry = xmalloc(speclen + 1);
	size_t used = 0;
	const char *p = spec;

	csv[0] = '\0';
	for (;;) {
		const char *comma = strchr(p, ',');
		const char *end = comma != NULL ? comma : p + strlen(p);
		const char *start = p;
		while (start < end && (*start == ' ' || *start == '\t'))
			start++;
		while (end > start && (end[-1] == ' ' || end[-1] == '\t'))
			end--;
		size_t len = (size_t)(end - start);
		memcpy(entry, start, len);
		entry[len] = '\0';
		if (len == 0 || parse_server(entry, one, sizeof(one)) < 0) {
			*error_r = len == 0 ? xasprintf("dns servers \"%s\": empty entry", spec)
					    : xasprintf("dns servers: bad entry \"%s\" (want ip, "
							"ip:port or [ipv6]:port)", entry);
			free(entry);
			free(csv);
			return -1;
		}
		used += (size_t)snprintf(csv + used, csvsize - used, "%s%s",
					 used > 0 ? "," : "", one);
		if (comma == NULL)
			break;
		p = comma + 1;
	}
	free(entry);
	*csv_r = csv;
	return 0;
}

int dns_resolver_new(uv_loop_t *loop, const char *servers, unsigned timeout_ms,
		     struct dns_resolver **resolver_r, char **error_r)
{
	char *csv = NULL;
	int status;

	pthread_once(&library_once, library_init);
	if (library_status != ARES_SUCCESS) {
		*error_r = xasprintf("c-ares init: %s", ares_strerror(library_status));
		return -1;
	}
	if (servers != NULL && servers[0] != '\0' && parse_servers(servers, &csv, error_r) < 0)
		return -1;

	struct dns_resolver *r = xcalloc(1, sizeof(*r));
	r->loop = loop;
	r->timeout_ms = timeout_ms;

	/* c-ares doubles the per-try timeout on each round over the servers
	 * (ares__send_query), so with two tries one server costs t + 2t: a
	 * third of the budget per try spends it all on one server. With more
	 * servers the deadline below cuts the later rounds short. */
	struct ares_options opts;
	memset(&opts, 0, sizeof(opts));
	opts.flags = ARES_FLAG_NOCHECKRESP | ARES_FLAG_EDNS;
	unsigned per_try = timeout_ms / 3;
	opts.timeout = per_try == 0 ? 1 : per_try > INT_MAX ? INT_MAX : (int)per_try;
	opts.tries = RESOLVER_TRIES;
	opts.ednspsz = RESOLVER_EDNS_SIZE;
	opts.sock_state_cb = sock_state_cb;
	opts.sock_state_cb_data = r;
	int mask = ARES_OPT_FLAGS | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES | ARES_OPT_EDNSPSZ |
		   ARES_OPT_SOCK_STATE_CB;
	status = ares_init_options(&r->channel, &opts, mask);
	if (status != ARES_SUCCESS) {
		*error_r = xasprintf("c-ares init: %s", ares_strerror(status));
		free(csv);
		free(r);
		return -1;
	}
	if (csv != NULL) {
		status = ares_set_servers_ports_csv(r->channel, csv);
		if (status != ARES_SUCCESS) {
			*error_r = xasprintf("dns servers \"%s\": %s", servers,
					     ares_strerror(status));
			ares_destroy(r->channel);
			free(csv);
			free(r);
			return -1;
		}
		free(csv);
	}
	uv_timer_init(loop, &r->timer);
	r->timer.data = r;
	uv_idle_init(loop, &r->idle);
	r->idle.data = r;
	r->open_handles = 2;
	*resolver_r = r;
	return 0;
}

void dns_resolver_free(struct dns_resolver *r)
{
	if (r == NULL || r->closing)
		return;
	r->closing = true;
	while (r->active.head != NULL)
		dns_request_cancel(r->active.head);
	while (r->finished.head != NULL)
		dns_request_cancel(r->finished.head);
	/* Calls query_cb with ARES_EDESTRUCTION for each query still open,
	 * which lets the last requests go, and closes the sockets (telling
	 * sock_state_cb, which closes their polls). */
	ares_destroy(r->channel);
	r->channel = NULL;
	while (r->watches != NULL)
		watch_close(r, r->watches);
	uv_close((uv_handle_t *)&r->timer, resolver_handle_close_cb);
	uv_close((uv_handle_t *)&r->idle, resolver_handle_close_cb);
}

struct dns_request *dns_resolver_fill(struct dns_resolver *r, struct dns_cache *cache,
				      void (*done)(void *arg), void *arg)
{
	if (r->closing)
		abort(); /* a request on a freed resolver: a bug of the caller */

	struct dns_question *questions = NULL;
	size_t n = 0, alloc = 0;
	for (;;) {
		if (n == alloc) {
			alloc = alloc ? alloc * 2 : 32;
			questions = xreallocarray(questions, alloc, sizeof(*questions));
		}
		size_t got = dns_cache_take_questions(cache, questions + n, alloc - n);
		if (got == 0)
			break;
		n += got;
	}

	struct dns_request *req = xcalloc(1, sizeof(*req) + n * sizeof(struct query));
	req->resolver = r;
	req->cache = cache;
	req->done = done;
	req->arg = arg;
	req->refs = 1;
	req->nqueries = n;
	req->unanswered = n;
	req->deadline = now_ms() + r->timeout_ms;
	for (size_t i = 0; i < n; i++) {
		req->queries[i].req = req;
		req->queries[i].name = questions[i].name;
		req->queries[i].type = questions[i].type;
	}
	free(questions);

	req->state = REQUEST_ACTIVE;
	list_append(&r->active, req);
	if (n == 0) {
		request_finish(req); /* done still comes from the loop */
		return req;
	}
	for (size_t i = 0; i < n; i++) {
		/* The callback may run inside ares_query (a name c-ares
		 * refuses, no usable server); only request_finish happens
		 * there, and it defers done to the loop. */
		req->refs++;
		ares_query(r->channel, req->queries[i].name, DNS_CLASS_IN,
			   (int)req->queries[i].type, query_cb, &req->queries[i]);
	}
	timer_rearm(r);
	return req;
}

void dns_request_cancel(struct dns_request *req)
{
	struct dns_resolver *r = req->resolver;

	if (req->cancelled)
		return;
	req->cancelled = true;
	req->cache = NULL;
	switch (req->state) {
	case REQUEST_ACTIVE:
		list_remove(&r->active, req);
		request_retire(req);
		break;
	case REQUEST_FINISHED:
		list_remove(&r->finished, req);
		request_retire(req);
		break;
	case REQUEST_NOTIFYING:
	case REQUEST_RETIRED:
		/* done is running (idle_cb retires it afterwards) or over. */
		break;
	}
}
