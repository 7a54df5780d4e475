/* petrelctl quota set|get USER */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin/cli.h"
#include "common/config.h"
#include "store/store.h"

static int parse_limit(const char *text, bool size, uint64_t *value_r)
{
	if (strcmp(text, "default") == 0) {
		*value_r = UINT64_MAX;
		return 0;
	}
	if (size)
		return config_parse_size(text, value_r);
	char *end;
	unsigned long long v = strtoull(text, &end, 10);
	if (*end != '\0' || text[0] == '-' || text[0] == '\0')
		return -1;
	*value_r = v;
	return 0;
}

static int with_store(struct cli_ctx *ctx, struct store **store_r)
{
	struct store_options opts;
	store_options_from_settings(&opts, &ctx->set, "petrelctl", false);
	char *error = NULL;
	if (store_open(&opts, store_r, &error) < 0) {
		cli_error("%s", error);
		free(error);
		return 1;
	}
	return 0;
}

static int cmd_set(struct cli_ctx *ctx, int argc, char **argv)
{
	const char *user = NULL, *storage = "default", *messages = "default";
	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--storage") == 0 && i + 1 < argc)
			storage = argv[++i];
		else if (strcmp(argv[i], "--messages") == 0 && i + 1 < argc)
			messages = argv[++i];
		else if (argv[i][0] != '-' && user == NULL)
			user = argv[i];
		else
			return cli_usage(&cli_quota_commands[0]);
	}
	uint64_t bytes, count;
	if (user == NULL)
		return cli_usage(&cli_quota_commands[0]);
	if (parse_limit(storage, true, &bytes) < 0 || parse_limit(messages, false, &count) < 0) {
		cli_error("limits are sizes (10G, 500M), numbers, 0 (unlimited) or \"default\"");
		return 2;
	}
	struct store *store;
	if (with_store(ctx, &store) != 0)
		return 1;
	char *error = NULL;
	int status = 0;
	if (store_quota_set(store, user, bytes, count, &error) < 0) {
		cli_error("%s", error);
		free(error);
		status = 1;
	}
	store_close(&store);
	return status;
}

static void print_limit(const char *what, uint64_t used, uint64_t limit)
{
	if (limit == 0)
		printf("%s %llu of unlimited\n", what, (unsigned long long)used);
	else
		printf("%s %llu of %llu (%.1f%%)\n", what, (unsigned long long)used,
		       (unsigned long long)limit, 100.0 * (double)used / (double)limit);
}

static int cmd_get(struct cli_ctx *ctx, int argc, char **argv)
{
	if (argc != 1)
		return cli_usage(&cli_quota_commands[1]);
	struct store *store;
	if (with_store(ctx, &store) != 0)
		return 1;
	struct store_user *u;
	char *error = NULL;
	int status = 0;
	if (store_user_open(store, argv[0], &u, &error) < 0) {
		cli_error("%s", error);
		free(error);
		status = 1;
	} else {
		struct store_quota q;
		if (store_quota_get(u, &q) == STORE_OK) {
			print_limit("storage", q.used_bytes, q.limit_bytes);
			print_limit("messages", q.used_messages, q.limit_messages);
		} else {
			cli_error("cannot read the quota of %s", argv[0]);
			status = 1;
		}
		store_user_close(&u);
	}
	store_close(&store);
	return status;
}

const struct cli_command cli_quota_commands[] = {
	{ "quota set", "USER [--storage SIZE] [--messages N]",
	  "set a user's limits (0 = unlimited, \"default\" = [quota] in petrel.conf)", true,
	  cmd_set },
	{ "quota get", "USER", "show a user's usage and limits", true, cmd_get },
	{ NULL, NULL, NULL, false, NULL },
};
