#include "imapd/imap_mailbox_name.h"

#include <string.h>
#include <strings.h>

#include "imapd/imap_mutf7.h"

const char *imap_mailbox_arg(struct arena *a, const struct imap_arg *arg, const char **error_r)
{
	if (!imap_arg_is_astring(arg)) {
		*error_r = "Mailbox name expected.";
		return NULL;
	}
	struct buf utf8 = BUF_INIT;
	/* An empty name ("" in LIST) leaves utf8.data NULL: no memchr then. */
	if (imap_mutf7_decode(arg->str, &utf8) < 0 ||
	    (utf8.len > 0 && memchr(utf8.data, '\0', utf8.len) != NULL)) {
		buf_free(&utf8);
		*error_r = "Mailbox name is not valid modified UTF-7.";
		return NULL;
	}
	char *name = arena_alloc(a, utf8.len + 1);
	if (utf8.len > 0)
		memcpy(name, utf8.data, utf8.len);
	name[utf8.len] = '\0';
	buf_free(&utf8);
	/* "INBOX" is case-insensitive, also as the first level of a name. */
	if (strncasecmp(name, "INBOX", 5) == 0 && (name[5] == '\0' || name[5] == '/'))
		memcpy(name, "INBOX", 5);
	return name;
}

void imap_string_write(struct buf *out, struct span s)
{
	bool quotable = s.len < 1024;
	for (size_t i = 0; i < s.len && quotable; i++)
		quotable = s.ptr[i] >= 0x20 && s.ptr[i] < 0x7f;
	if (!quotable) {
		buf_printf(out, "{%zu}\r\n", s.len);
		buf_append(out, s.ptr, s.len);
		return;
	}
	buf_append_byte(out, '"');
	for (size_t i = 0; i < s.len; i++) {
		if (s.ptr[i] == '"' || s.ptr[i] == '\\')
			buf_append_byte(out, '\\');
		buf_append_byte(out, s.ptr[i]);
	}
	buf_append_byte(out, '"');
}

void imap_mailbox_write(struct buf *out, const char *utf8)
{
	struct buf wire = BUF_INIT;
	if (imap_mutf7_encode(span_cstr(utf8), &wire) < 0) {
		/* The store only holds valid UTF-8 names; never reached. */
		buf_clear(&wire);
		buf_append_str(&wire, utf8);
	}
	imap_string_write(out, buf_span(&wire));
	buf_free(&wire);
}
