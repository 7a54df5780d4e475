/*
 * A daemon process: configuration, listeners, signals and the event loop.
 *
 * Each daemon describes itself with a struct service and hands control to
 * server_main(), which parses -c/-f, reads petrel.conf, binds the service's
 * listeners (exiting with status 2 on configuration errors, 1 on other
 * startup failures), detaches unless -f, drops privileges if configured and
 * runs the loop until SIGTERM or SIGINT. Shutdown is graceful: listeners
 * close, every connection is told (the protocol says goodbye), and the
 * process exits when all are gone or after a grace period. SIGHUP reloads
 * the TLS certificate.
 */
#ifndef PETREL_COMMON_SERVER_H
#define PETREL_COMMON_SERVER_H

#include <stdbool.h>
#include <stddef.h>

#include <uv.h>

#include "common/conn.h"
#include "common/limits.h"
#include "common/settings.h"

struct service {
	const char *name;	/* log ident and config section: "imap" */
	const char *program;	/* "petrel-imapd" */
	size_t conn_size;	/* size of the protocol session, which starts with struct conn */
	const struct conn_handler *handler;
	/* Refusal when a connection limit is hit, one printf %s for the reason:
	   "* BYE %s\r\n", "-ERR [SYS/TEMP] %s\r\n", "421 4.3.2 %s\r\n". */
	const char *refusal_format;
	bool literals;		/* the reader recognises IMAP literals */
	/* Picks the service's own section of the settings. */
	const struct service_settings *(*settings)(const struct settings *set);
	/* Optional, after configuration and before the loop runs. */
	int (*init)(struct server *srv, char **error_r);
	/* Optional: the server is stopping and every connection is gone;
	   close the service's own libuv handles so the loop can end. */
	void (*stopping)(struct server *srv);
	void (*deinit)(struct server *srv);
};

struct listener {
	union stream_handle h;
	struct server *srv;
	struct listen_addr addr;
	int fd;
	bool tls; /* implicit TLS */
};

struct server {
	uv_loop_t *loop;
	const struct service *svc;
	const char *config_path;
	struct settings set;
	struct tls_server *tls;

	struct listener *listeners;
	size_t listener_count;

	struct conn *conns;		/* all connections, lingering ones too */
	unsigned int conn_count;
	unsigned int session_count;	/* those that count against max_connections */
	struct conn *ready_head, *ready_tail;
	uv_idle_t ready_idle;

	struct conn_limits limits;
	struct auth_penalty penalty;

	uv_signal_t sig_term, sig_int, sig_hup;
	uv_timer_t shutdown_timer;
	uv_timer_t sweep_timer;
	bool shutting_down;

	struct reader_limits preauth_limits;
	uint8_t read_buf[65536];	/* shared by every read on this loop */
	void *proto;			/* protocol-wide state, owned by the service */
};

int server_main(int argc, char **argv, const struct service *svc);

/* Called by conn.c when a connection is gone. */
void server_conn_removed(struct server *srv);

#endif
