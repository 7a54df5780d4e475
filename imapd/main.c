/* petrel-imapd: IMAP4rev1 on 143 (STARTTLS) and 993 (TLS). */
#include <stdlib.h>

#include "common/auth.h"
#include "common/server.h"
#include "imapd/imap_notify.h"
#include "imapd/imap_session.h"
#include "store/store.h"

static struct imapd imapd;

static const struct service_settings *imap_settings(const struct settings *set)
{
	return &set->imap;
}

static int imap_init(struct server *srv, char **error_r)
{
	if (auth_init(&srv->set, "petrel", error_r) < 0)
		return -1;
	struct store_options opts;
	store_options_from_settings(&opts, &srv->set, "imapd", true);
	if (store_open(&opts, &imapd.store, error_r) < 0)
		return -1;
	imapd.notify = imap_notify_new(srv->loop, imapd.store);
	srv->proto = &imapd;
	return 0;
}

static void imap_stopping(struct server *srv)
{
	(void)srv;
	imap_notify_free(&imapd.notify);
}

static void imap_deinit(struct server *srv)
{
	imap_notify_free(&imapd.notify);
	store_close(&imapd.store);
	auth_deinit();
}

static const struct service imap_service = {
	.name = "imap",
	.program = "petrel-imapd",
	.conn_size = sizeof(struct imap_session),
	.handler = &imap_handler,
	.refusal_format = "* BYE %s\r\n",
	.literals = true,
	.settings = imap_settings,
	.init = imap_init,
	.stopping = imap_stopping,
	.deinit = imap_deinit,
};

int main(int argc, char **argv)
{
	return server_main(argc, argv, &imap_service);
}
