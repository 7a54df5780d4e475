/*
 * Mailbox names: the checks a name must pass, its canonical form, and its
 * folder directory in the Maildir++ layout.
 *
 * On disk a folder is "." followed by its components joined with "." (the
 * Maildir++ convention other tools understand). A "." inside a component
 * would read as a separator, so it is written "%2E"; "%" itself is not
 * allowed in names (it is an IMAP LIST wildcard), which keeps the escaping
 * unambiguous. Names are otherwise stored as their UTF-8 bytes.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/utf8.h"
#include "common/xalloc.h"
#include "store/internal.h"

#define MAX_NAME_LEN 512
#define MAX_DIR_NAME_LEN 250 /* NAME_MAX is 255; keep some room */

static bool is_inbox_prefix(const char *name, size_t len)
{
	return len >= 5 && strncasecmp(name, "INBOX", 5) == 0 && (len == 5 || name[5] == '/');
}

char *mailbox_canonical(const char *name)
{
	char *c = xstrdup(name);
	if (is_inbox_prefix(c, strlen(c)))
		memcpy(c, "INBOX", 5);
	return c;
}

static size_t escaped_len(const char *name)
{
	size_t n = 1; /* leading dot */
	for (const char *p = name; *p != '\0'; p++)
		n += *p == '.' ? 3 : 1;
	return n;
}

int store_mailbox_name_check(const char *name, const char **why_r)
{
	size_t len = strlen(name);
	if (len == 0 || len > MAX_NAME_LEN) {
		*why_r = "must be 1 to 512 bytes long";
		return STORE_ERR_INVALID;
	}
	if (!utf8_valid((const uint8_t *)name, len)) {
		*why_r = "is not valid UTF-8";
		return STORE_ERR_INVALID;
	}
	for (const char *p = name; *p != '\0'; p++) {
		unsigned char c = (unsigned char)*p;
		if (c < 0x20 || c == 0x7f) {
			*why_r = "contains control characters";
			return STORE_ERR_INVALID;
		}
		if (c == '%' || c == '*') {
			*why_r = "contains % or * (IMAP wildcards)";
			return STORE_ERR_INVALID;
		}
	}
	if (name[0] == '/' || name[len - 1] == '/' || strstr(name, "//") != NULL) {
		*why_r = "has an empty hierarchy level";
		return STORE_ERR_INVALID;
	}
	if (escaped_len(name) > MAX_DIR_NAME_LEN) {
		*why_r = "is too long for the file system";
		return STORE_ERR_INVALID;
	}
	return STORE_OK;
}

char *mailbox_dir_name(const char *canonical)
{
	const char *why;
	if (store_mailbox_name_check(canonical, &why) < 0)
		return NULL;
	if (strcmp(canonical, "INBOX") == 0)
		return xstrdup("");
	struct buf out = BUF_INIT;
	buf_append_byte(&out, '.');
	for (const char *p = canonical; *p != '\0'; p++) {
		if (*p == '/')
			buf_append_byte(&out, '.');
		else if (*p == '.')
			buf_append_str(&out, "%2E");
		else
			buf_append_byte(&out, (uint8_t)*p);
	}
	return (char *)out.data;
}

char *mailbox_name_from_dir(const char *dir)
{
	if (dir[0] != '.' || dir[1] == '\0' || strcmp(dir, "..") == 0)
		return NULL;
	struct buf out = BUF_INIT;
	for (const char *p = dir + 1; *p != '\0'; p++) {
		if (*p == '.') {
			buf_append_byte(&out, '/');
		} else if (*p == '%') {
			if (strncmp(p, "%2E", 3) != 0 && strncmp(p, "%2e", 3) != 0) {
				buf_free(&out);
				return NULL;
			}
			buf_append_byte(&out, '.');
			p += 2;
		} else {
			buf_append_byte(&out, (uint8_t)*p);
		}
	}
	char *name = (char *)out.data;
	const char *why;
	if (name == NULL || store_mailbox_name_check(name, &why) < 0) {
		free(name);
		return NULL;
	}
	char *canonical = mailbox_canonical(name);
	free(name);
	return canonical;
}

char *mailbox_path(const struct store_user *u, const char *canonical)
{
	char *dir = mailbox_dir_name(canonical);
	if (dir == NULL)
		return NULL;
	char *path = dir[0] == '\0' ? xstrdup(u->maildir) : xasprintf("%s/%s", u->maildir, dir);
	free(dir);
	return path;
}
