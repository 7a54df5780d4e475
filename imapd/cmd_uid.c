/* UID FETCH, STORE, COPY, SEARCH (RFC 3501 6.4.8) and UID EXPUNGE
   (RFC 4315 2.1). */
#include <stdlib.h>

#include "imapd/imap_commands.h"

void cmd_uid(struct imap_session *s, const struct imap_command_line *cmd)
{
	if (cmd->count < 1 || cmd->args[0].type != IMAP_ARG_ATOM) {
		imap_tagged(s, cmd->tag, "BAD", "Expected: UID FETCH|STORE|COPY|SEARCH|EXPUNGE ...");
		imap_bad_command(s);
		return;
	}
	struct span sub = cmd->args[0].str;
	const struct imap_arg *args = cmd->args + 1;
	size_t count = cmd->count - 1;
	if (span_eq_ci(sub, "FETCH")) {
		imap_fetch_run(s, cmd, args, count, true);
	} else if (span_eq_ci(sub, "STORE")) {
		imap_store_run(s, cmd, args, count, true);
	} else if (span_eq_ci(sub, "COPY")) {
		imap_copy_run(s, cmd, args, count, true);
	} else if (span_eq_ci(sub, "SEARCH")) {
		imap_search_run(s, cmd, args, count, true);
	} else if (span_eq_ci(sub, "EXPUNGE")) {
		uint32_t *uids;
		size_t n;
		if (count != 1) {
			imap_tagged(s, cmd->tag, "BAD", "Expected: UID EXPUNGE set.");
			imap_bad_command(s);
			return;
		}
		if (!imap_msgset_arg(s, cmd, &args[0], true, &uids, &n))
			return;
		if (n == 0) {
			/* NULL would mean every \Deleted message. */
			imap_tagged(s, cmd->tag, "OK", "Expunge completed.");
			return;
		}
		imap_expunge_start(s, cmd->tag, uids, n);
	} else {
		imap_tagged(s, cmd->tag, "BAD", "Unknown UID command.");
		imap_bad_command(s);
	}
}
