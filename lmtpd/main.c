/* petrel-lmtpd: LMTP delivery from the MTA, on a unix socket and/or TCP. */
#include "common/server.h"
#include "lmtpd/lmtp_session.h"

static const struct service_settings *lmtp_settings(const struct settings *set)
{
	return &set->lmtp;
}

static const struct service lmtp_service = {
	.name = "lmtp",
	.program = "petrel-lmtpd",
	.conn_size = sizeof(struct lmtp_session),
	.handler = &lmtp_handler,
	.refusal_format = "421 4.3.2 %s\r\n",
	.literals = false,
	.settings = lmtp_settings,
};

int main(int argc, char **argv)
{
	return server_main(argc, argv, &lmtp_service);
}
