/*
 * imap_timer: the measuring client of bench_imap.py's timed runs.
 *
 * The Python client parses about 100 MB/s of FETCH responses; a 10,000
 * message HEADER.FIELDS answer took it over 20 ms by itself, more than a
 * fast server needs, so the timed runs measured the client. This one reads
 * with 1 MB recv()s and scans with memchr, so the server is what is timed.
 * The Python client still makes the unmeasured runs whose answers the
 * benchmark checks and compares; this one reports counts the benchmark
 * checks on every measured run.
 *
 *   imap_timer HOST PORT USER PASSWORD
 * then one command per stdin line (without tag); for each, one line out:
 *   <seconds> <FETCH responses> <SEARCH hits or -1> <last EXISTS or -1> <tagged reply>
 * The connection logs in at start; "SELECT INBOX" is a command like others.
 */
#include <stdbool.h>

#include "timer_io.h"

/* The literal size a line ends with ("{123}" or "{123+}"), or -1. */
static long long literal_size(const char *line, size_t len)
{
	if (len < 3 || line[len - 1] != '}')
		return -1;
	size_t i = len - 1;
	if (i > 0 && line[i - 1] == '+')
		i--;
	size_t digits_end = i;
	while (i > 0 && line[i - 1] >= '0' && line[i - 1] <= '9')
		i--;
	if (i == 0 || line[i - 1] != '{' || i == digits_end || digits_end - i > 18)
		return -1;
	long long v = 0;
	for (size_t k = i; k < digits_end; k++)
		v = v * 10 + (line[k] - '0');
	return v;
}

struct result {
	unsigned long fetch;
	long search; /* -1: no SEARCH response */
	long exists; /* -1: no EXISTS response */
	char status[256];
};

/* Reads responses up to the tagged one. */
static void read_until_tagged(struct reader *r, const char *tag, struct result *res)
{
	size_t tag_len = strlen(tag);
	res->fetch = 0;
	res->search = -1;
	res->exists = -1;
	bool response_start = true;
	for (;;) {
		size_t len;
		char *line = read_line(r, &len);
		if (response_start) {
			if (len > tag_len && memcmp(line, tag, tag_len) == 0 && line[tag_len] == ' ') {
				size_t n = len < sizeof(res->status) - 1 ? len : sizeof(res->status) - 1;
				memcpy(res->status, line, n);
				res->status[n] = '\0';
				return;
			}
			if (len > 9 && memcmp(line, "* SEARCH", 8) == 0) {
				long hits = 0;
				for (size_t i = 8; i < len; i++)
					hits += line[i] == ' ';
				res->search = (res->search < 0 ? 0 : res->search) + hits;
			} else if (len == 8 && memcmp(line, "* SEARCH", 8) == 0) {
				res->search = res->search < 0 ? 0 : res->search;
			} else if (len > 2 && line[0] == '*') {
				const char *sp = memchr(line + 2, ' ', len - 2);
				size_t rest = sp != NULL ? (size_t)(line + len - sp) : 0;
				if (rest > 6 && memcmp(sp, " FETCH ", 7) == 0)
					res->fetch++;
				else if (rest == 7 && memcmp(sp, " EXISTS", 7) == 0)
					res->exists = atol(line + 2);
			}
		}
		long long lit = literal_size(line, len);
		if (lit < 0) {
			response_start = true;
			continue;
		}
		/* Skip the literal; the response continues after it. */
		while ((long long)(r->end - r->start) < lit) {
			lit -= (long long)(r->end - r->start);
			r->start = r->end;
			fill(r);
		}
		r->start += (size_t)lit;
		response_start = false;
	}
}

int main(int argc, char **argv)
{
	timer_name = "imap_timer";
	if (argc != 5)
		die("usage: imap_timer HOST PORT USER PASSWORD");
	struct reader r = { 0 };
	connect_to(&r, argv[1], argv[2]);
	size_t greeting_len;
	read_line(&r, &greeting_len);

	struct result res;
	char cmd[8192];
	snprintf(cmd, sizeof(cmd), "L LOGIN \"%s\" \"%s\"\r\n", argv[3], argv[4]);
	send_all(r.fd, cmd, strlen(cmd));
	read_until_tagged(&r, "L", &res);
	if (strncmp(res.status, "L OK", 4) != 0)
		die(res.status);

	char line[8000];
	unsigned long n = 0;
	setvbuf(stdout, NULL, _IOLBF, 0);
	while (fgets(line, sizeof(line), stdin) != NULL) {
		line[strcspn(line, "\r\n")] = '\0';
		char tag[32];
		snprintf(tag, sizeof(tag), "T%lu", ++n);
		int len = snprintf(cmd, sizeof(cmd), "%s %s\r\n", tag, line);
		double t0 = now();
		send_all(r.fd, cmd, (size_t)len);
		read_until_tagged(&r, tag, &res);
		double elapsed = now() - t0;
		printf("%.9f %lu %ld %ld %s\n", elapsed, res.fetch, res.search, res.exists, res.status);
	}
	send_all(r.fd, "Z LOGOUT\r\n", 10);
	close(r.fd);
	free(r.buf);
	return 0;
}
