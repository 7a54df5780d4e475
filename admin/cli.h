/*
 * petrelctl's command table. Each subcommand lives in its own file and
 * registers a struct cli_command; main.c finds it by its words ("user add")
 * and runs it with the remaining arguments.
 *
 * Exit statuses: 0 success, 1 the operation failed, 2 usage or configuration
 * error.
 */
#ifndef PETREL_ADMIN_CLI_H
#define PETREL_ADMIN_CLI_H

#include <stdbool.h>

#include "common/settings.h"

struct cli_ctx {
	const char *config_path;
	struct settings set; /* loaded when the command needs it */
};

struct cli_command {
	const char *words;	/* "user add" */
	const char *args;	/* "USER [--password P]" */
	const char *help;	/* one line */
	bool needs_config;
	int (*run)(struct cli_ctx *ctx, int argc, char **argv);
};

extern const struct cli_command cli_user_commands[];
extern const struct cli_command cli_sandbox_commands[];
extern const struct cli_command cli_store_commands[];
extern const struct cli_command cli_quota_commands[];
extern const struct cli_command cli_inspect_commands[];

/* Prints "petrelctl: message" to stderr. */
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Usage line for one command; returns 2 for `return cli_usage(cmd);`. */
int cli_usage(const struct cli_command *cmd);

/* Gets a password: from --password, else prompts twice on a terminal, else
   reads one line from stdin. Returns a malloc'd string or NULL (error shown). */
char *cli_read_password(const char *given);

/* Opens the store and Cyrus SASL for user administration (both need the
   configuration). Returns 0 or an exit status. */
struct store;
int cli_open_userdb(struct cli_ctx *ctx, struct store **store_r);
void cli_close_userdb(struct store **store);

/* Writes a self-signed certificate and key for `name` (also valid for
   127.0.0.1 and ::1). Returns 0 or -1 with *error_r. */
int cli_selfsigned_cert(const char *cert_path, const char *key_path, const char *name,
			char **error_r);

#endif
