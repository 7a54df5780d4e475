/* Shared by the commands that manage users: the store and Cyrus SASL. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "admin/cli.h"
#include "common/auth.h"
#include "common/xalloc.h"
#include "store/store.h"

int cli_open_userdb(struct cli_ctx *ctx, struct store **store_r)
{
	char *error = NULL;
	struct store_options opts;
	store_options_from_settings(&opts, &ctx->set, "petrelctl", false);
	if (store_open(&opts, store_r, &error) < 0) {
		cli_error("%s", error);
		free(error);
		return 1;
	}
	if (auth_init(&ctx->set, "petrelctl", &error) < 0) {
		cli_error("%s", error);
		free(error);
		store_close(store_r);
		return 2;
	}
	return 0;
}

void cli_close_userdb(struct store **store)
{
	auth_deinit();
	store_close(store);
}

static char *read_line(FILE *in)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t n = getline(&line, &cap, in);
	if (n < 0) {
		free(line);
		return NULL;
	}
	while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
		line[--n] = '\0';
	return line;
}

static char *prompt_hidden(const char *prompt)
{
	struct termios old, quiet;
	fputs(prompt, stderr);
	fflush(stderr);
	bool restore = tcgetattr(STDIN_FILENO, &old) == 0;
	if (restore) {
		quiet = old;
		quiet.c_lflag &= (tcflag_t)~ECHO;
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
	}
	char *line = read_line(stdin);
	if (restore)
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
	fputc('\n', stderr);
	return line;
}

char *cli_read_password(const char *given)
{
	if (given != NULL)
		return xstrdup(given);
	char *pass;
	if (isatty(STDIN_FILENO)) {
		pass = prompt_hidden("Password: ");
		char *again = pass != NULL ? prompt_hidden("Again: ") : NULL;
		if (pass == NULL || again == NULL || strcmp(pass, again) != 0) {
			cli_error("passwords do not match");
			if (pass != NULL)
				OPENSSL_cleanse(pass, strlen(pass));
			free(pass);
			pass = NULL;
		}
		if (again != NULL)
			OPENSSL_cleanse(again, strlen(again));
		free(again);
	} else {
		pass = read_line(stdin);
		if (pass == NULL)
			cli_error("no password on standard input");
	}
	if (pass != NULL && pass[0] == '\0') {
		cli_error("empty password");
		free(pass);
		pass = NULL;
	}
	return pass;
}
