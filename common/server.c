#include "common/server.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/tls.h"
#include "common/xalloc.h"

#define DEFAULT_CONFIG "/etc/petrel/petrel.conf"
#define SHUTDOWN_GRACE_MS 10000
#define SWEEP_INTERVAL_MS 60000
#define LISTEN_BACKLOG 511

static void usage(const struct service *svc)
{
	fprintf(stderr,
		"usage: %s [-c CONF] [-f]\n"
		"  -c CONF  configuration file (default " DEFAULT_CONFIG ")\n"
		"  -f       stay in the foreground, log to stderr\n",
		svc->program);
}

/* Creates, binds and listens on a socket without libuv, so that this can
   happen before we detach (errors still reach the terminal) and before the
   loop exists. */
static int open_listener_fd(const struct listen_addr *addr, char **error_r)
{
	char text[160];
	listen_addr_format(addr, text, sizeof(text));
	int fd;
	if (addr->kind == LISTEN_UNIX) {
		/* Make the directory, and replace a stale socket from an earlier
		   run - but never a regular file someone put there. */
		char dir[sizeof(addr->path)];
		snprintf(dir, sizeof(dir), "%s", addr->path);
		char *slash = strrchr(dir, '/');
		if (slash != NULL && slash != dir) {
			*slash = '\0';
			for (char *p = dir + 1; *p != '\0'; p++) {
				if (*p == '/') {
					*p = '\0';
					mkdir(dir, 0755);
					*p = '/';
				}
			}
			mkdir(dir, 0755);
		}
		struct stat st;
		if (lstat(addr->path, &st) == 0 && S_ISSOCK(st.st_mode))
			unlink(addr->path);
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd < 0)
			goto fail;
		struct sockaddr_un sun = { .sun_family = AF_UNIX };
		memcpy(sun.sun_path, addr->path, sizeof(sun.sun_path));
		if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0)
			goto fail_close;
		/* Like an SMTP port: any local MTA may hand us mail. */
		chmod(addr->path, 0666);
	} else {
		int family = addr->ss.ss_family;
		fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd < 0)
			goto fail;
		int one = 1;
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		/* Several worker processes may share the port. */
		setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
		if (family == AF_INET6)
			setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
		if (bind(fd, (const struct sockaddr *)&addr->ss, addr->sslen) < 0)
			goto fail_close;
	}
	if (listen(fd, LISTEN_BACKLOG) < 0)
		goto fail_close;
	return fd;
fail_close: {
	int saved = errno;
	close(fd);
	errno = saved;
}
fail:
	*error_r = xasprintf("cannot listen on %s: %s", text, strerror(errno));
	return -1;
}

static void raise_fd_limit(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

static void pool_warmup_work(uv_work_t *req)
{
	(void)req;
}

static void pool_warmup_done(uv_work_t *req, int status)
{
	(void)req;
	(void)status;
}

static int daemonize(const struct server *srv, char **error_r)
{
	pid_t pid = fork();
	if (pid < 0)
		goto fail;
	if (pid > 0)
		_exit(0);
	setsid();
	pid = fork();
	if (pid < 0)
		goto fail;
	if (pid > 0)
		_exit(0);
	if (chdir("/") < 0)
		goto fail;
	int fd = open("/dev/null", O_RDWR);
	if (fd >= 0) {
		dup2(fd, 0);
		dup2(fd, 1);
		dup2(fd, 2);
		if (fd > 2)
			close(fd);
	}
	mkdir(srv->set.server.run_dir, 0755);
	char *pidfile = xasprintf("%s/%s.pid", srv->set.server.run_dir, srv->svc->program);
	FILE *f = fopen(pidfile, "w");
	if (f != NULL) {
		fprintf(f, "%ld\n", (long)getpid());
		fclose(f);
	}
	free(pidfile);
	return 0;
fail:
	*error_r = xasprintf("cannot detach: %s", strerror(errno));
	return -1;
}

/* chroot is not used: the store needs the whole data directory. The run
   directory (pid files, sockets) is handed to the account first, since
   after the switch it could not create anything there. */
static int drop_privileges(const char *user, const char *run_dir, char **error_r)
{
	if (user[0] == '\0')
		return 0;
	struct passwd *pw = getpwnam(user);
	if (pw == NULL) {
		*error_r = xasprintf("[server] user: no such user '%s'", user);
		return -1;
	}
	if (getuid() != 0) {
		if (getuid() == pw->pw_uid)
			return 0;
		*error_r = xasprintf("[server] user: must start as root to become '%s'", user);
		return -1;
	}
	mkdir(run_dir, 0755);
	if (chown(run_dir, pw->pw_uid, pw->pw_gid) < 0) {
		*error_r = xasprintf("[server] run_dir: cannot give %s to %s: %s", run_dir, user,
				     strerror(errno));
		return -1;
	}
	if (initgroups(pw->pw_name, pw->pw_gid) < 0 ||
	    setresgid(pw->pw_gid, pw->pw_gid, pw->pw_gid) < 0 ||
	    setresuid(pw->pw_uid, pw->pw_uid, pw->pw_uid) < 0) {
		*error_r = xasprintf("[server] user: cannot become '%s': %s", user,
				     strerror(errno));
		return -1;
	}
	if (setuid(0) == 0) {
		*error_r = xstrdup("[server] user: privileges could be regained");
		return -1;
	}
	return 0;
}

/* ------------------------------------------------------------- shutdown */

static void close_handle(uv_handle_t *h)
{
	if (!uv_is_closing(h))
		uv_close(h, NULL);
}

static void maybe_finish(struct server *srv)
{
	if (!srv->shutting_down || srv->conns != NULL)
		return;
	if (srv->svc->stopping != NULL && !uv_is_closing((uv_handle_t *)&srv->sig_term))
		srv->svc->stopping(srv);
	close_handle((uv_handle_t *)&srv->sig_term);
	close_handle((uv_handle_t *)&srv->sig_int);
	close_handle((uv_handle_t *)&srv->sig_hup);
	close_handle((uv_handle_t *)&srv->shutdown_timer);
	close_handle((uv_handle_t *)&srv->sweep_timer);
	close_handle((uv_handle_t *)&srv->ready_idle);
}

void server_conn_removed(struct server *srv)
{
	maybe_finish(srv);
}

static void shutdown_timeout_cb(uv_timer_t *timer)
{
	struct server *srv = timer->data;
	log_warning(NULL, "shutdown_forced", "connections=%u", srv->conn_count);
	for (struct conn *c = srv->conns, *next; c != NULL; c = next) {
		next = c->next;
		conn_abort(c, "server shutdown");
	}
}

static void begin_shutdown(struct server *srv, const char *why)
{
	if (srv->shutting_down) {
		shutdown_timeout_cb(&srv->shutdown_timer);
		return;
	}
	srv->shutting_down = true;
	log_info(NULL, "shutdown", "signal=%s connections=%u", why, srv->conn_count);
	for (size_t i = 0; i < srv->listener_count; i++)
		close_handle(&srv->listeners[i].h.handle);
	for (struct conn *c = srv->conns, *next; c != NULL; c = next) {
		next = c->next;
		if (c->state == CONN_STATE_OPEN && srv->svc->handler->shutdown != NULL &&
		    !(c->tls != NULL && c->tls_upgrade)) {
			srv->svc->handler->shutdown(c);
			conn_flush(c);
		} else if (c->state < CONN_STATE_OPEN) {
			conn_abort(c, "server shutdown");
		} else {
			conn_close(c);
		}
	}
	uv_timer_start(&srv->shutdown_timer, shutdown_timeout_cb, SHUTDOWN_GRACE_MS, 0);
	maybe_finish(srv);
}

static void signal_cb(uv_signal_t *sig, int signum)
{
	struct server *srv = sig->data;
	if (signum == SIGHUP) {
		if (srv->tls == NULL) {
			log_info(NULL, "reload", "tls=none");
			return;
		}
		char *error = NULL;
		if (tls_server_reload(srv->tls, &error) < 0) {
			log_error(NULL, "reload_failed", "error=\"%s\"", error);
			free(error);
			return;
		}
		log_info(NULL, "reload", "tls=reloaded");
		return;
	}
	begin_shutdown(srv, signum == SIGTERM ? "TERM" : "INT");
}

static void sweep_cb(uv_timer_t *timer)
{
	struct server *srv = timer->data;
	auth_penalty_sweep(&srv->penalty, uv_now(srv->loop));
}

static void connection_cb(uv_stream_t *handle, int status)
{
	struct listener *l = handle->data;
	if (status < 0) {
		log_warning(NULL, "accept_failed", "error=\"%s\"", uv_strerror(status));
		return;
	}
	conn_accept(l->srv, l, handle);
}

static int start_listeners(struct server *srv, char **error_r)
{
	for (size_t i = 0; i < srv->listener_count; i++) {
		struct listener *l = &srv->listeners[i];
		int ret;
		if (l->addr.kind == LISTEN_UNIX) {
			uv_pipe_init(srv->loop, &l->h.pipe, 0);
			ret = uv_pipe_open(&l->h.pipe, l->fd);
		} else {
			uv_tcp_init(srv->loop, &l->h.tcp);
			ret = uv_tcp_open(&l->h.tcp, l->fd);
		}
		l->h.handle.data = l;
		if (ret == 0)
			ret = uv_listen(&l->h.stream, LISTEN_BACKLOG, connection_cb);
		if (ret < 0) {
			char text[160];
			listen_addr_format(&l->addr, text, sizeof(text));
			*error_r = xasprintf("cannot listen on %s: %s", text, uv_strerror(ret));
			return -1;
		}
		l->fd = -1; /* owned by the handle now */
	}
	return 0;
}

static void add_listeners(struct server *srv, const struct listen_list *list, bool tls)
{
	for (size_t i = 0; i < list->count; i++) {
		srv->listeners = xreallocarray(srv->listeners, srv->listener_count + 1,
					       sizeof(*srv->listeners));
		struct listener *l = &srv->listeners[srv->listener_count++];
		memset(l, 0, sizeof(*l));
		l->srv = srv;
		l->addr = list->items[i];
		l->tls = tls;
		l->fd = -1;
	}
}

/* Everything that can fail because of the configuration or the machine,
   before detaching. Returns the exit status on failure, 0 on success. */
static int prepare(struct server *srv, char **error_r)
{
	const struct service *svc = srv->svc;
	const struct service_settings *ss = svc->settings(&srv->set);

	add_listeners(srv, &ss->listen, false);
	add_listeners(srv, &ss->listen_tls, true);
	if (srv->listener_count == 0) {
		*error_r = xasprintf("%s: [%s] listen and listen_tls are both empty",
				     srv->config_path, svc->name);
		return 2;
	}
	if (srv->set.tls.cert_file[0] != '\0') {
		srv->tls = tls_server_create(&srv->set, error_r);
		if (srv->tls == NULL) {
			char *msg = xasprintf("%s: %s", srv->config_path, *error_r);
			free(*error_r);
			*error_r = msg;
			return 2;
		}
	} else if (ss->listen_tls.count > 0) {
		*error_r = xasprintf("%s: [%s] listen_tls needs [tls] cert_file and key_file",
				     srv->config_path, svc->name);
		return 2;
	}
	raise_fd_limit();
	for (size_t i = 0; i < srv->listener_count; i++) {
		srv->listeners[i].fd = open_listener_fd(&srv->listeners[i].addr, error_r);
		if (srv->listeners[i].fd < 0)
			return 1;
	}
	return 0;
}

static void server_cleanup(struct server *srv)
{
	for (size_t i = 0; i < srv->listener_count; i++)
		if (srv->listeners[i].fd >= 0)
			close(srv->listeners[i].fd);
	free(srv->listeners);
	tls_server_destroy(&srv->tls);
	tls_global_deinit();
	conn_limits_deinit(&srv->limits);
	auth_penalty_deinit(&srv->penalty);
	settings_free(&srv->set);
}

int server_main(int argc, char **argv, const struct service *svc)
{
	const char *config_path = DEFAULT_CONFIG;
	bool foreground = false;
	int opt;
	while ((opt = getopt(argc, argv, "c:fhV")) != -1) {
		switch (opt) {
		case 'c':
			config_path = optarg;
			break;
		case 'f':
			foreground = true;
			break;
		case 'V':
			printf("%s %s\n", svc->program, PETREL_VERSION);
			return 0;
		default:
			usage(svc);
			return opt == 'h' ? 0 : 2;
		}
	}
	if (optind != argc) {
		usage(svc);
		return 2;
	}

	static struct server server; /* big (read buffer); one per process */
	struct server *srv = &server;
	srv->svc = svc;
	srv->config_path = config_path;
	conn_limits_init(&srv->limits);

	char *error = NULL;
	if (settings_load(&srv->set, config_path, &error) < 0) {
		fprintf(stderr, "%s: %s\n", svc->program, error);
		free(error);
		settings_free(&srv->set);
		conn_limits_deinit(&srv->limits);
		return 2;
	}
	const struct settings *set = &srv->set;
	auth_penalty_init(&srv->penalty, set->auth.failure_delay_ms, set->auth.failure_delay_max_ms,
			  set->auth.failure_window_ms);
	srv->preauth_limits = (struct reader_limits){
		.max_line = set->limits.max_preauth_line_length,
		.literals = svc->literals,
	};
	int facility = log_facility_parse(set->server.syslog_facility);
	bool to_syslog = set->server.log == LOG_SYSLOG || (set->server.log == LOG_AUTO && !foreground);
	log_init(svc->name, LOG_TARGET_STDERR, set->server.log_level, facility);

	int status = prepare(srv, &error);
	if (status == 0 && !foreground)
		status = daemonize(srv, &error) < 0 ? 1 : 0;
	if (status == 0 && drop_privileges(set->server.user, set->server.run_dir, &error) < 0)
		status = 1;
	if (status != 0) {
		fprintf(stderr, "%s: %s\n", svc->program, error);
		free(error);
		server_cleanup(srv);
		return status;
	}
	if (to_syslog)
		log_init(svc->name, LOG_TARGET_SYSLOG, set->server.log_level, facility);

	/* libuv sizes its thread pool from the environment when the first work
	   item is queued; [server] worker_threads sets it unless the admin did. */
	char threads[16];
	snprintf(threads, sizeof(threads), "%u", set->server.worker_threads);
	setenv("UV_THREADPOOL_SIZE", threads, 0);

	uv_loop_t loop;
	uv_loop_init(&loop);
	srv->loop = &loop;
	uv_idle_init(&loop, &srv->ready_idle);
	srv->ready_idle.data = srv;
	uv_timer_init(&loop, &srv->shutdown_timer);
	srv->shutdown_timer.data = srv;
	uv_timer_init(&loop, &srv->sweep_timer);
	srv->sweep_timer.data = srv;
	uv_timer_start(&srv->sweep_timer, sweep_cb, SWEEP_INTERVAL_MS, SWEEP_INTERVAL_MS);
	uv_unref((uv_handle_t *)&srv->sweep_timer);
	uv_signal_t *sigs[] = { &srv->sig_term, &srv->sig_int, &srv->sig_hup };
	int signums[] = { SIGTERM, SIGINT, SIGHUP };
	for (int i = 0; i < 3; i++) {
		uv_signal_init(&loop, sigs[i]);
		sigs[i]->data = srv;
		uv_signal_start(sigs[i], signal_cb, signums[i]);
	}
	signal(SIGPIPE, SIG_IGN);

	status = 0;
	if (svc->init != NULL && svc->init(srv, &error) < 0)
		status = 1;
	else if (start_listeners(srv, &error) < 0)
		status = 1;
	if (status == 0) {
		/* libuv starts its pool threads on the first work item: 16 of
		   them cost the first client after a start about 8 ms on a VM. */
		static uv_work_t pool_warmup;
		uv_queue_work(&loop, &pool_warmup, pool_warmup_work, pool_warmup_done);
		log_info(NULL, "started", "version=%s listeners=%zu tls=%s", PETREL_VERSION,
			 srv->listener_count, srv->tls != NULL ? "yes" : "no");
		uv_run(&loop, UV_RUN_DEFAULT);
	} else {
		log_error(NULL, "startup_failed", "error=\"%s\"", error);
		if (foreground)
			fprintf(stderr, "%s: %s\n", svc->program, error);
		free(error);
		srv->shutting_down = true;
		for (size_t i = 0; i < srv->listener_count; i++)
			if (srv->listeners[i].h.handle.type != UV_UNKNOWN_HANDLE)
				close_handle(&srv->listeners[i].h.handle);
		maybe_finish(srv);
		uv_run(&loop, UV_RUN_DEFAULT);
	}

	if (svc->deinit != NULL)
		svc->deinit(srv);
	int close_ret = uv_loop_close(&loop);
	if (close_ret != 0)
		log_error(NULL, "loop_close_failed", "error=\"%s\"", uv_strerror(close_ret));
	log_info(NULL, "stopped", "%s", "");
	server_cleanup(srv);
	log_deinit();
	return status;
}
