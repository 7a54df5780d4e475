/*
 * petrel-mailbox: a small text file in every folder directory holding what
 * must survive the loss of the index - UIDVALIDITY, a floor for UIDNEXT,
 * the special-use attribute and the keyword letters used in file names:
 *
 *   uidvalidity 1763931234
 *   uidnext 1042
 *   special-use 4
 *   keyword a $Forwarded
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/xalloc.h"
#include "store/internal.h"

#define FILE_NAME "petrel-mailbox"

int mailbox_file_read(const char *folder, struct mailbox_file *mf)
{
	memset(mf, 0, sizeof(*mf));
	char *path = xasprintf("%s/" FILE_NAME, folder);
	FILE *f = fopen(path, "r");
	free(path);
	if (f == NULL)
		return errno == ENOENT ? STORE_ERR_NOT_FOUND : STORE_ERR_IO;
	char line[512];
	while (fgets(line, sizeof(line), f) != NULL) {
		line[strcspn(line, "\r\n")] = '\0';
		unsigned long v;
		char letter;
		int n = 0;
		if (sscanf(line, "uidvalidity %lu", &v) == 1)
			mf->uidvalidity = (uint32_t)v;
		else if (sscanf(line, "uidnext %lu", &v) == 1)
			mf->uidnext_floor = (uint32_t)v;
		else if (sscanf(line, "special-use %lu", &v) == 1)
			mf->special_use = (unsigned int)v;
		else if (sscanf(line, "keyword %c %n", &letter, &n) == 1 && n > 0 &&
			 letter >= 'a' && letter <= 'z' && line[n] != '\0') {
			free(mf->keywords[letter - 'a']);
			mf->keywords[letter - 'a'] = xstrdup(line + n);
		}
	}
	fclose(f);
	return mf->uidvalidity != 0 ? STORE_OK : STORE_ERR_IO;
}

int write_file_atomic(const char *dir, const char *name, struct span data, bool durable)
{
	char *tmp = xasprintf("%s/.%s.tmp", dir, name);
	char *path = xasprintf("%s/%s", dir, name);
	int ret = STORE_ERR_IO;
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
	if (fd >= 0) {
		bool ok = (data.len == 0 || write(fd, data.ptr, data.len) == (ssize_t)data.len) &&
			  (!durable || fsync(fd) == 0);
		if (close(fd) == 0 && ok && rename(tmp, path) == 0 && (!durable || fsync_dir(dir) == 0))
			ret = STORE_OK;
		else
			unlink(tmp);
	}
	free(tmp);
	free(path);
	return ret;
}

int mailbox_file_write(const char *folder, const struct mailbox_file *mf, bool durable)
{
	struct buf text = BUF_INIT;
	buf_printf(&text, "uidvalidity %u\nuidnext %u\nspecial-use %u\n", mf->uidvalidity,
		   mf->uidnext_floor, mf->special_use);
	for (int i = 0; i < 26; i++)
		if (mf->keywords[i] != NULL)
			buf_printf(&text, "keyword %c %s\n", 'a' + i, mf->keywords[i]);
	int ret = write_file_atomic(folder, FILE_NAME, buf_span(&text), durable);
	buf_free(&text);
	return ret;
}

void mailbox_file_free(struct mailbox_file *mf)
{
	for (int i = 0; i < 26; i++)
		free(mf->keywords[i]);
	memset(mf, 0, sizeof(*mf));
}
