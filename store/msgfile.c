/*
 * Maildir file names and directory durability.
 *
 *   <sec>.M<usec>P<pid>Q<n>.<host>,S=<size>,W=<size>,U=<uid>:2,<flags>
 *
 * Flag letters, in ASCII order as the Maildir spec asks: D draft,
 * F flagged, R replied (answered), S seen, T trashed (deleted), then
 * keywords as a-z (mapped per folder in petrel-mailbox).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/xalloc.h"
#include "store/internal.h"

static const struct {
	char letter;
	uint32_t flag;
} flag_letters[] = {
	{ 'D', STORE_FLAG_DRAFT },   { 'F', STORE_FLAG_FLAGGED }, { 'R', STORE_FLAG_ANSWERED },
	{ 'S', STORE_FLAG_SEEN },    { 'T', STORE_FLAG_DELETED },
};

uint32_t msgfile_next_seq(struct store *store)
{
	return __atomic_add_fetch(&store->file_seq, 1, __ATOMIC_RELAXED);
}

int fsync_dir(const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	int ret = fsync(fd);
	close(fd);
	return ret;
}

void msgfile_flag_suffix(uint32_t flags, uint64_t keywords, const struct mailbox_file *mf,
			 const char *const *keyword_names, char *out, size_t outlen)
{
	size_t n = 0;
	for (size_t i = 0; i < sizeof(flag_letters) / sizeof(flag_letters[0]); i++)
		if ((flags & flag_letters[i].flag) && n + 1 < outlen)
			out[n++] = flag_letters[i].letter;
	for (int letter = 0; letter < 26 && mf != NULL && keyword_names != NULL; letter++) {
		if (mf->keywords[letter] == NULL)
			continue;
		for (unsigned int id = 0; id < STORE_MAX_KEYWORDS; id++) {
			if ((keywords & (1ULL << id)) && keyword_names[id] != NULL &&
			    strcmp(keyword_names[id], mf->keywords[letter]) == 0 && n + 1 < outlen) {
				out[n++] = (char)('a' + letter);
				break;
			}
		}
	}
	out[n] = '\0';
}

static bool parse_number(const char *p, const char *end, uint64_t *v_r)
{
	uint64_t v = 0;
	if (p == end)
		return false;
	for (; p < end; p++) {
		if (*p < '0' || *p > '9' || v > (UINT64_MAX - 9) / 10)
			return false;
		v = v * 10 + (uint64_t)(*p - '0');
	}
	*v_r = v;
	return true;
}

int msgfile_parse_name(const char *name, struct msgfile_name *out)
{
	memset(out, 0, sizeof(*out));
	if (name[0] == '.' || name[0] == '\0')
		return -1;
	const char *colon = strstr(name, ":2,");
	out->base_len = colon != NULL ? (size_t)(colon - name) : strlen(name);
	/* ",S=..." and ",U=..." fields anywhere after the unique part. */
	const char *end = name + out->base_len;
	for (const char *p = strchr(name, ','); p != NULL && p < end; p = strchr(p + 1, ',')) {
		const char *field_end = p + 1;
		while (field_end < end && *field_end != ',')
			field_end++;
		uint64_t v;
		if (p[1] == 'S' && p[2] == '=' && parse_number(p + 3, field_end, &v)) {
			out->size = v;
			out->has_size = true;
		} else if (p[1] == 'U' && p[2] == '=' && parse_number(p + 3, field_end, &v) &&
			   v > 0 && v < UINT32_MAX) {
			out->uid = (uint32_t)v;
		}
	}
	if (colon != NULL) {
		for (const char *f = colon + 3; *f != '\0'; f++) {
			for (size_t i = 0; i < sizeof(flag_letters) / sizeof(flag_letters[0]); i++)
				if (*f == flag_letters[i].letter)
					out->flags |= flag_letters[i].flag;
			if (*f >= 'a' && *f <= 'z')
				out->keyword_letters |= 1u << (*f - 'a');
		}
	}
	return 0;
}

char *msgfile_path(const char *folder, const char *base, size_t base_len, const char *suffix)
{
	return xasprintf("%s/cur/%.*s:2,%s", folder, (int)base_len, base, suffix);
}

char *msgfile_find(const char *folder, const char *base, size_t base_len)
{
	static const char *const subdirs[] = { "cur", "new" };
	for (size_t i = 0; i < 2; i++) {
		char *dir = xasprintf("%s/%s", folder, subdirs[i]);
		DIR *d = opendir(dir);
		struct dirent *de;
		char *found = NULL;
		while (d != NULL && (de = readdir(d)) != NULL) {
			if (strncmp(de->d_name, base, base_len) == 0 &&
			    (de->d_name[base_len] == ':' || de->d_name[base_len] == '\0')) {
				found = xasprintf("%s/%s", dir, de->d_name);
				break;
			}
		}
		if (d != NULL)
			closedir(d);
		free(dir);
		if (found != NULL)
			return found;
	}
	return NULL;
}

char *msgfile_current_path(const char *folder, struct span base, uint32_t flags, uint64_t keywords,
			   const struct mailbox_file *mf, char *const *keyword_names)
{
	char suffix[64];
	msgfile_flag_suffix(flags, keywords, mf, (const char *const *)keyword_names, suffix,
			    sizeof(suffix));
	return msgfile_path(folder, (const char *)base.ptr, base.len, suffix);
}

char *msgfile_locate(const char *folder, struct span base, uint32_t flags, uint64_t keywords,
		     const struct mailbox_file *mf, char *const *keyword_names)
{
	char *path = msgfile_current_path(folder, base, flags, keywords, mf, keyword_names);
	if (access(path, F_OK) == 0)
		return path;
	free(path);
	return msgfile_find(folder, (const char *)base.ptr, base.len);
}

char *msgfile_find_path(const char *folder, const char *path)
{
	const char *base = strrchr(path, '/') + 1;
	const char *colon = strstr(base, ":2,");
	return msgfile_find(folder, base, colon != NULL ? (size_t)(colon - base) : strlen(base));
}

int msgfile_unlink(const char *folder, const char *path)
{
	/* unlink() says ENOENT as cheaply as access() would: the expected
	   name costs one system call, and only a stale one a directory scan. */
	if (unlink(path) == 0)
		return 0;
	if (errno != ENOENT)
		return -1;
	char *found = msgfile_find_path(folder, path);
	if (found == NULL) {
		errno = ENOENT;
		return -1;
	}
	int ret = unlink(found);
	free(found);
	return ret;
}
