#include "common/conn.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

#include "common/proxy_proto.h"
#include "common/server.h"
#include "common/tls.h"
#include "common/xalloc.h"

/* How long a closing connection may take to flush its output, and how long
   we keep draining input after shutting down our side (so the client reads
   our last line instead of a reset). */
#define CLOSE_FLUSH_MS 10000
#define LINGER_MS 2000

static void update_reading(struct conn *c);
static void start_writing(struct conn *c);
static void schedule_ready(struct conn *c);
static void begin_close(struct conn *c);

static inline bool is_unix(const struct conn *c)
{
	return c->listener->addr.kind == LISTEN_UNIX;
}

static size_t high_water(const struct conn *c)
{
	return c->srv->set.limits.output_buffer_size;
}

/* ---------------------------------------------------------------- memory */

static void conn_free(struct conn *c)
{
	struct server *srv = c->srv;
	if (c->srv->svc->handler->destroy != NULL)
		c->srv->svc->handler->destroy(c);
	reader_deinit(&c->reader);
	outq_free(&c->out);
	buf_free(&c->tls_plain);
	buf_free(&c->proxy_in);
	tls_conn_destroy(&c->tls);
	free(c->user);
	free(c);
	server_conn_removed(srv);
}

void conn_ref(struct conn *c)
{
	c->refs++;
}

void conn_unref(struct conn *c)
{
	if (--c->refs == 0)
		conn_free(c);
}

struct conn_work {
	uv_work_t req;
	struct conn *c;
	void (*work)(void *arg);
	void (*done)(struct conn *c, void *arg);
	void *arg;
};

static void conn_work_cb(uv_work_t *req)
{
	struct conn_work *w = req->data;
	w->work(w->arg);
}

static void conn_work_done_cb(uv_work_t *req, int status)
{
	struct conn_work *w = req->data;
	struct conn *c = w->c;
	/* status is UV_ECANCELED only for uv_cancel(), which we never call:
	   the work always ran. */
	w->done(c, w->arg);
	free(w);
	/* A reply written in done() goes out now, not at the next input. */
	conn_flush(c);
	conn_unref(c);
}

void conn_queue_work(struct conn *c, void (*work)(void *arg),
		     void (*done)(struct conn *c, void *arg), void *arg)
{
	struct conn_work *w = xcalloc(1, sizeof(*w));
	w->req.data = w;
	w->c = c;
	w->work = work;
	w->done = done;
	w->arg = arg;
	conn_ref(c);
	int ret = uv_queue_work(c->srv->loop, &w->req, conn_work_cb, conn_work_done_cb);
	if (ret != 0)
		abort(); /* only fails for a NULL work callback */
}

static void handle_closed_cb(uv_handle_t *handle)
{
	conn_unref(handle->data);
}

static void delay_timer_closed_cb(uv_handle_t *handle)
{
	struct conn *c = handle->data;
	free(handle);
	conn_unref(c);
}

static void list_remove(struct conn *c)
{
	struct server *srv = c->srv;
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		srv->conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	c->prev = c->next = NULL;
}

/* Gives the per-address and per-user slots back: a client reconnecting at
   once must not find its finished session still counted. */
static void release_limits(struct conn *c)
{
	struct server *srv = c->srv;
	if (c->session_counted)
		srv->session_count--;
	c->session_counted = false;
	if (c->ip_counted)
		conn_limits_remove(&srv->limits.by_ip, &c->ip_key, sizeof(c->ip_key));
	c->ip_counted = false;
	if (c->user != NULL)
		conn_limits_remove(&srv->limits.by_user, c->user, strlen(c->user));
	free(c->user);
	c->user = NULL;
	c->log.user = NULL;
}

void conn_abort(struct conn *c, const char *reason)
{
	if (c->state == CONN_STATE_CLOSED)
		return;
	if (reason != NULL)
		log_info(&c->log, "disconnect", "reason=\"%s\"", reason);
	c->state = CONN_STATE_CLOSED;
	struct server *srv = c->srv;
	list_remove(c);
	srv->conn_count--;
	release_limits(c);
	c->reading = false; /* uv_close stops reading */
	if (c->delay_timer != NULL) {
		uv_close((uv_handle_t *)c->delay_timer, delay_timer_closed_cb);
		c->delay_timer = NULL;
	}
	uv_close(&c->h.handle, handle_closed_cb);
	uv_close((uv_handle_t *)&c->timer, handle_closed_cb);
}

bool conn_is_closing(const struct conn *c)
{
	return c->state >= CONN_STATE_CLOSING;
}

/* --------------------------------------------------------------- output */

static void encrypt_pending(struct conn *c)
{
	if (c->tls == NULL || c->tls_plain.len == 0 || !tls_conn_handshake_done(c->tls))
		return;
	if (tls_conn_write(c->tls, c->tls_plain.data, c->tls_plain.len) < 0) {
		buf_free(&c->tls_plain);
		conn_abort(c, "TLS write failed");
		return;
	}
	buf_free(&c->tls_plain);
}

void conn_write(struct conn *c, const void *data, size_t len)
{
	if (c->state >= CONN_STATE_CLOSING || len == 0)
		return;
	if (c->tls != NULL) {
		/* Collect plaintext so small writes become few TLS records (and
		   nothing leaves unencrypted during a STARTTLS handshake). */
		buf_append(&c->tls_plain, data, len);
		if (c->tls_plain.len >= OUTQ_CHUNK_SIZE)
			encrypt_pending(c);
	} else {
		outq_append(&c->out, data, len);
	}
}

void conn_write_str(struct conn *c, const char *s)
{
	conn_write(c, s, strlen(s));
}

void conn_printf(struct conn *c, const char *fmt, ...)
{
	char small[512];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(small, sizeof(small), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n < sizeof(small)) {
		conn_write(c, small, (size_t)n);
		return;
	}
	char *big = xmalloc((size_t)n + 1);
	va_start(ap, fmt);
	vsnprintf(big, (size_t)n + 1, fmt, ap);
	va_end(ap);
	conn_write(c, big, (size_t)n);
	free(big);
}

void conn_vline(struct conn *c, struct span prefix, const char *fmt, va_list ap)
{
	struct buf line = BUF_INIT;
	buf_append(&line, prefix.ptr, prefix.len);
	buf_vprintf(&line, fmt, ap);
	buf_append(&line, "\r\n", 2);
	conn_write(c, line.data, line.len);
	buf_free(&line);
}

void conn_process_lines(struct conn *c, void (*on_line)(struct conn *c, struct span line),
			void (*on_too_long)(struct conn *c))
{
	struct reader_item item;
	while (!c->busy && !conn_is_closing(c) && !conn_output_full(c)) {
		switch (reader_next(&c->reader, &item)) {
		case READER_NEED_MORE:
			return;
		case READER_LINE_TOO_LONG:
			on_too_long(c);
			break;
		case READER_LITERAL:
			abort(); /* literals are off for line protocols */
		case READER_LINE:
			on_line(c, item.data);
			break;
		}
	}
}

bool conn_output_full(const struct conn *c)
{
	return outq_pending(&c->out) + c->tls_plain.len >= high_water(c);
}

static void touch(struct conn *c)
{
	c->last_activity = uv_now(c->srv->loop);
}

static void write_cb(uv_write_t *req, int status)
{
	struct conn *c = req->data;
	c->writing = false;
	if (c->state == CONN_STATE_CLOSED) {
		conn_unref(c);
		return;
	}
	if (status < 0) {
		conn_abort(c, uv_strerror(status));
		conn_unref(c);
		return;
	}
	outq_consume(&c->out, c->write_bytes);
	c->write_bytes = 0;
	touch(c);
	start_writing(c);
	/* Hysteresis: blocked at the high-water mark, resumed at half of it,
	   so a slow reader does not make us flip on every write. */
	if (c->state == CONN_STATE_OPEN && c->output_blocked &&
	    outq_pending(&c->out) + c->tls_plain.len <= high_water(c) / 2) {
		c->output_blocked = false;
		update_reading(c);
		schedule_ready(c);
	}
	conn_unref(c);
}

static void start_writing(struct conn *c)
{
	if (c->writing || c->state == CONN_STATE_CLOSED)
		return;
	while (outq_pending(&c->out) > 0) {
		uv_buf_t bufs[16];
		unsigned int n = outq_peek(&c->out, bufs, 16);
		int ret = uv_try_write(&c->h.stream, bufs, n);
		if (ret > 0) {
			outq_consume(&c->out, (size_t)ret);
			touch(c);
			continue;
		}
		if (ret != UV_EAGAIN) {
			conn_abort(c, uv_strerror(ret));
			return;
		}
		/* The socket is full: let libuv finish it and call us back. */
		size_t bytes = 0;
		for (unsigned int i = 0; i < n; i++)
			bytes += bufs[i].len;
		c->write_req.data = c;
		ret = uv_write(&c->write_req, &c->h.stream, bufs, n, write_cb);
		if (ret < 0) {
			conn_abort(c, uv_strerror(ret));
			return;
		}
		c->writing = true;
		c->write_bytes = bytes;
		conn_ref(c);
		return;
	}
	if (c->state == CONN_STATE_CLOSING)
		begin_close(c);
}

void conn_flush(struct conn *c)
{
	if (c->state == CONN_STATE_CLOSED)
		return;
	encrypt_pending(c);
	if (c->state != CONN_STATE_CLOSED)
		start_writing(c);
}

/* ---------------------------------------------------------------- close */

static void shutdown_cb(uv_shutdown_t *req, int status)
{
	struct conn *c = req->data;
	free(req);
	conn_unref(c);
}

/* Output is flushed: shut our side, then drain input for a moment. */
static void begin_close(struct conn *c)
{
	if (c->state != CONN_STATE_CLOSING)
		return;
	c->state = CONN_STATE_LINGER;
	/* The session is over; only the socket lingers. */
	release_limits(c);
	uv_shutdown_t *req = xmalloc(sizeof(*req));
	req->data = c;
	if (uv_shutdown(req, &c->h.stream, shutdown_cb) < 0) {
		free(req);
		conn_abort(c, NULL);
		return;
	}
	conn_ref(c);
	conn_set_timeout(c, LINGER_MS, true);
	update_reading(c);
}

void conn_close(struct conn *c)
{
	if (c->state >= CONN_STATE_CLOSING)
		return;
	if (c->tls != NULL && tls_conn_handshake_done(c->tls)) {
		encrypt_pending(c);
		if (c->state == CONN_STATE_CLOSED)
			return;
		tls_conn_shutdown(c->tls);
	}
	c->state = CONN_STATE_CLOSING;
	conn_set_timeout(c, CLOSE_FLUSH_MS, true);
	update_reading(c);
	start_writing(c);
}

/* --------------------------------------------------------------- timers */

void conn_set_timeout(struct conn *c, uint64_t msecs, bool absolute);

static void timer_cb(uv_timer_t *timer)
{
	struct conn *c = timer->data;
	uint64_t now = uv_now(c->srv->loop);
	if (!c->timeout_absolute && now - c->last_activity < c->timeout_ms) {
		/* Activity since the timer was armed: sleep for the rest. */
		uv_timer_start(&c->timer, timer_cb, c->timeout_ms - (now - c->last_activity), 0);
		return;
	}
	switch (c->state) {
	case CONN_STATE_OPEN:
		log_info(&c->log, "timeout", "after_ms=%llu", (unsigned long long)c->timeout_ms);
		if (c->srv->svc->handler->timeout != NULL)
			c->srv->svc->handler->timeout(c);
		else
			conn_close(c);
		conn_flush(c);
		break;
	case CONN_STATE_PROXY:
	case CONN_STATE_HANDSHAKE:
		conn_abort(c, "timeout before the session started");
		break;
	case CONN_STATE_CLOSING:
		conn_abort(c, "client did not read its output");
		break;
	case CONN_STATE_LINGER:
		conn_abort(c, NULL);
		break;
	case CONN_STATE_CLOSED:
		break;
	}
}

void conn_set_timeout(struct conn *c, uint64_t msecs, bool absolute)
{
	if (c->state == CONN_STATE_CLOSED)
		return;
	c->timeout_ms = msecs;
	c->timeout_absolute = absolute;
	touch(c);
	uv_timer_start(&c->timer, timer_cb, msecs, 0);
}

static void delay_fire_cb(uv_timer_t *timer)
{
	struct conn *c = timer->data;
	void (*cb)(struct conn *) = c->delay_cb;
	c->delay_timer = NULL;
	c->delay_cb = NULL;
	uv_close((uv_handle_t *)timer, delay_timer_closed_cb);
	if (c->state != CONN_STATE_OPEN)
		return;
	c->busy = false;
	cb(c);
	conn_flush(c);
	conn_set_busy(c, c->busy);
}

void conn_delay(struct conn *c, uint64_t msecs, void (*cb)(struct conn *c))
{
	if (c->delay_timer != NULL)
		abort(); /* one delay at a time */
	conn_set_busy(c, true);
	c->delay_timer = xmalloc(sizeof(*c->delay_timer));
	uv_timer_init(c->srv->loop, c->delay_timer);
	c->delay_timer->data = c;
	c->delay_cb = cb;
	conn_ref(c);
	uv_timer_start(c->delay_timer, delay_fire_cb, msecs, 0);
}

/* ---------------------------------------------------------------- input */

static void alloc_cb(uv_handle_t *handle, size_t suggested, uv_buf_t *buf)
{
	struct conn *c = handle->data;
	/* One buffer for every connection on this loop: each read is fully
	   handed to the reader (which copies what it keeps) before the next. */
	*buf = uv_buf_init((char *)c->srv->read_buf, sizeof(c->srv->read_buf));
}

static void ready_idle_cb(uv_idle_t *idle)
{
	uv_idle_stop(idle);
	conn_run_ready_queue(idle->data);
}

static void schedule_ready(struct conn *c)
{
	struct server *srv = c->srv;
	if (c->ready_queued || c->state != CONN_STATE_OPEN)
		return;
	c->ready_queued = true;
	c->ready_next = NULL;
	conn_ref(c);
	if (srv->ready_tail != NULL)
		srv->ready_tail->ready_next = c;
	else
		srv->ready_head = c;
	srv->ready_tail = c;
	uv_idle_start(&srv->ready_idle, ready_idle_cb);
}

static void call_ready(struct conn *c)
{
	if (c->state == CONN_STATE_OPEN && c->drained_cb != NULL && !c->output_blocked &&
	    !conn_output_full(c)) {
		void (*cb)(struct conn *, void *) = c->drained_cb;
		c->drained_cb = NULL;
		cb(c, c->drained_arg);
		conn_flush(c);
		return;
	}
	if (c->state != CONN_STATE_OPEN || c->busy)
		return;
	if (c->tls != NULL && !tls_conn_handshake_done(c->tls))
		return;
	c->srv->svc->handler->ready(c);
	/* The protocol stops producing at the high-water mark even with input
	   left in the reader. If flushing drains the queue at once there will
	   be no write callback to wake it, so wake it here; otherwise the write
	   callback does, once the queue is down to half. */
	bool stopped_for_output = conn_output_full(c);
	conn_flush(c);
	if (stopped_for_output && c->state == CONN_STATE_OPEN) {
		if (conn_output_full(c))
			c->output_blocked = true;
		else
			schedule_ready(c);
	}
	update_reading(c);
}

void conn_run_ready_queue(struct server *srv)
{
	struct conn *c = srv->ready_head;
	srv->ready_head = srv->ready_tail = NULL;
	while (c != NULL) {
		struct conn *next = c->ready_next;
		c->ready_queued = false;
		call_ready(c);
		conn_unref(c);
		c = next;
	}
}

void conn_when_drained(struct conn *c, void (*cb)(struct conn *c, void *arg), void *arg)
{
	c->drained_cb = cb;
	c->drained_arg = arg;
	update_reading(c); /* blocks, with a write in flight, if still full */
	if (c->state == CONN_STATE_OPEN && !c->output_blocked)
		schedule_ready(c);
}

void conn_set_busy(struct conn *c, bool busy)
{
	c->busy = busy;
	if (!busy)
		schedule_ready(c);
	update_reading(c);
}

static void read_cb(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf);

static void update_reading(struct conn *c)
{
	bool want;
	switch (c->state) {
	case CONN_STATE_PROXY:
	case CONN_STATE_HANDSHAKE:
	case CONN_STATE_LINGER:
		want = true;
		break;
	case CONN_STATE_OPEN:
		/* Blocked means a write callback will unblock us, so offer the
		   queue to the socket first: if it takes everything at once
		   there is no callback to come, and input would stay paused. */
		if (conn_output_full(c) && !c->writing) {
			conn_flush(c);
			if (c->state != CONN_STATE_OPEN)
				return;
		}
		if (conn_output_full(c))
			c->output_blocked = true;
		/* During a STARTTLS handshake we must read whatever the protocol
		   is doing. */
		want = (c->tls != NULL && !tls_conn_handshake_done(c->tls)) ||
		       (!c->busy && !c->output_blocked);
		break;
	default:
		want = false;
		break;
	}
	if (want && !c->reading) {
		if (uv_read_start(&c->h.stream, alloc_cb, read_cb) == 0)
			c->reading = true;
	} else if (!want && c->reading) {
		uv_read_stop(&c->h.stream);
		c->reading = false;
	}
}

static void opened(struct conn *c)
{
	c->state = CONN_STATE_OPEN;
	if (c->refusal != NULL) {
		conn_printf(c, c->srv->svc->refusal_format, c->refusal);
		log_info(&c->log, "refused", "reason=\"%s\"", c->refusal);
		conn_close(c);
		return;
	}
	c->srv->svc->handler->open(c);
}

static void tls_handshake_done_cb(void *ctx)
{
	struct conn *c = ctx;
	char desc[128];
	log_debug(&c->log, "tls", "%s", conn_tls_description(c, desc, sizeof(desc)));
	if (c->tls_upgrade) {
		c->tls_upgrade = false;
		schedule_ready(c);
	} else {
		opened(c);
	}
}

static void tls_plaintext_cb(void *ctx, const uint8_t *data, size_t len)
{
	struct conn *c = ctx;
	if (c->state == CONN_STATE_OPEN)
		reader_feed(&c->reader, data, len);
}

static void feed(struct conn *c, const uint8_t *data, size_t len)
{
	if (c->state == CONN_STATE_LINGER || c->state == CONN_STATE_CLOSING)
		return; /* drained and dropped */
	if (c->tls != NULL) {
		const struct tls_io io = { c, tls_handshake_done_cb, tls_plaintext_cb };
		const char *error = NULL;
		enum tls_input_result r = tls_conn_input(c->tls, data, len, &io, &error);
		if (r == TLS_INPUT_ERROR) {
			char why[160];
			snprintf(why, sizeof(why), "TLS: %s", error);
			/* Whatever OpenSSL queued (an alert) is worth sending. */
			if (c->state < CONN_STATE_CLOSING) {
				c->state = CONN_STATE_CLOSING;
				log_info(&c->log, "disconnect", "reason=\"%s\"", why);
				conn_set_timeout(c, LINGER_MS, true);
				start_writing(c);
			}
			return;
		}
		if (r == TLS_INPUT_CLOSED && c->state == CONN_STATE_OPEN) {
			conn_abort(c, "client closed TLS");
			return;
		}
		return;
	}
	reader_feed(&c->reader, data, len);
}

static void read_proxy_header(struct conn *c, const uint8_t *data, size_t len);

static void read_cb(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
	struct conn *c = stream->data;
	if (nread == 0)
		return;
	if (nread < 0) {
		if (c->state == CONN_STATE_LINGER)
			conn_abort(c, NULL);
		else
			conn_abort(c, nread == UV_EOF ? "client disconnected" : uv_strerror((int)nread));
		return;
	}
	touch(c);
	conn_ref(c);
	if (c->state == CONN_STATE_PROXY)
		read_proxy_header(c, (const uint8_t *)buf->base, (size_t)nread);
	else
		feed(c, (const uint8_t *)buf->base, (size_t)nread);
	if (c->state == CONN_STATE_OPEN)
		call_ready(c);
	conn_flush(c);
	update_reading(c);
	conn_unref(c);
}

/* ---------------------------------------------------------------- start */

static void session_id(char out[12])
{
	static const char alphabet[] = "abcdefghijkmnpqrstuvwxyz23456789";
	uint8_t rnd[8];
	if (RAND_bytes(rnd, sizeof(rnd)) != 1)
		abort();
	for (int i = 0; i < 8; i++)
		out[i] = alphabet[rnd[i] & 31];
	out[8] = '\0';
}

/* The real client address is known: count it, then start TLS or greet. */
static void start_session(struct conn *c)
{
	struct server *srv = c->srv;
	const struct settings *set = &srv->set;
	if (is_unix(c)) {
		snprintf(c->log.ip, sizeof(c->log.ip), "unix");
	} else {
		netaddr_format((struct sockaddr *)&c->peer, c->log.ip);
		netaddr_key((struct sockaddr *)&c->peer, &c->ip_key);
		if (c->refusal == NULL) {
			if (conn_limits_add(&srv->limits.by_ip, &c->ip_key, sizeof(c->ip_key),
					    set->limits.max_connections_per_ip) < 0)
				c->refusal = "Too many connections from your address";
			else
				c->ip_counted = true;
		}
	}
	log_debug(&c->log, "connect", "port=%u tls=%s", netaddr_port((struct sockaddr *)&c->peer),
		  c->listener->tls ? "yes" : "no");
	if (c->listener->tls) {
		c->tls = tls_conn_create(srv->tls, &c->out);
		c->state = CONN_STATE_HANDSHAKE;
		return;
	}
	opened(c);
}

static void read_proxy_header(struct conn *c, const uint8_t *data, size_t len)
{
	buf_append(&c->proxy_in, data, len);
	struct proxy_info info;
	const char *error = NULL;
	int n = proxy_parse(c->proxy_in.data, c->proxy_in.len, &info, &error);
	if (n == 0) {
		if (c->proxy_in.len >= PROXY_MAX_HEADER)
			conn_abort(c, "PROXY header too long");
		return;
	}
	if (n < 0) {
		char why[160];
		snprintf(why, sizeof(why), "bad PROXY header from trusted network: %s", error);
		conn_abort(c, why);
		return;
	}
	if (!info.local)
		memcpy(&c->peer, &info.src, info.src_len);
	struct buf rest = c->proxy_in;
	buf_init(&c->proxy_in, 0);
	start_session(c);
	if ((size_t)n < rest.len && c->state != CONN_STATE_CLOSED)
		feed(c, rest.data + n, rest.len - (size_t)n);
	buf_free(&rest);
}

void conn_accept(struct server *srv, const struct listener *l, uv_stream_t *listen_handle)
{
	const struct settings *set = &srv->set;
	struct conn *c = xcalloc(1, srv->svc->conn_size);
	c->srv = srv;
	c->listener = l;
	if (l->addr.kind == LISTEN_UNIX)
		uv_pipe_init(srv->loop, &c->h.pipe, 0);
	else
		uv_tcp_init(srv->loop, &c->h.tcp);
	c->h.handle.data = c;
	uv_timer_init(srv->loop, &c->timer);
	c->timer.data = c;
	c->refs = 2; /* the two handles; each close callback drops one */
	session_id(c->log.session);
	outq_init(&c->out);
	reader_init(&c->reader, &srv->preauth_limits);

	c->next = srv->conns;
	if (srv->conns != NULL)
		srv->conns->prev = c;
	srv->conns = c;
	srv->conn_count++;
	srv->session_count++;
	c->session_counted = true;
	c->state = CONN_STATE_PROXY;

	if (uv_accept(listen_handle, &c->h.stream) < 0) {
		conn_abort(c, NULL);
		return;
	}
	if (l->addr.kind == LISTEN_TCP) {
		int len = sizeof(c->peer);
		uv_tcp_getpeername(&c->h.tcp, (struct sockaddr *)&c->peer, &len);
		uv_tcp_nodelay(&c->h.tcp, 1);
	} else {
		c->peer.ss_family = AF_UNIX;
	}
	if (srv->shutting_down) {
		conn_abort(c, NULL);
		return;
	}
	if (srv->session_count > set->limits.max_connections)
		c->refusal = "Server is busy: too many connections";

	conn_set_timeout(c, set->limits.login_timeout_ms, true);
	if (l->addr.kind == LISTEN_TCP &&
	    cidr_list_match(&set->server.haproxy_trusted_networks, (struct sockaddr *)&c->peer)) {
		/* Trusted proxies must say who the real client is before we
		   greet anyone. */
		update_reading(c);
		return;
	}
	start_session(c);
	conn_flush(c);
	update_reading(c);
}

/* ------------------------------------------------------------ utilities */

int conn_starttls(struct conn *c)
{
	if (c->srv->tls == NULL || c->tls != NULL)
		return -1;
	/* RFC 3207 section 4.2 / RFC 2595 3.1: anything the client pipelined
	   after the command came in plaintext and must not be acted on. */
	size_t dropped = reader_buffered(&c->reader);
	if (dropped > 0)
		log_info(&c->log, "starttls_injection", "dropped_bytes=%zu", dropped);
	reader_reset(&c->reader);
	/* The go-ahead reply is already queued in plaintext; everything queued
	   from now on is encrypted behind it. */
	c->tls = tls_conn_create(c->srv->tls, &c->out);
	c->tls_upgrade = true;
	update_reading(c);
	return 0;
}

bool conn_tls_available(const struct conn *c)
{
	return c->srv->tls != NULL;
}

bool conn_is_secure(const struct conn *c)
{
	return (c->tls != NULL && tls_conn_handshake_done(c->tls)) || is_unix(c);
}

const char *conn_tls_description(const struct conn *c, char *out, size_t outlen)
{
	if (c->tls == NULL || !tls_conn_handshake_done(c->tls))
		return NULL;
	snprintf(out, outlen, "version=%s cipher=%s bits=%d records=%s", tls_conn_version(c->tls),
		 tls_conn_cipher(c->tls), tls_conn_bits(c->tls),
		 tls_conn_own_records(c->tls) ? "petrel" : "openssl");
	return out;
}

int conn_set_user(struct conn *c, const char *user)
{
	if (c->user != NULL)
		abort(); /* one login per connection */
	if (conn_limits_add(&c->srv->limits.by_user, user, strlen(user),
			    c->srv->set.limits.max_connections_per_user) < 0)
		return -1;
	c->user = xstrdup(user);
	c->log.user = c->user;
	return 0;
}

void conn_sasl_addrs(const struct conn *c, char *local, size_t llen, char *remote, size_t rlen)
{
	local[0] = remote[0] = '\0';
	if (is_unix(c))
		return;
	struct sockaddr_storage ss;
	int len = sizeof(ss);
	char ip[NETADDR_STRLEN];
	if (uv_tcp_getsockname(&c->h.tcp, (struct sockaddr *)&ss, &len) == 0) {
		netaddr_format((struct sockaddr *)&ss, ip);
		snprintf(local, llen, "%s;%u", ip, netaddr_port((struct sockaddr *)&ss));
	}
	netaddr_format((const struct sockaddr *)&c->peer, ip);
	snprintf(remote, rlen, "%s;%u", ip, netaddr_port((const struct sockaddr *)&c->peer));
}
