/*
 * lmtp_timer: the measuring client of bench_lmtp.py's timed runs.
 *
 * The Python client (lib/lmtp.py) runs one thread per connection under one
 * interpreter lock: against a server that answers at once it delivers at
 * most about 5,000 4 KB messages/s on 16 connections, with about 275 us of
 * CPU per message, so at 1,500 msgs/s it took a fifth of this 2-CPU
 * machine from the servers and added its own queueing to every
 * transaction. This client does the same transactions, byte for byte, one
 * thread per connection with nothing shared but a counter.
 *
 *   lmtp_timer HOST PORT CONNECTIONS COUNT PAYLOADS SENDER RCPT
 *
 * PAYLOADS is a file of lmtp_payload()s (CRLF, dot-stuffed, ending with
 * ".\r\n"), each preceded by its length as a decimal line; delivery i sends
 * payload i % n. Each connection: greeting, LHLO, then transactions back
 * to back: MAIL, RCPT and DATA in one write (both servers offer
 * PIPELINING; without it the client dies), replies 250, 250, 354, the
 * payload, the final 250. Any other reply kills it (exit 1, the reply on
 * stderr), so a run can never count a message that was not accepted. The
 * clock starts when every connection has said LHLO and stops at the last
 * final reply. Output:
 *   <seconds> cpu=<client CPU seconds>
 *   <latency of delivery i in seconds, MAIL to final reply>   (COUNT lines)
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/resource.h>

#include "timer_io.h"

struct payload {
	const char *data;
	size_t len;
};

static const char *host, *port, *sender, *rcpt;
static struct payload *payloads;
static size_t payload_count;
static unsigned long count;
static atomic_ulong next_delivery;
static double *latencies;
static pthread_barrier_t ready;

/* The code of one reply; multi-line replies are read whole. Sets
   *pipelining if a line of it says PIPELINING. */
static int read_reply(struct reader *r, char *last, size_t last_size, bool *pipelining)
{
	for (;;) {
		size_t len;
		char *line = read_line(r, &len);
		if (len < 3)
			die("not an SMTP reply");
		if (pipelining != NULL && len >= 14 && strncasecmp(line + 4, "PIPELINING", 10) == 0)
			*pipelining = true;
		if (len < 4 || line[3] != '-') {
			snprintf(last, last_size, "%s", line);
			return atoi(line);
		}
	}
}

static void expect(struct reader *r, int code, const char *what)
{
	char last[512];
	int got = read_reply(r, last, sizeof(last), NULL);
	if (got != code) {
		char msg[700];
		snprintf(msg, sizeof(msg), "%s: expected %d, got \"%s\"", what, code, last);
		die(msg);
	}
}

static void *connection(void *arg)
{
	(void)arg;
	struct reader r = { .fd = -1 };
	connect_to(&r, host, port);
	expect(&r, 220, "greeting");
	send_all(r.fd, "LHLO bench.example.org\r\n", 24);
	char last[512];
	bool pipelining = false;
	if (read_reply(&r, last, sizeof(last), &pipelining) != 250)
		die("LHLO refused");
	if (!pipelining)
		die("the server does not offer PIPELINING");
	char cmds[1200];
	int cmds_len = snprintf(cmds, sizeof(cmds), "MAIL FROM:<%s>\r\nRCPT TO:<%s>\r\nDATA\r\n",
				sender, rcpt);
	if (cmds_len < 0 || (size_t)cmds_len >= sizeof(cmds))
		die("addresses too long");
	pthread_barrier_wait(&ready);
	for (;;) {
		unsigned long i = atomic_fetch_add(&next_delivery, 1);
		if (i >= count)
			break;
		const struct payload *p = &payloads[i % payload_count];
		double t0 = now();
		send_all(r.fd, cmds, (size_t)cmds_len);
		expect(&r, 250, "MAIL");
		expect(&r, 250, "RCPT");
		expect(&r, 354, "DATA");
		send_all(r.fd, p->data, p->len);
		expect(&r, 250, "final reply");
		latencies[i] = now() - t0;
	}
	send_all(r.fd, "QUIT\r\n", 6);
	close(r.fd);
	free(r.buf);
	return NULL;
}

/* Reads the payload file (each payload after a line with its length). */
static char *read_payloads(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (f == NULL)
		die("cannot open the payload file");
	fseek(f, 0, SEEK_END);
	long size = ftell(f);
	fseek(f, 0, SEEK_SET);
	char *all = malloc((size_t)size + 1);
	if (all == NULL || fread(all, 1, (size_t)size, f) != (size_t)size)
		die("cannot read the payload file");
	fclose(f);
	all[size] = '\0';
	for (long off = 0; off < size;) {
		char *end;
		unsigned long len = strtoul(all + off, &end, 10);
		if (*end != '\n' || len == 0 || (long)len > size - (end + 1 - all))
			die("bad payload file");
		payloads = realloc(payloads, (payload_count + 1) * sizeof(*payloads));
		if (payloads == NULL)
			die("out of memory");
		payloads[payload_count++] = (struct payload){ end + 1, len };
		off = (long)(end + 1 - all) + (long)len;
	}
	if (payload_count == 0)
		die("no payloads");
	return all;
}

static double cpu_seconds(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

int main(int argc, char **argv)
{
	timer_name = "lmtp_timer";
	if (argc != 8 || atol(argv[3]) < 1 || atol(argv[4]) < 1)
		die("usage: lmtp_timer HOST PORT CONNECTIONS COUNT PAYLOADS SENDER RCPT");
	host = argv[1];
	port = argv[2];
	unsigned long conns = (unsigned long)atol(argv[3]);
	count = (unsigned long)atol(argv[4]);
	char *all = read_payloads(argv[5]);
	sender = argv[6];
	rcpt = argv[7];
	latencies = calloc(count, sizeof(double));
	pthread_t *threads = calloc(conns, sizeof(pthread_t));
	if (latencies == NULL || threads == NULL)
		die("out of memory");
	pthread_barrier_init(&ready, NULL, (unsigned)conns + 1);
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, 256 * 1024);
	for (unsigned long i = 0; i < conns; i++)
		if (pthread_create(&threads[i], &attr, connection, NULL) != 0)
			die("cannot start a thread");
	pthread_barrier_wait(&ready);
	double cpu0 = cpu_seconds(), t0 = now();
	for (unsigned long i = 0; i < conns; i++)
		pthread_join(threads[i], NULL);
	double elapsed = now() - t0, cpu = cpu_seconds() - cpu0;
	printf("%.9f cpu=%.6f\n", elapsed, cpu);
	for (unsigned long i = 0; i < count; i++)
		printf("%.9f\n", latencies[i]);
	free(threads);
	free(latencies);
	free(payloads);
	free(all);
	return 0;
}
