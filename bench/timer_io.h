/*
 * What the benchmarks' C timing clients (imap_timer.c, pop3_timer.c) share:
 * a receive buffer filled with large recv()s, sending, the clock, and the
 * connection. Header-only, because each client is compiled from one file
 * by the benchmark itself (lib/imap.py build_timer).
 *
 * The clients exist so that what a timed run measures is the server: they
 * read with 1 MB recv()s and scan with memchr or 16 bytes a step, where
 * the Python clients parse at about 100 MB/s.
 */
#ifndef PETREL_BENCH_TIMER_IO_H
#define PETREL_BENCH_TIMER_IO_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define RECV_SIZE (1 << 20)

/* The client's name, for messages: set by main() before anything else. */
static const char *timer_name = "timer";

struct reader {
	int fd;
	char *buf;
	size_t start, end, cap; /* unread bytes are buf[start, end) */
};

static void die(const char *what)
{
	fprintf(stderr, "%s: %s\n", timer_name, what);
	exit(1);
}

/* Makes room and reads once; keeps bytes from `start` on. */
static void fill(struct reader *r)
{
	if (r->start > 0 && (r->start == r->end || r->end + RECV_SIZE > r->cap)) {
		memmove(r->buf, r->buf + r->start, r->end - r->start);
		r->end -= r->start;
		r->start = 0;
	}
	if (r->end + RECV_SIZE > r->cap) {
		r->cap = (r->end + RECV_SIZE) * 2;
		r->buf = realloc(r->buf, r->cap);
		if (r->buf == NULL)
			die("out of memory");
	}
	ssize_t n = recv(r->fd, r->buf + r->end, RECV_SIZE, 0);
	if (n <= 0)
		die("connection closed by the server");
	r->end += (size_t)n;
}

/* The next line without its CRLF (or LF), NUL-terminated in place: valid
   until the next fill(). */
static char *read_line(struct reader *r, size_t *len_r)
{
	char *nl;
	while ((nl = memchr(r->buf + r->start, '\n', r->end - r->start)) == NULL)
		fill(r);
	char *line = r->buf + r->start;
	size_t len = (size_t)(nl - line);
	if (len > 0 && line[len - 1] == '\r')
		len--;
	line[len] = '\0';
	r->start = (size_t)(nl - r->buf) + 1;
	*len_r = len;
	return line;
}

static void send_all(int fd, const char *data, size_t len)
{
	while (len > 0) {
		ssize_t n = send(fd, data, len, MSG_NOSIGNAL);
		if (n <= 0)
			die("send failed");
		data += n;
		len -= (size_t)n;
	}
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Connects to an IPv4 address with TCP_NODELAY, as the Python clients do. */
static void connect_to(struct reader *r, const char *host, const char *port)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(port)) };
	if (inet_pton(AF_INET, host, &sin.sin_addr) != 1)
		die("bad host (an IPv4 address)");
	r->fd = socket(AF_INET, SOCK_STREAM, 0);
	if (r->fd < 0 || connect(r->fd, (struct sockaddr *)&sin, sizeof(sin)) < 0)
		die("cannot connect");
	int one = 1;
	setsockopt(r->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

#endif
