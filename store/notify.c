/*
 * Change notifications between processes on one host.
 *
 * Every listening process binds a datagram socket <run_dir>/notify/
 * <program>-<pid>. After a commit, the writer sends "user\0mailbox" to every
 * socket in that directory; a socket nobody reads (a process that died)
 * refuses the datagram and is removed. Datagrams are tiny and the number of
 * processes small, so a broadcast costs a few microseconds per commit and no
 * process ever polls.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/xalloc.h"
#include "store/internal.h"

#define MAX_DATAGRAM 1024

static int make_socket(void)
{
	return socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
}

int notify_init(struct store *s, bool listen, char **error_r)
{
	s->notify_dir = xasprintf("%s/notify", s->run_dir);
	if (mkdir(s->run_dir, 0755) < 0 && errno != EEXIST)
		return store_sys_error("cannot create", s->run_dir, error_r);
	/* Sticky and world-writable, like /tmp: daemons running as different
	   accounts (and petrelctl as root) each own their socket, anyone local
	   may send one (the worst a stranger can do is cause a resync), and
	   nobody can remove another's. */
	if (mkdir(s->notify_dir, 01777) < 0 && errno != EEXIST)
		return store_sys_error("cannot create", s->notify_dir, error_r);
	struct stat st;
	if (stat(s->notify_dir, &st) == 0 && st.st_uid == geteuid() && (st.st_mode & 07777) != 01777)
		chmod(s->notify_dir, 01777);
	s->notify_fd = make_socket();
	if (s->notify_fd < 0)
		return store_sys_error("cannot create a socket for", s->notify_dir, error_r);
	if (!listen)
		return STORE_OK; /* send-only */
	s->notify_path = xasprintf("%s/%s-%ld", s->notify_dir, s->program, (long)getpid());
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	if (strlen(s->notify_path) >= sizeof(sun.sun_path))
		return store_fail(STORE_ERR_INVALID, error_r, "run_dir path too long: %s",
				  s->notify_path);
	strcpy(sun.sun_path, s->notify_path);
	unlink(s->notify_path);
	if (bind(s->notify_fd, (struct sockaddr *)&sun, sizeof(sun)) < 0)
		return store_sys_error("cannot bind", s->notify_path, error_r);
	chmod(s->notify_path, 0666); /* every writer, whatever its account, may notify us */
	return STORE_OK;
}

void notify_deinit(struct store *s)
{
	if (s->notify_fd >= 0)
		close(s->notify_fd);
	s->notify_fd = -1;
	if (s->notify_path != NULL)
		unlink(s->notify_path);
	free(s->notify_path);
	free(s->notify_dir);
	s->notify_path = s->notify_dir = NULL;
}

void notify_send(struct store *s, const char *user, const char *mailbox)
{
	if (s->notify_fd < 0)
		return;
	char msg[MAX_DATAGRAM];
	size_t ulen = strlen(user), mlen = strlen(mailbox);
	if (ulen + 1 + mlen > sizeof(msg))
		return;
	memcpy(msg, user, ulen + 1);
	memcpy(msg + ulen + 1, mailbox, mlen);
	DIR *d = opendir(s->notify_dir);
	if (d == NULL)
		return;
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		struct sockaddr_un sun = { .sun_family = AF_UNIX };
		int n = snprintf(sun.sun_path, sizeof(sun.sun_path), "%s/%s", s->notify_dir,
				 de->d_name);
		if (n < 0 || (size_t)n >= sizeof(sun.sun_path))
			continue;
		if (sendto(s->notify_fd, msg, ulen + 1 + mlen, MSG_DONTWAIT | MSG_NOSIGNAL,
			   (struct sockaddr *)&sun, sizeof(sun)) < 0 &&
		    (errno == ECONNREFUSED || errno == ENOTSOCK))
			unlink(sun.sun_path); /* its process is gone */
		/* EAGAIN: the receiver is flooded; it will sync on what it
		   already has queued, which covers this change too. */
	}
	closedir(d);
}

int store_notify_fd(struct store *s)
{
	return s->notify_path != NULL ? s->notify_fd : -1;
}

void store_notify_read(struct store *s, void (*cb)(const char *user, const char *mailbox, void *ctx),
		       void *ctx)
{
	char msg[MAX_DATAGRAM + 1];
	for (;;) {
		ssize_t n = recv(s->notify_fd, msg, MAX_DATAGRAM, MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return; /* EAGAIN: drained */
		}
		msg[n] = '\0';
		size_t ulen = strnlen(msg, (size_t)n);
		if (ulen == 0 || ulen >= (size_t)n)
			continue; /* not ours: ignore */
		cb(msg, msg + ulen + 1, ctx);
	}
}
