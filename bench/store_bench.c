/*
 * store_bench: Petrel's side of bench/bench_store.py, measured through the
 * store API (store/store.h) until petrel-imapd and petrel-lmtpd can store
 * and fetch mail; then the benchmark switches to the protocols.
 *
 *   store_bench deliver  CONF USER THREADS COUNT CORPUS_DIR
 *       THREADS threads of one process deliver COUNT messages to INBOX,
 *       taken round-robin from CORPUS_DIR/cur (read into memory first):
 *       store_draft_begin/write (64 KB pieces)/finish, then store_deliver,
 *       which returns only after the file, its directory and the index are
 *       on disk (group commit across threads, as in petrel-lmtpd).
 *   store_bench load     CONF USER COUNT CORPUS_DIR
 *       appends the first COUNT corpus messages to INBOX with store_append,
 *       500 per call (each call one transaction).
 *   store_bench fetchall CONF USER [REPEAT]
 *       opens a read-only view on INBOX and reads FLAGS + ENVELOPE + BODY-
 *       STRUCTURE of every message (store_reader_get with STORE_FETCH_FLAGS |
 *       STORE_FETCH_STRUCTURE) in reader batches of 500, summing every byte
 *       of the envelope and bodystructure; REPEAT times (default 1).
 *   store_bench search   CONF USER WORD [REPEAT]
 *       store_view_search(BODY WORD) on INBOX, REPEAT times (default 5).
 *
 * Every mode prints one JSON object on stdout (times in seconds) and
 * progress on stderr. Exit status 0 on success, 1 on a store error, 2 on
 * bad usage.
 *
 * Built by bench/bench_store.py with
 *   cc -O2 -std=gnu17 -I<source> bench/store_bench.c <build>/store/libpetrel_store.a
 *      <build>/common/libpetrel_common.a -llmdb -llz4 -luv -lssl -lcrypto -linih
 *      -lsasl2 -lpthread
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/settings.h"
#include "store/store.h"

#define WRITE_PIECE (64 * 1024)
#define LOAD_BATCH 500
#define READ_BATCH 500

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what, int ret, char *error)
{
	fprintf(stderr, "store_bench: %s: %s%s%s\n", what, store_strerror(ret),
		error ? ": " : "", error ? error : "");
	free(error);
	exit(1);
}

static char *data_dir_of(const char *conf)
{
	struct settings set;
	char *error = NULL;
	if (settings_load(&set, conf, &error) < 0) {
		fprintf(stderr, "store_bench: %s\n", error);
		exit(2);
	}
	char *dir = strdup(set.server.data_dir);
	settings_free(&set);
	return dir;
}

static struct store *open_store(const char *conf)
{
	struct settings set;
	char *error = NULL;
	if (settings_load(&set, conf, &error) < 0) {
		fprintf(stderr, "store_bench: %s\n", error);
		exit(2);
	}
	struct store_options opts;
	store_options_from_settings(&opts, &set, "store_bench", false);
	struct store *store;
	int ret = store_open(&opts, &store, &error);
	if (ret < 0)
		die("store_open", ret, error);
	settings_free(&set);
	return store;
}

static struct store_user *open_user(struct store *store, const char *user)
{
	char *error = NULL;
	int ret;
	if (store_user_exists(store, user) <= 0 &&
	    (ret = store_user_add(store, user, &error)) < 0 && ret != STORE_ERR_EXISTS)
		die("store_user_add", ret, error);
	struct store_user *u;
	ret = store_user_open(store, user, &u, &error);
	if (ret < 0)
		die("store_user_open", ret, error);
	return u;
}

/* ------------------------------------------------------------- corpus */

struct message {
	uint8_t *data;
	size_t len;
};

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The file names in CORPUS_DIR/cur, sorted (message i is the i-th). */
static char **corpus_names(const char *dir, size_t *count_r)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/cur", dir);
	DIR *d = opendir(path);
	if (d == NULL) {
		fprintf(stderr, "store_bench: %s: %s\n", path, strerror(errno));
		exit(2);
	}
	size_t n = 0, cap = 1024;
	char **names = malloc(cap * sizeof(*names));
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		if (n == cap)
			names = realloc(names, (cap *= 2) * sizeof(*names));
		names[n++] = strdup(e->d_name);
	}
	closedir(d);
	qsort(names, n, sizeof(*names), name_cmp);
	if (n == 0) {
		fprintf(stderr, "store_bench: %s is empty\n", path);
		exit(2);
	}
	*count_r = n;
	return names;
}

static void read_message(const char *dir, const char *name, struct message *m)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/cur/%s", dir, name);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0) {
		fprintf(stderr, "store_bench: %s: %s\n", path, strerror(errno));
		exit(2);
	}
	m->len = (size_t)st.st_size;
	m->data = malloc(m->len ? m->len : 1);
	size_t off = 0;
	while (off < m->len) {
		ssize_t r = read(fd, m->data + off, m->len - off);
		if (r <= 0) {
			fprintf(stderr, "store_bench: read %s: %s\n", path,
				r < 0 ? strerror(errno) : "short file");
			exit(2);
		}
		off += (size_t)r;
	}
	close(fd);
}

static struct store_draft *make_draft(struct store_user *u, const struct message *m)
{
	struct store_draft *d;
	char *error = NULL;
	int ret = store_draft_begin(u, &d, &error);
	if (ret < 0)
		die("store_draft_begin", ret, error);
	for (size_t off = 0; off < m->len; off += WRITE_PIECE) {
		size_t n = m->len - off < WRITE_PIECE ? m->len - off : WRITE_PIECE;
		if ((ret = store_draft_write(d, m->data + off, n, &error)) < 0)
			die("store_draft_write", ret, error);
	}
	if ((ret = store_draft_finish(d, &error)) < 0)
		die("store_draft_finish", ret, error);
	return d;
}

/* ------------------------------------------------------------ deliver */

struct deliver_ctx {
	struct store_user *u;
	const struct message *msgs;
	size_t msg_count;
	unsigned long total;
	atomic_ulong next;
	pthread_barrier_t start;
	double *latency; /* per delivered message, seconds */
};

static void *deliver_thread(void *arg)
{
	struct deliver_ctx *c = arg;
	pthread_barrier_wait(&c->start);
	for (;;) {
		unsigned long i = atomic_fetch_add(&c->next, 1);
		if (i >= c->total)
			break;
		double t0 = now();
		struct store_append item = {
			.draft = make_draft(c->u, &c->msgs[i % c->msg_count]),
			.mailbox = "INBOX",
		};
		char *error = NULL;
		int ret = store_deliver(c->u, &item, &error);
		if (ret != STORE_OK)
			die("store_deliver", ret, error);
		c->latency[i] = now() - t0;
	}
	return NULL;
}

static int dbl_cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double pct(double *v, size_t n, double p)
{
	size_t k = (size_t)(p / 100.0 * (double)n + 0.5);
	k = k == 0 ? 0 : k - 1;
	return v[k < n ? k : n - 1];
}

static int cmd_deliver(const char *conf, const char *user, int threads, unsigned long count,
		       const char *corpus)
{
	size_t n;
	char **names = corpus_names(corpus, &n);
	if (n > count)
		n = count;
	struct message *msgs = calloc(n, sizeof(*msgs));
	for (size_t i = 0; i < n; i++)
		read_message(corpus, names[i], &msgs[i]);

	struct store *store = open_store(conf);
	struct store_user *u = open_user(store, user);
	struct deliver_ctx c = { .u = u, .msgs = msgs, .msg_count = n, .total = count };
	atomic_init(&c.next, 0);
	c.latency = calloc(count, sizeof(double));
	pthread_barrier_init(&c.start, NULL, (unsigned)threads + 1);
	pthread_t *tids = calloc((size_t)threads, sizeof(*tids));
	for (int t = 0; t < threads; t++)
		pthread_create(&tids[t], NULL, deliver_thread, &c);
	pthread_barrier_wait(&c.start);
	double t0 = now();
	for (int t = 0; t < threads; t++)
		pthread_join(tids[t], NULL);
	double elapsed = now() - t0;
	qsort(c.latency, count, sizeof(double), dbl_cmp);
	printf("{\"mode\": \"deliver\", \"threads\": %d, \"count\": %lu, \"seconds\": %.6f, "
	       "\"rate\": %.3f, \"p50_ms\": %.3f, \"p99_ms\": %.3f}\n",
	       threads, count, elapsed, (double)count / elapsed,
	       pct(c.latency, count, 50) * 1e3, pct(c.latency, count, 99) * 1e3);
	store_user_close(&u);
	store_close(&store);
	return 0;
}

/* --------------------------------------------------------------- load */

static int cmd_load(const char *conf, const char *user, unsigned long count, const char *corpus)
{
	size_t n;
	char **names = corpus_names(corpus, &n);
	if (count > n) {
		fprintf(stderr, "store_bench: %s has %zu messages, %lu wanted\n", corpus, n, count);
		return 2;
	}
	struct store *store = open_store(conf);
	struct store_user *u = open_user(store, user);
	struct store_append items[LOAD_BATCH];
	double t0 = now(), last = t0;
	uint64_t bytes = 0;
	for (unsigned long i = 0; i < count;) {
		size_t k = 0;
		for (; k < LOAD_BATCH && i < count; k++, i++) {
			struct message m;
			read_message(corpus, names[i], &m);
			bytes += m.len;
			items[k] = (struct store_append){ .draft = make_draft(u, &m),
							  .mailbox = "INBOX" };
			free(m.data);
		}
		char *error = NULL;
		int ret = store_append(u, items, k, &error);
		if (ret != STORE_OK)
			die("store_append", ret, error);
		for (size_t j = 0; j < k; j++)
			if (items[j].result != STORE_OK)
				die("store_append item", items[j].result, NULL);
		if (now() - last > 10.0 || i == count) {
			last = now();
			fprintf(stderr, "store_bench load: %lu/%lu (%.0f/s)\n", i, count,
				(double)i / (last - t0));
		}
	}
	double elapsed = now() - t0;
	printf("{\"mode\": \"load\", \"count\": %lu, \"bytes\": %llu, \"seconds\": %.6f, "
	       "\"rate\": %.3f}\n",
	       count, (unsigned long long)bytes, elapsed, (double)count / elapsed);
	store_user_close(&u);
	store_close(&store);
	return 0;
}

/* ------------------------------------------------------------ reading */

static struct store_view *open_view(struct store_user *u, double *seconds_r)
{
	struct store_view *v;
	struct store_view_status st;
	char *error = NULL;
	double t0 = now();
	int ret = store_view_open(u, "INBOX", STORE_VIEW_READONLY, &v, &st, &error);
	if (ret < 0)
		die("store_view_open", ret, error);
	*seconds_r = now() - t0;
	return v;
}

static int cmd_fetchall(const char *conf, const char *user, int repeat)
{
	struct store *store = open_store(conf);
	struct store_user *u = open_user(store, user);
	double open_s;
	struct store_view *v = open_view(u, &open_s);
	uint32_t count = store_view_count(v);
	printf("{\"mode\": \"fetchall\", \"messages\": %u, \"open_seconds\": %.6f, \"runs\": [",
	       count, open_s);
	for (int run = 0; run < repeat; run++) {
		uint64_t sum = 0, env_bytes = 0, bs_bytes = 0, flags = 0;
		double t0 = now();
		for (uint32_t seq = 1; seq <= count;) {
			struct store_reader *r;
			char *error = NULL;
			int ret = store_reader_begin(v, &r, &error);
			if (ret < 0)
				die("store_reader_begin", ret, error);
			for (uint32_t k = 0; k < READ_BATCH && seq <= count; k++, seq++) {
				struct store_msg m;
				ret = store_reader_get(r, store_view_uid(v, seq),
						       STORE_FETCH_FLAGS | STORE_FETCH_STRUCTURE, &m);
				if (ret < 0)
					die("store_reader_get", ret, NULL);
				for (size_t b = 0; b < m.envelope.len; b++)
					sum += m.envelope.ptr[b];
				for (size_t b = 0; b < m.bodystructure.len; b++)
					sum += m.bodystructure.ptr[b];
				env_bytes += m.envelope.len;
				bs_bytes += m.bodystructure.len;
				flags += m.flags + m.size + (uint64_t)m.internaldate;
			}
			store_reader_end(&r);
		}
		double elapsed = now() - t0;
		printf("%s{\"seconds\": %.6f, \"envelope_bytes\": %llu, \"bodystructure_bytes\": %llu, "
		       "\"checksum\": %llu}",
		       run ? ", " : "", elapsed, (unsigned long long)env_bytes,
		       (unsigned long long)bs_bytes, (unsigned long long)(sum + flags));
		fflush(stdout);
	}
	printf("]}\n");
	store_view_close(&v);
	store_user_close(&u);
	store_close(&store);
	return 0;
}

static int cmd_search(const char *conf, const char *user, const char *word, int repeat)
{
	struct store *store = open_store(conf);
	struct store_user *u = open_user(store, user);
	double open_s;
	struct store_view *v = open_view(u, &open_s);
	printf("{\"mode\": \"search\", \"messages\": %u, \"open_seconds\": %.6f, \"runs\": [",
	       store_view_count(v), open_s);
	for (int run = 0; run < repeat; run++) {
		struct store_search q = { .kind = STORE_SEARCH_BODY, .text = word };
		uint32_t *uids = NULL;
		size_t hits = 0;
		char *error = NULL;
		double t0 = now();
		int ret = store_view_search(v, &q, &uids, &hits, &error);
		double elapsed = now() - t0;
		if (ret < 0)
			die("store_view_search", ret, error);
		printf("%s{\"seconds\": %.6f, \"hits\": %zu}", run ? ", " : "", elapsed, hits);
		fflush(stdout);
		free(uids);
	}
	printf("]}\n");
	store_view_close(&v);
	store_user_close(&u);
	store_close(&store);
	return 0;
}

static int usage(void)
{
	fprintf(stderr,
		"usage: store_bench deliver CONF USER THREADS COUNT CORPUS_DIR\n"
		"       store_bench load CONF USER COUNT CORPUS_DIR\n"
		"       store_bench fetchall CONF USER [REPEAT]\n"
		"       store_bench search CONF USER WORD [REPEAT]\n"
		"       store_bench datadir CONF\n");
	return 2;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc < 3)
		return usage();
	const char *mode = argv[1];
	if (strcmp(mode, "datadir") == 0 && argc == 3) {
		char *dir = data_dir_of(argv[2]);
		printf("%s\n", dir);
		free(dir);
		return 0;
	}
	if (argc < 4)
		return usage();
	const char *conf = argv[2], *user = argv[3];
	if (strcmp(mode, "deliver") == 0 && argc == 7) {
		int threads = atoi(argv[4]);
		long count = atol(argv[5]);
		if (threads < 1 || count < 1)
			return usage();
		return cmd_deliver(conf, user, threads, (unsigned long)count, argv[6]);
	}
	if (strcmp(mode, "load") == 0 && argc == 6) {
		long count = atol(argv[4]);
		if (count < 1)
			return usage();
		return cmd_load(conf, user, (unsigned long)count, argv[5]);
	}
	if (strcmp(mode, "fetchall") == 0 && (argc == 4 || argc == 5)) {
		int repeat = argc == 5 ? atoi(argv[4]) : 1;
		return repeat < 1 ? usage() : cmd_fetchall(conf, user, repeat);
	}
	if (strcmp(mode, "search") == 0 && (argc == 5 || argc == 6)) {
		int repeat = argc == 6 ? atoi(argv[5]) : 5;
		return repeat < 1 ? usage() : cmd_search(conf, user, argv[4], repeat);
	}
	return usage();
}
