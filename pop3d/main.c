/* petrel-pop3d: POP3 on 110 (STLS) and 995 (TLS). */
#include "common/auth.h"
#include "common/server.h"
#include "pop3d/pop3_session.h"
#include "store/store.h"

static struct pop3d pop3d;

static const struct service_settings *pop3_settings(const struct settings *set)
{
	return &set->pop3;
}

static int pop3_init(struct server *srv, char **error_r)
{
	if (auth_init(&srv->set, "petrel", error_r) < 0)
		return -1;
	/* Sessions work on a snapshot and never follow changes, so pop3d
	   does not listen for change notifications. */
	struct store_options opts;
	store_options_from_settings(&opts, &srv->set, "pop3d", false);
	if (store_open(&opts, &pop3d.store, error_r) < 0)
		return -1;
	pop3d.policy = (struct pop3_policy){
		.mark_seen = srv->set.maildrop.mark_seen,
		.expire_days = srv->set.maildrop.expire_days,
		.login_delay_ms = srv->set.maildrop.login_delay_ms,
	};
	srv->proto = &pop3d;
	return 0;
}

static void pop3_deinit(struct server *srv)
{
	store_close(&pop3d.store);
	auth_deinit();
}

static const struct service pop3_service = {
	.name = "pop3",
	.program = "petrel-pop3d",
	.conn_size = sizeof(struct pop3_session),
	.handler = &pop3_handler,
	.refusal_format = "-ERR [SYS/TEMP] %s\r\n",
	.literals = false,
	.settings = pop3_settings,
	.init = pop3_init,
	.deinit = pop3_deinit,
};

int main(int argc, char **argv)
{
	return server_main(argc, argv, &pop3_service);
}
