/*
 * petrel-test-store: drives the store from separate processes, for the
 * crash and concurrency tests (tests/proto/test_store_*.py).
 *
 *   deliver CONF USER COUNT PREFIX START
 *       delivers COUNT messages "PREFIX-n" (n from START) to INBOX with
 *       store_deliver(), printing "ACK PREFIX-n UID" only after each commit
 *       returned: what a sender would have been told.
 *   churn CONF USER SECONDS SEED
 *       for SECONDS, flags random messages and expunges some, printing
 *       "EXPUNGED UID" for every message it expunged.
 *   list CONF USER MAILBOX
 *       prints "UID<TAB>Subject" for every message.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <strings.h>
#include <time.h>

#include "common/settings.h"
#include "store/store.h"

static struct store *open_store(const char *conf)
{
	struct settings set;
	char *error = NULL;
	if (settings_load(&set, conf, &error) < 0) {
		fprintf(stderr, "%s\n", error);
		exit(2);
	}
	struct store_options opts;
	store_options_from_settings(&opts, &set, "test", false);
	struct store *store;
	if (store_open(&opts, &store, &error) < 0) {
		fprintf(stderr, "%s\n", error);
		exit(1);
	}
	settings_free(&set);
	return store;
}

static struct store_user *open_user(struct store *store, const char *user)
{
	struct store_user *u;
	char *error = NULL;
	if (store_user_open(store, user, &u, &error) < 0) {
		fprintf(stderr, "%s\n", error);
		exit(1);
	}
	return u;
}

static int deliver(struct store_user *u, int count, const char *prefix, int start)
{
	for (int n = start; n < start + count; n++) {
		char text[512];
		int len = snprintf(text, sizeof(text),
				   "Message-ID: <%s-%d@test>\nFrom: t@example.test\n"
				   "Subject: %s-%d\n\nbody %s %d\n",
				   prefix, n, prefix, n, prefix, n);
		struct store_draft *d;
		char *error = NULL;
		if (store_draft_begin(u, &d, &error) < 0 ||
		    store_draft_write(d, text, (size_t)len, &error) < 0 ||
		    store_draft_finish(d, &error) < 0) {
			fprintf(stderr, "draft: %s\n", error);
			return 1;
		}
		struct store_append item = { .draft = d, .mailbox = "INBOX" };
		if (store_deliver(u, &item, &error) != STORE_OK) {
			fprintf(stderr, "deliver: %s\n", error ? error : store_strerror(item.result));
			return 1;
		}
		printf("ACK %s-%d %u\n", prefix, n, item.uid);
		fflush(stdout);
	}
	return 0;
}

static void ignore_expunge(void *ctx, uint32_t seq, uint32_t uid)
{
}

static int churn(struct store_user *u, int seconds, unsigned int seed)
{
	srand(seed);
	struct store_view *v;
	struct store_view_status st;
	char *error = NULL;
	if (store_view_open(u, "INBOX", 0, &v, &st, &error) < 0) {
		fprintf(stderr, "%s\n", error);
		return 1;
	}
	const struct store_sync_cb cb = { ignore_expunge, NULL, NULL };
	time_t end = time(NULL) + seconds;
	unsigned long rounds = 0;
	while (time(NULL) < end) {
		if (store_view_sync(v, true, &cb, NULL, &error) < 0) {
			fprintf(stderr, "sync: %s\n", error);
			return 1;
		}
		uint32_t n = store_view_count(v);
		if (n == 0)
			continue;
		uint32_t uids[8];
		for (int i = 0; i < 8; i++)
			uids[i] = store_view_uid(v, 1 + (uint32_t)rand() % n);
		static const uint32_t choices[] = { STORE_FLAG_SEEN, STORE_FLAG_FLAGGED,
						    STORE_FLAG_ANSWERED };
		store_view_set_flags(v, uids, 8, rand() % 2 ? STORE_FLAGS_ADD : STORE_FLAGS_REMOVE,
				     choices[rand() % 3], NULL, NULL);
		if (rounds++ % 5 == 0) {
			/* Expunge one, and say which. */
			uint32_t victim = uids[0];
			store_view_set_flags(v, &victim, 1, STORE_FLAGS_ADD, STORE_FLAG_DELETED, NULL,
					     NULL);
			if (store_view_expunge(v, &victim, 1, &error) == STORE_OK)
				printf("EXPUNGED %u\n", victim);
			fflush(stdout);
		}
	}
	store_view_close(&v);
	return 0;
}

static int list(struct store_user *u, const char *mailbox)
{
	struct store_view *v;
	struct store_view_status st;
	char *error = NULL;
	if (store_view_open(u, mailbox, STORE_VIEW_READONLY, &v, &st, &error) < 0) {
		fprintf(stderr, "%s\n", error);
		return 1;
	}
	struct store_reader *r;
	store_reader_begin(v, &r, &error);
	for (uint32_t seq = 1; seq <= store_view_count(v); seq++) {
		uint32_t uid = store_view_uid(v, seq);
		struct buf header = BUF_INIT;
		static const char *const subject_field[] = { "Subject" };
		store_reader_header(r, uid, subject_field, 1, &header);
		const char *subject = strcasestr(buf_cstr(&header), "Subject: ");
		int len = 0;
		if (subject != NULL) {
			subject += 9;
			len = (int)strcspn(subject, "\r\n");
		}
		printf("%u\t%.*s\n", uid, len, subject ? subject : "");
		buf_free(&header);
	}
	store_reader_end(&r);
	store_view_close(&v);
	return 0;
}

/* Writes one message's file to stdout. */
static int cat(struct store_user *u, const char *mailbox, uint32_t uid)
{
	struct store_view *v;
	struct store_view_status st;
	char *error = NULL;
	if (store_view_open(u, mailbox, STORE_VIEW_READONLY, &v, &st, &error) < 0) {
		fprintf(stderr, "%s\n", error);
		return 1;
	}
	int fd = store_view_open_message(v, uid, &error);
	store_view_close(&v);
	if (fd < 0) {
		fprintf(stderr, "uid %u: %s\n", uid, error != NULL ? error : "not found");
		return 1;
	}
	char chunk[65536];
	ssize_t n;
	while ((n = read(fd, chunk, sizeof(chunk))) > 0)
		fwrite(chunk, 1, (size_t)n, stdout);
	close(fd);
	return n < 0 ? 1 : 0;
}

int main(int argc, char **argv)
{
	if (argc < 4) {
		fprintf(stderr, "usage: %s deliver|churn|list|cat CONF USER ...\n", argv[0]);
		return 2;
	}
	struct store *store = open_store(argv[2]);
	struct store_user *u = open_user(store, argv[3]);
	int status = 2;
	if (strcmp(argv[1], "deliver") == 0 && argc == 7)
		status = deliver(u, atoi(argv[4]), argv[5], atoi(argv[6]));
	else if (strcmp(argv[1], "churn") == 0 && argc == 6)
		status = churn(u, atoi(argv[4]), (unsigned int)atoi(argv[5]));
	else if (strcmp(argv[1], "list") == 0 && argc == 5)
		status = list(u, argv[4]);
	else if (strcmp(argv[1], "cat") == 0 && argc == 6)
		status = cat(u, argv[4], (uint32_t)strtoul(argv[5], NULL, 10));
	store_user_close(&u);
	store_close(&store);
	return status;
}
