/* petrel-lmtpd: LMTP delivery from the MTA, on a unix socket and/or TCP. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/server.h"
#include "common/xalloc.h"
#include "lmtpd/lmtp_session.h"
#include "mailauth/resolver.h"
#include "store/store.h"

static struct lmtpd lmtpd;

static const struct service_settings *lmtp_settings(const struct settings *set)
{
	return &set->lmtp;
}

static int lmtp_init(struct server *srv, char **error_r)
{
	const struct settings *set = &srv->set;
	struct store_options opts;
	/* A sender of notifications only: lmtpd has no sessions to wake. */
	store_options_from_settings(&opts, set, "lmtpd", false);
	if (store_open(&opts, &lmtpd.store, error_r) < 0)
		return -1;
	/* Message bodies beyond 128 KB wait here (unlinked files) until they
	   are delivered; on the same file system as the mail, not in /tmp. */
	lmtpd.spool_dir = xasprintf("%s/spool", set->server.data_dir);
	if (mkdir(lmtpd.spool_dir, 0700) < 0 && errno != EEXIST) {
		*error_r = xasprintf("mkdir %s: %s", lmtpd.spool_dir, strerror(errno));
		return -1;
	}
	if (dns_resolver_new(srv->loop, set->delivery.dns_servers,
			     (unsigned)set->delivery.dns_timeout_ms, &lmtpd.resolver, error_r) < 0)
		return -1;
	user_cache_init(&lmtpd.users, srv->loop);
	srv->proto = &lmtpd;
	return 0;
}

static void lmtp_deinit(struct server *srv)
{
	if (srv->proto != NULL)
		user_cache_deinit(&lmtpd.users);
	if (lmtpd.resolver != NULL) {
		dns_resolver_free(lmtpd.resolver);
		lmtpd.resolver = NULL;
	}
	/* Let libuv close our handles before the loop goes. */
	uv_run(srv->loop, UV_RUN_DEFAULT);
	store_close(&lmtpd.store);
	free(lmtpd.spool_dir);
	lmtpd.spool_dir = NULL;
}

static const struct service lmtp_service = {
	.name = "lmtp",
	.program = "petrel-lmtpd",
	.conn_size = sizeof(struct lmtp_session),
	.handler = &lmtp_handler,
	.refusal_format = "421 4.3.2 %s\r\n",
	.literals = false,
	.settings = lmtp_settings,
	.init = lmtp_init,
	.deinit = lmtp_deinit,
};

int main(int argc, char **argv)
{
	return server_main(argc, argv, &lmtp_service);
}
