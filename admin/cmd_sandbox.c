/*
 * petrelctl sandbox create DIR --base-port N
 *
 * A complete instance for development, tests and evaluation: config, a
 * self-signed certificate, a data folder and the demo user, all under DIR,
 * listening on loopback ports derived from N. Public interface: scripts
 * outside this repository rely on the layout and the port offsets.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "admin/cli.h"
#include "common/auth.h"
#include "common/xalloc.h"
#include "store/store.h"

#define DEMO_USER "demo@example.test"
#define DEMO_PASSWORD "demo-pass"

/* Port offsets from --base-port, chosen so the last digits match the
   standard ports. */
enum {
	PORT_LMTP = 24,
	PORT_POP3 = 110,
	PORT_IMAP = 143,
	PORT_IMAPS = 993,
	PORT_POP3S = 995,
};

static int make_dir(const char *path, mode_t mode)
{
	if (mkdir(path, mode) < 0 && errno != EEXIST) {
		cli_error("cannot create %s: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}

static int write_config(const char *path, const char *dir, unsigned long base)
{
	FILE *f = fopen(path, "w");
	if (f == NULL) {
		cli_error("cannot write %s: %s", path, strerror(errno));
		return -1;
	}
	/* A unix socket for LMTP too, when the path fits in sun_path. */
	char lmtp_unix[160] = "";
	if (strlen(dir) + strlen("/run/lmtp.sock") < 100)
		snprintf(lmtp_unix, sizeof(lmtp_unix), ", unix:%s/run/lmtp.sock", dir);
	fprintf(f,
		"# Petrel sandbox instance, made by `petrelctl sandbox create`.\n"
		"# For development, tests and evaluation: loopback ports and a\n"
		"# self-signed certificate. Every option is documented in the source\n"
		"# tree's conf/petrel.conf.\n"
		"\n"
		"[server]\n"
		"hostname = localhost\n"
		"data_dir = %s/data\n"
		"run_dir = %s/run\n"
		"log = auto\n"
		"log_level = info\n"
		"\n"
		"[tls]\n"
		"cert_file = %s/tls/cert.pem\n"
		"key_file = %s/tls/key.pem\n"
		"\n"
		"[auth]\n"
		"allow_plaintext_auth = no\n"
		"\n"
		"[imap]\n"
		"listen = 127.0.0.1:%lu\n"
		"listen_tls = 127.0.0.1:%lu\n"
		"\n"
		"[pop3]\n"
		"listen = 127.0.0.1:%lu\n"
		"listen_tls = 127.0.0.1:%lu\n"
		"\n"
		"[lmtp]\n"
		"listen = 127.0.0.1:%lu%s\n",
		dir, dir, dir, dir, base + PORT_IMAP, base + PORT_IMAPS, base + PORT_POP3,
		base + PORT_POP3S, base + PORT_LMTP, lmtp_unix);
	if (fclose(f) != 0) {
		cli_error("cannot write %s: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}

static int add_demo_user(struct cli_ctx *ctx)
{
	struct store *store;
	int status = cli_open_userdb(ctx, &store);
	if (status != 0)
		return status;
	char *error = NULL;
	if (auth_set_password(DEMO_USER, DEMO_PASSWORD, true, &error) < 0 ||
	    store_user_add(store, DEMO_USER, &error) < 0) {
		cli_error("%s", error);
		free(error);
		status = 1;
	}
	chmod(ctx->set.auth.sasldb_path, 0600);
	cli_close_userdb(&store);
	return status;
}

static int cmd_create(struct cli_ctx *ctx, int argc, char **argv)
{
	const char *dir_arg = NULL;
	const char *port_arg = NULL;
	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--base-port") == 0 && i + 1 < argc)
			port_arg = argv[++i];
		else if (argv[i][0] != '-' && dir_arg == NULL)
			dir_arg = argv[i];
		else
			return cli_usage(&cli_sandbox_commands[0]);
	}
	if (dir_arg == NULL || port_arg == NULL)
		return cli_usage(&cli_sandbox_commands[0]);
	char *end;
	errno = 0;
	unsigned long base = strtoul(port_arg, &end, 10);
	if (errno != 0 || *end != '\0' || port_arg[0] == '-' || base < 1 ||
	    base + PORT_POP3S > 65535) {
		cli_error("--base-port must be a number from 1 to %d", 65535 - PORT_POP3S);
		return 2;
	}

	if (make_dir(dir_arg, 0755) < 0)
		return 1;
	char dir[PATH_MAX];
	if (realpath(dir_arg, dir) == NULL) {
		cli_error("%s: %s", dir_arg, strerror(errno));
		return 1;
	}
	char *conf = xasprintf("%s/petrel.conf", dir);
	char *data = xasprintf("%s/data", dir);
	char *run = xasprintf("%s/run", dir);
	char *tls = xasprintf("%s/tls", dir);
	char *cert = xasprintf("%s/tls/cert.pem", dir);
	char *key = xasprintf("%s/tls/key.pem", dir);
	char *error = NULL;
	int status = 1;

	if (access(conf, F_OK) == 0) {
		cli_error("%s already exists; remove the directory to start afresh", conf);
		goto out;
	}
	if (make_dir(data, 0750) < 0 || make_dir(run, 0755) < 0 || make_dir(tls, 0700) < 0)
		goto out;
	if (cli_selfsigned_cert(cert, key, "localhost", &error) < 0) {
		cli_error("%s", error);
		goto out;
	}
	if (write_config(conf, dir, base) < 0)
		goto out;

	ctx->config_path = conf;
	if (settings_load(&ctx->set, conf, &error) < 0) {
		cli_error("%s", error);
		goto out;
	}
	status = add_demo_user(ctx);
	settings_free(&ctx->set);
	if (status != 0)
		goto out;

	printf("sandbox ready in %s\n"
	       "  config  %s\n"
	       "  imap    127.0.0.1:%lu (STARTTLS)   imaps 127.0.0.1:%lu\n"
	       "  pop3    127.0.0.1:%lu (STLS)       pop3s 127.0.0.1:%lu\n"
	       "  lmtp    127.0.0.1:%lu\n"
	       "  user    %s  password %s\n",
	       dir, conf, base + PORT_IMAP, base + PORT_IMAPS, base + PORT_POP3,
	       base + PORT_POP3S, base + PORT_LMTP, DEMO_USER, DEMO_PASSWORD);
out:
	free(error);
	free(conf);
	free(data);
	free(run);
	free(tls);
	free(cert);
	free(key);
	return status;
}

const struct cli_command cli_sandbox_commands[] = {
	{ "sandbox create", "DIR --base-port N",
	  "make a self-contained dev/test instance in DIR (ports N+143, N+993, N+110, N+995, "
	  "N+24; user " DEMO_USER " / " DEMO_PASSWORD ")",
	  false, cmd_create },
	{ NULL, NULL, NULL, false, NULL },
};
