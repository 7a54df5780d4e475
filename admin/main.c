/* petrelctl: Petrel's administration tool. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin/cli.h"
#include "common/log.h"

#define DEFAULT_CONFIG "/etc/petrel/petrel.conf"

static const struct cli_command *const tables[] = {
	cli_user_commands,
	cli_sandbox_commands,
	cli_store_commands,
	cli_quota_commands,
	cli_inspect_commands,
};

void cli_error(const char *fmt, ...)
{
	va_list ap;
	fputs("petrelctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

int cli_usage(const struct cli_command *cmd)
{
	fprintf(stderr, "usage: petrelctl [-c CONF] %s %s\n", cmd->words, cmd->args);
	return 2;
}

static void usage(FILE *out)
{
	fprintf(out, "usage: petrelctl [-c CONF] COMMAND [ARGS]\n\n"
		     "  -c CONF  configuration file (default " DEFAULT_CONFIG ")\n\n"
		     "commands:\n");
	for (size_t t = 0; t < sizeof(tables) / sizeof(tables[0]); t++)
		for (const struct cli_command *c = tables[t]; c->words != NULL; c++)
			fprintf(out, "  %s %s\n      %s\n", c->words, c->args, c->help);
}

/* How many leading arguments spell the command's words, or 0. */
static int match_words(const char *words, int argc, char **argv)
{
	char copy[64];
	snprintf(copy, sizeof(copy), "%s", words);
	int n = 0;
	char *save = NULL;
	for (char *w = strtok_r(copy, " ", &save); w != NULL; w = strtok_r(NULL, " ", &save)) {
		if (n >= argc || strcmp(argv[n], w) != 0)
			return 0;
		n++;
	}
	return n;
}

int main(int argc, char **argv)
{
	struct cli_ctx ctx = { .config_path = DEFAULT_CONFIG };
	int i = 1;
	for (; i < argc && argv[i][0] == '-'; i++) {
		if (strcmp(argv[i], "-c") == 0 && i + 1 < argc) {
			ctx.config_path = argv[++i];
		} else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
			usage(stdout);
			return 0;
		} else {
			usage(stderr);
			return 2;
		}
	}
	log_init("petrelctl", LOG_TARGET_STDERR, LOG_LEVEL_WARNING, 0);

	for (size_t t = 0; t < sizeof(tables) / sizeof(tables[0]); t++) {
		for (const struct cli_command *c = tables[t]; c->words != NULL; c++) {
			int n = match_words(c->words, argc - i, argv + i);
			if (n == 0)
				continue;
			if (c->needs_config) {
				char *error = NULL;
				if (settings_load(&ctx.set, ctx.config_path, &error) < 0) {
					cli_error("%s", error);
					free(error);
					settings_free(&ctx.set);
					return 2;
				}
			}
			int status = c->run(&ctx, argc - i - n, argv + i + n);
			if (c->needs_config)
				settings_free(&ctx.set);
			return status;
		}
	}
	if (i < argc)
		cli_error("unknown command '%s'", argv[i]);
	usage(stderr);
	return 2;
}
