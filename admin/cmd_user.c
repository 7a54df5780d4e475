/* petrelctl user add|passwd|del|list */
#include <ctype.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "admin/cli.h"
#include "common/auth.h"
#include "common/xalloc.h"
#include "store/store.h"

/* Parses "USER [--password P]". Returns 0 or -1 (usage). */
static int parse_user_args(int argc, char **argv, char **user_r, const char **password_r)
{
	*user_r = NULL;
	*password_r = NULL;
	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--password") == 0 && i + 1 < argc)
			*password_r = argv[++i];
		else if (argv[i][0] != '-' && *user_r == NULL)
			*user_r = argv[i];
		else
			return -1;
	}
	if (*user_r == NULL)
		return -1;
	/* Names are kept in lower case everywhere (SASL lookups too). */
	char *lower = xstrdup(*user_r);
	for (char *p = lower; *p != '\0'; p++)
		*p = (char)tolower((unsigned char)*p);
	*user_r = lower;
	return 0;
}

/* The sasldb holds plain-text passwords (see common/auth.h): readable only by
   us and, when the daemons drop privileges, by their account. */
static void protect_sasldb(const struct cli_ctx *ctx)
{
	const char *path = ctx->set.auth.sasldb_path;
	chmod(path, 0600);
	const char *user = ctx->set.server.user;
	if (user[0] != '\0' && geteuid() == 0) {
		struct passwd *pw = getpwnam(user);
		if (pw != NULL && chown(path, pw->pw_uid, pw->pw_gid) == 0)
			chmod(path, 0640);
	}
}

/* user add and user passwd: the same steps, except that add needs the user
   to be new and records it in the directory too. */
static int set_password_command(struct cli_ctx *ctx, int argc, char **argv, bool adding)
{
	const struct cli_command *self = &cli_user_commands[adding ? 0 : 1];
	char *user;
	const char *given;
	if (parse_user_args(argc, argv, &user, &given) < 0)
		return cli_usage(self);
	const char *why;
	if (adding && store_user_name_check(user, &why) < 0) {
		cli_error("invalid user name '%s': %s", user, why);
		free(user);
		return 2;
	}
	struct store *store;
	int status = cli_open_userdb(ctx, &store);
	if (status != 0) {
		free(user);
		return status;
	}
	char *error = NULL;
	char *pass = NULL;
	bool exists = store_user_exists(store, user) == STORE_OK;
	if (exists == adding) {
		cli_error(adding ? "user %s already exists" : "no such user: %s", user);
		status = 1;
		goto out;
	}
	pass = cli_read_password(given);
	if (pass == NULL) {
		status = 2;
		goto out;
	}
	if (auth_set_password(user, pass, adding, &error) < 0) {
		cli_error("%s", error);
		status = 1;
		goto out;
	}
	protect_sasldb(ctx);
	if (adding && store_user_add(store, user, &error) < 0) {
		cli_error("%s", error);
		free(error);
		error = NULL;
		/* Don't leave a password behind for a user that doesn't exist. */
		if (auth_delete_password(user, &error) < 0)
			cli_error("%s", error);
		status = 1;
		goto out;
	}
	printf(adding ? "added %s\n" : "password changed for %s\n", user);
out:
	if (pass != NULL) {
		OPENSSL_cleanse(pass, strlen(pass));
		free(pass);
	}
	free(error);
	free(user);
	cli_close_userdb(&store);
	return status;
}

static int cmd_add(struct cli_ctx *ctx, int argc, char **argv)
{
	return set_password_command(ctx, argc, argv, true);
}

static int cmd_passwd(struct cli_ctx *ctx, int argc, char **argv)
{
	return set_password_command(ctx, argc, argv, false);
}

static int cmd_del(struct cli_ctx *ctx, int argc, char **argv)
{
	char *user;
	const char *given;
	if (parse_user_args(argc, argv, &user, &given) < 0 || given != NULL)
		return cli_usage(&cli_user_commands[2]);
	struct store *store;
	int status = cli_open_userdb(ctx, &store);
	if (status != 0) {
		free(user);
		return status;
	}
	char *error = NULL;
	/* Directory first: once it is gone the user cannot log in, even if
	   removing the password then fails. */
	if (store_user_del(store, user, &error) < 0) {
		cli_error("%s", error);
		status = 1;
	} else if (auth_delete_password(user, &error) < 0) {
		cli_error("%s", error);
		status = 1;
	} else {
		printf("deleted %s\n", user);
	}
	free(error);
	free(user);
	cli_close_userdb(&store);
	return status;
}

static void print_user(const char *user, void *ctx)
{
	puts(user);
}

static int cmd_list(struct cli_ctx *ctx, int argc, char **argv)
{
	if (argc != 0)
		return cli_usage(&cli_user_commands[3]);
	struct store *store;
	char *error = NULL;
	struct store_options opts;
	store_options_from_settings(&opts, &ctx->set, "petrelctl", false);
	if (store_open(&opts, &store, &error) < 0) {
		cli_error("%s", error);
		free(error);
		return 1;
	}
	int status = 0;
	if (store_user_list(store, print_user, NULL, &error) < 0) {
		cli_error("%s", error);
		free(error);
		status = 1;
	}
	store_close(&store);
	return status;
}

const struct cli_command cli_user_commands[] = {
	{ "user add", "USER [--password P]",
	  "create a user (an address, like ann@example.com); asks for the password if not given",
	  true, cmd_add },
	{ "user passwd", "USER [--password P]", "change a user's password", true, cmd_passwd },
	{ "user del", "USER", "delete a user's login (mail data is kept)", true, cmd_del },
	{ "user list", "", "list users", true, cmd_list },
	{ NULL, NULL, NULL, false, NULL },
};
