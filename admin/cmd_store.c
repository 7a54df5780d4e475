/* petrelctl store check [USER]: reconcile Maildir and index, report fixes. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin/cli.h"
#include "common/xalloc.h"
#include "store/store.h"

struct check_all {
	struct store *store;
	int status;
	unsigned int users, fixes;
};

static void print_line(const char *line, void *ctx)
{
	printf("  %s\n", line);
}

static unsigned int fixes(const struct store_check_report *r)
{
	return r->files_indexed + r->records_expunged + r->uids_reassigned + r->files_renamed +
	       r->mailboxes_found + (r->index_rebuilt ? 1 : 0) + (r->uid_lists_rebuilt ? 1 : 0);
}

static void check_user(const char *user, void *ctx)
{
	struct check_all *c = ctx;
	struct store_check_report r;
	char *error = NULL;
	printf("%s\n", user);
	if (store_check(c->store, user, &r, print_line, NULL, &error) < 0) {
		cli_error("%s: %s", user, error);
		free(error);
		c->status = 1;
		return;
	}
	c->users++;
	c->fixes += fixes(&r);
	printf("  %s: %u indexed, %u expunged, %u UIDs reassigned, %u renamed, "
	       "%u folders added%s%s\n",
	       fixes(&r) == 0 ? "consistent" : "fixed", r.files_indexed, r.records_expunged,
	       r.uids_reassigned, r.files_renamed, r.mailboxes_found,
	       r.index_rebuilt ? ", index rebuilt" : "",
	       r.uid_lists_rebuilt ? ", UID lists rebuilt" : "");
}

static int cmd_check(struct cli_ctx *ctx, int argc, char **argv)
{
	if (argc > 1)
		return cli_usage(&cli_store_commands[0]);
	struct store *store;
	struct store_options opts;
	store_options_from_settings(&opts, &ctx->set, "petrelctl", false);
	char *error = NULL;
	if (store_open(&opts, &store, &error) < 0) {
		cli_error("%s", error);
		free(error);
		return 1;
	}
	struct check_all c = { .store = store };
	if (argc == 1) {
		if (store_user_exists(store, argv[0]) != STORE_OK) {
			cli_error("no such user: %s", argv[0]);
			c.status = 1;
		} else {
			check_user(argv[0], &c);
		}
	} else if (store_user_list(store, check_user, &c, &error) < 0) {
		cli_error("%s", error);
		free(error);
		c.status = 1;
	}
	store_close(&store);
	if (c.status == 0)
		printf("%u user(s) checked, %u fix(es)\n", c.users, c.fixes);
	return c.status;
}

const struct cli_command cli_store_commands[] = {
	{ "store check", "[USER]",
	  "reconcile Maildir and index (all users, or one) and report what was fixed", true,
	  cmd_check },
	{ NULL, NULL, NULL, false, NULL },
};
