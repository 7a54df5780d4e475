/*
 * pop3_timer: the measuring client of bench_pop3.py's timed drains.
 *
 * The Python client (lib/pop3.py) spent about as long finding the
 * terminators of 32 MB of RETR answers as a fast server took to send them,
 * so its drains timed the client. This one scans for "\n." 16 bytes at a
 * time (the only place a line can start with a dot), so the server is what
 * is timed. It keeps no message: the Python client makes the checked drains
 * (every RETR answer is a corpus message); this one checks what it can at
 * memory speed on every timed drain, and dies on anything wrong, so a
 * broken server cannot make a fast time:
 *   - every reply is "+OK", and LIST and UIDL list `n` messages 1..n;
 *   - every RETR answer ends with its "." line, every line in it that
 *     starts with a dot is stuffed (RFC 1939 3), and its un-stuffed size
 *     is the size LIST gave for the message (reported as mismatches);
 *   - the octets of all RETR answers are reported for the benchmark to
 *     compare with its checked drain.
 *
 *   pop3_timer HOST PORT WINDOW
 *   pop3_timer --floor N
 * The second form times N one-at-a-time round trips to a server that does
 * nothing (a child process with an epoll loop answering each line "+OK"):
 * the least a sequential drain of N commands can take on this machine,
 * whatever the server. It prints the seconds. The first form reads
 * one phase per stdin line; each answers one line out,
 *   <seconds> key=value... status=<the phase's last reply line>
 * seconds from the phase's first send (login: from connect) to its last
 * reply. WINDOW commands at most are unanswered at a time, and more are
 * sent once half are answered (1: one command at a time). Phases:
 *   login USER PASS    connect, greeting, USER, PASS (one at a time)
 *   list               LIST and UIDL         list= uidl=
 *   retr N             RETR 1..N             messages= octets= size_mismatch=
 *   dele N             DELE 1..N
 *   quit               QUIT
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/wait.h>

#include "timer_io.h"

struct drain {
	struct reader r;
	unsigned long window;
	uint64_t *sizes; /* sizes[n]: LIST's size of message n */
	unsigned long size_count;
	char status[256]; /* the last reply line */
	/* counts of the phase under way */
	unsigned long lines[2]; /* LIST, UIDL */
	unsigned long messages, size_mismatch;
	uint64_t octets;
};

/* Reads a status line; dies unless it is +OK. */
static void read_status(struct drain *d, const char *command)
{
	size_t len;
	char *line = read_line(&d->r, &len);
	if (len < 3 || memcmp(line, "+OK", 3) != 0) {
		char msg[512];
		snprintf(msg, sizeof(msg), "%s: %.300s", command, line);
		die(msg);
	}
	snprintf(d->status, sizeof(d->status), "%s", line);
}

/* "n value" lines of LIST (which keeps the sizes) or UIDL, up to ".". */
static void read_listing(struct drain *d, int which)
{
	unsigned long count = 0;
	for (;;) {
		size_t len;
		char *line = read_line(&d->r, &len);
		if (len == 1 && line[0] == '.')
			break;
		char *end;
		unsigned long n = strtoul(line, &end, 10);
		if (n != ++count || *end != ' ')
			die("LIST/UIDL lines are not numbered 1..n");
		if (which == 0) {
			if (n >= d->size_count) {
				d->size_count = n * 2;
				d->sizes = realloc(d->sizes, d->size_count * sizeof(*d->sizes));
				if (d->sizes == NULL)
					die("out of memory");
			}
			d->sizes[n] = strtoull(end + 1, NULL, 10);
		}
	}
	d->lines[which] = count;
}

/* memmem(p, n, "\n.", 2), 16 bytes a step (GCC/clang vectors): glibc's
   memmem takes a generic path for this needle and was most of this
   client's time. */
static const char *find_line_dot(const char *p, size_t n)
{
	typedef unsigned char v16 __attribute__((vector_size(16)));
	const v16 lf = { '\n', '\n', '\n', '\n', '\n', '\n', '\n', '\n',
			 '\n', '\n', '\n', '\n', '\n', '\n', '\n', '\n' };
	const v16 dot = { '.', '.', '.', '.', '.', '.', '.', '.',
			  '.', '.', '.', '.', '.', '.', '.', '.' };
	size_t i = 0;
	for (; i + 17 <= n; i += 16) {
		v16 a, b;
		memcpy(&a, p + i, 16);
		memcpy(&b, p + i + 1, 16);
		v16 hit = (v16)((a == lf) & (b == dot));
		uint64_t half[2];
		memcpy(half, &hit, 16);
		if ((half[0] | half[1]) != 0)
			break; /* the exact place: below */
	}
	for (; i + 1 < n; i++)
		if (p[i] == '\n' && p[i + 1] == '.')
			return p + i;
	return NULL;
}

/*
 * A RETR answer after its status line: returns the message's size once
 * un-stuffed. A line can only start with a dot after a LF (or at the
 * start), so the scan jumps from "\n." to "\n.", and a body without dots
 * is one scan per recv().
 */
static uint64_t read_message(struct drain *d)
{
	struct reader *r = &d->r;
	uint64_t size = 0;
	for (;;) {
		/* At a line start. The "." line comes after every line, so 3
		   bytes always arrive. */
		while (r->end - r->start < 3)
			fill(r);
		const char *p = r->buf + r->start;
		if (p[0] == '.') {
			if (p[1] == '\r' && p[2] == '\n') {
				r->start += 3;
				return size;
			}
			if (p[1] != '.')
				die("RETR: a line starts with an unstuffed dot");
			r->start++; /* the stuffing */
		}
		for (;;) {
			const char *hit = find_line_dot(r->buf + r->start, r->end - r->start);
			if (hit != NULL) {
				size_t upto = (size_t)(hit - r->buf) + 1;
				size += upto - r->start;
				r->start = upto;
				break;
			}
			/* A LF at the very end may begin the "." line. */
			size_t keep = r->buf[r->end - 1] == '\n';
			size += r->end - keep - r->start;
			r->start = r->end - keep;
			fill(r);
		}
	}
}

/* RETR or DELE of messages 1..last, `window` unanswered at most. */
static void run_commands(struct drain *d, const char *verb, unsigned long last, bool retr)
{
	unsigned long sent = 1, answered = 1;
	char batch[64 * 1024];
	while (answered <= last) {
		if (sent <= last && sent - answered <= d->window / 2) {
			size_t len = 0;
			unsigned long upto = answered + d->window;
			for (; sent <= last && sent < upto && len + 64 < sizeof(batch); sent++)
				len += (size_t)snprintf(batch + len, 64, "%s %lu\r\n", verb, sent);
			send_all(d->r.fd, batch, len);
		}
		read_status(d, verb);
		if (retr) {
			uint64_t size = read_message(d);
			d->messages++;
			d->octets += size;
			d->size_mismatch += answered >= d->size_count || d->sizes[answered] != size;
		}
		answered++;
	}
}

static void login(struct drain *d, const char *host, const char *port, const char *user,
		  const char *pass)
{
	connect_to(&d->r, host, port);
	read_status(d, "greeting");
	char cmd[600];
	snprintf(cmd, sizeof(cmd), "USER %s\r\n", user);
	send_all(d->r.fd, cmd, strlen(cmd));
	read_status(d, "USER");
	snprintf(cmd, sizeof(cmd), "PASS %s\r\n", pass);
	send_all(d->r.fd, cmd, strlen(cmd));
	read_status(d, "PASS");
}

/* LIST then UIDL: in one send unless the window is 1. */
static void list_uidl(struct drain *d)
{
	send_all(d->r.fd, d->window > 1 ? "LIST\r\nUIDL\r\n" : "LIST\r\n",
		 d->window > 1 ? 12 : 6);
	read_status(d, "LIST");
	read_listing(d, 0);
	if (d->window == 1)
		send_all(d->r.fd, "UIDL\r\n", 6);
	read_status(d, "UIDL");
	read_listing(d, 1);
}

/* The do-nothing server of --floor: reads what comes (non-blocking, woken
   by epoll as an event-driven server is) and answers each line. */
static void floor_server(int listener)
{
	int fd = accept(listener, NULL, NULL);
	if (fd < 0)
		_exit(1);
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	int ep = epoll_create1(0);
	struct epoll_event ev = { .events = EPOLLIN, .data.fd = fd };
	epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
	char buf[4096];
	for (;;) {
		if (epoll_wait(ep, &ev, 1, 60000) <= 0)
			_exit(1);
		ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (n <= 0)
			_exit(0);
		for (ssize_t i = 0; i < n; i++)
			if (buf[i] == '\n' && send(fd, "+OK\r\n", 5, MSG_NOSIGNAL) != 5)
				_exit(1);
	}
}

static void round_trip_floor(unsigned long n)
{
	int listener = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t salen = sizeof(sa);
	if (listener < 0 || bind(listener, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(listener, 1) < 0 || getsockname(listener, (struct sockaddr *)&sa, &salen) < 0)
		die("floor: listen");
	pid_t child = fork();
	if (child < 0)
		die("floor: fork");
	if (child == 0)
		floor_server(listener);
	close(listener);
	char port[16];
	snprintf(port, sizeof(port), "%u", (unsigned)ntohs(sa.sin_port));
	struct drain d = { .r.fd = -1, .window = 1 };
	connect_to(&d.r, "127.0.0.1", port);
	run_commands(&d, "NOOP", 200 < n ? 200 : n, false); /* warm up */
	double t0 = now();
	run_commands(&d, "NOOP", n, false);
	printf("%.9f\n", now() - t0);
	close(d.r.fd);
	free(d.r.buf);
	waitpid(child, NULL, 0);
}

int main(int argc, char **argv)
{
	timer_name = "pop3_timer";
	if (argc == 3 && strcmp(argv[1], "--floor") == 0 && atol(argv[2]) >= 1) {
		round_trip_floor((unsigned long)atol(argv[2]));
		return 0;
	}
	if (argc != 4 || atol(argv[3]) < 1)
		die("usage: pop3_timer HOST PORT WINDOW | pop3_timer --floor N");
	struct drain d = { .r.fd = -1, .window = (unsigned long)atol(argv[3]) };
	char line[1024];
	setvbuf(stdout, NULL, _IOLBF, 0);
	while (fgets(line, sizeof(line), stdin) != NULL) {
		char phase[16] = "", arg1[256] = "", arg2[256] = "";
		sscanf(line, "%15s %255s %255s", phase, arg1, arg2);
		unsigned long n = strtoul(arg1, NULL, 10);
		d.lines[0] = d.lines[1] = 0;
		d.messages = d.size_mismatch = 0;
		d.octets = 0;
		double t0 = now();
		if (strcmp(phase, "login") == 0 && d.r.fd < 0) {
			login(&d, argv[1], argv[2], arg1, arg2);
		} else if (strcmp(phase, "list") == 0) {
			list_uidl(&d);
		} else if (strcmp(phase, "retr") == 0 && n > 0) {
			run_commands(&d, "RETR", n, true);
		} else if (strcmp(phase, "dele") == 0 && n > 0) {
			run_commands(&d, "DELE", n, false);
		} else if (strcmp(phase, "quit") == 0) {
			send_all(d.r.fd, "QUIT\r\n", 6);
			read_status(&d, "QUIT");
		} else {
			die("unknown phase");
		}
		double elapsed = now() - t0;
		printf("%.9f list=%lu uidl=%lu messages=%lu octets=%" PRIu64
		       " size_mismatch=%lu status=%s\n",
		       elapsed, d.lines[0], d.lines[1], d.messages, d.octets, d.size_mismatch,
		       d.status);
	}
	if (d.r.fd >= 0)
		close(d.r.fd);
	free(d.r.buf);
	free(d.sizes);
	return 0;
}
