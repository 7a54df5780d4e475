/*
 * One client connection on the event loop.
 *
 * A protocol (imapd, pop3d, lmtpd) never touches sockets or TLS: it gets
 * framed input from c->reader, writes with conn_write(), and is called back
 * through struct conn_handler. The connection owns the socket, the TLS state,
 * the timers and the output queue.
 *
 * A protocol's session struct starts with a struct conn (the service says how
 * big the whole thing is); the connection layer allocates and frees it.
 *
 * Flow control: the connection reads from the socket only while the protocol
 * can use the input: not while it is busy with an asynchronous step
 * (conn_set_busy) and not while the output queue is above the high-water
 * mark ([limits] output_buffer_size). Once output drains below half of that,
 * reading resumes and the protocol's ready() is called again, so a
 * streaming command can produce its next piece.
 *
 * Lifetime: conn_close() flushes what is queued, then closes; conn_abort()
 * closes at once. Either way the memory is freed later, from the loop, once
 * every libuv handle is closed and every conn_ref() is matched by
 * conn_unref() - never inside a callback that still uses it. destroy() is
 * the protocol's last call.
 */
#ifndef PETREL_COMMON_CONN_H
#define PETREL_COMMON_CONN_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <uv.h>

#include "common/buf.h"
#include "common/log.h"
#include "common/netaddr.h"
#include "common/outq.h"
#include "common/reader.h"

struct conn;
struct server;
struct listener;
struct tls_conn;

struct conn_handler {
	/* The connection is ready to talk: send the greeting. (After the
	   PROXY header and, for implicit TLS, after the handshake.) */
	void (*open)(struct conn *c);
	/* There may be work: input arrived, output drained, or the protocol
	   stopped being busy. Process c->reader until it needs more, the
	   output is full (conn_output_full) or a step goes asynchronous. */
	void (*ready)(struct conn *c);
	/* The idle or login timer expired. Default: conn_close(). */
	void (*timeout)(struct conn *c);
	/* The server is stopping: say goodbye and conn_close(). */
	void (*shutdown)(struct conn *c);
	/* Free protocol state. Called exactly once, last. */
	void (*destroy)(struct conn *c);
};

enum conn_state {
	CONN_STATE_PROXY,     /* waiting for the PROXY protocol header */
	CONN_STATE_HANDSHAKE, /* implicit TLS handshake before the greeting */
	CONN_STATE_OPEN,
	CONN_STATE_CLOSING,   /* flushing output before closing */
	CONN_STATE_LINGER,    /* write side shut; draining input briefly */
	CONN_STATE_CLOSED,
};

/* A stream handle of either kind, as connections and listeners hold one. */
union stream_handle {
	uv_handle_t handle;
	uv_stream_t stream;
	uv_tcp_t tcp;
	uv_pipe_t pipe;
};

struct conn {
	union stream_handle h;
	uv_timer_t timer;
	struct server *srv;
	const struct listener *listener;
	struct conn *prev, *next;	  /* server's list of connections */
	struct conn *ready_next;	  /* server's queue of pending ready() calls */

	struct log_ctx log;
	struct sockaddr_storage peer;	  /* real client (after PROXY protocol) */
	struct netaddr_key ip_key;
	char *user;			  /* counted against max_connections_per_user */

	struct reader reader;
	struct outq out;
	struct buf tls_plain;		  /* plaintext waiting to be encrypted */
	struct tls_conn *tls;
	struct buf proxy_in;		  /* PROXY header bytes so far */
	uv_write_t write_req;
	size_t write_bytes;		  /* bytes in the uv_write in flight */
	uv_timer_t *delay_timer;	  /* conn_delay() */
	void (*delay_cb)(struct conn *c);
	void (*drained_cb)(struct conn *c, void *arg); /* conn_when_drained() */
	void *drained_arg;
	const char *refusal;		  /* connection limit hit: refuse once open */

	enum conn_state state;
	int refs;
	uint64_t timeout_ms;
	uint64_t last_activity;		  /* loop time of the last read or write progress */
	bool timeout_absolute;		  /* login timeout: activity does not extend it */
	bool reading;
	bool writing;
	bool busy;
	bool output_blocked;		  /* hit the high-water mark; waiting to drain to half */
	bool ready_queued;
	bool tls_upgrade;		  /* STARTTLS handshake in progress */
	bool ip_counted;
	bool session_counted;		  /* in srv->session_count */
};

/* --- for protocols --- */

void conn_write(struct conn *c, const void *data, size_t len);
void conn_write_str(struct conn *c, const char *s);
void conn_printf(struct conn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* One protocol reply line: prefix (e.g. "a1 OK ", "+OK ", "250 2.0.0 "), the
   formatted text, CRLF. */
void conn_vline(struct conn *c, struct span prefix, const char *fmt, va_list ap)
	__attribute__((format(printf, 3, 0)));

/* For line protocols without literals (POP3, LMTP): hands each complete
   line to on_line until the reader needs more input, the output is full,
   or the protocol went busy or closed; an oversized line (already dropped
   by the reader) goes to on_too_long. Call it from ready(). */
void conn_process_lines(struct conn *c, void (*on_line)(struct conn *c, struct span line),
			void (*on_too_long)(struct conn *c));
/* True while the output queue is above the high-water mark: a streaming
   command should stop producing and wait for ready(). */
bool conn_output_full(const struct conn *c);
/* Sends what is queued now (done automatically after every callback). */
void conn_flush(struct conn *c);

/* While busy, input is neither read nor handed to the protocol. Clearing it
   schedules ready(). */
void conn_set_busy(struct conn *c, bool busy);
/* For a streaming step that keeps the connection busy: calls cb from the
   loop once the output queue is below half the high-water mark (soon, if it
   already is). Input stays paused. Not called if the connection closes.
   (conn_job.c's steps use it.) */
void conn_when_drained(struct conn *c, void (*cb)(struct conn *c, void *arg), void *arg);
/* Busy for `msecs`, then calls cb (e.g. the delayed reply to a failed
   login). Not called if the connection closes first. */
void conn_delay(struct conn *c, uint64_t msecs, void (*cb)(struct conn *c));

/* Upgrades to TLS after the protocol has queued its "go ahead" reply.
   Discards all buffered plaintext input. Returns -1 if TLS is not set up. */
int conn_starttls(struct conn *c);
bool conn_tls_available(const struct conn *c);
bool conn_is_secure(const struct conn *c);
/* Description for logs: "TLSv1.3 TLS_AES_256_GCM_SHA384", or NULL. */
const char *conn_tls_description(const struct conn *c, char *out, size_t outlen);

/* Idle timeout after login (resets on activity), or an absolute one. */
void conn_set_timeout(struct conn *c, uint64_t msecs, bool absolute);

/* Counts the connection against the user's limit. Returns 0, or -1 if the
   user already has max_connections_per_user connections. */
int conn_set_user(struct conn *c, const char *user);

/* Local and remote "ip;port" strings as Cyrus SASL wants them; "" for unix
   sockets. */
void conn_sasl_addrs(const struct conn *c, char *local, size_t llen, char *remote,
		     size_t rlen);

void conn_close(struct conn *c);
void conn_abort(struct conn *c, const char *reason);
bool conn_is_closing(const struct conn *c);

/* Keeps the memory alive across asynchronous work (thread pool). */
void conn_ref(struct conn *c);
void conn_unref(struct conn *c);

/* Runs work(arg) on libuv's thread pool ([server] worker_threads), then
   done(c, arg) on the loop. The connection is referenced meanwhile, so
   done() is always called, also when the connection has closed in between
   (check conn_is_closing() before writing). Several may run at once; the
   protocol decides whether the connection is busy meanwhile. work() must
   not touch the connection. */
void conn_queue_work(struct conn *c, void (*work)(void *arg),
		     void (*done)(struct conn *c, void *arg), void *arg);

/* --- for the server --- */

void conn_accept(struct server *srv, const struct listener *l, uv_stream_t *listen_handle);
/* Runs queued ready() calls (from the server's idle handle). */
void conn_run_ready_queue(struct server *srv);

#endif
