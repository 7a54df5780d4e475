/*
 * Session locks (store.h): an flock() on <user root>/<name>.lock.
 *
 * flock rather than fcntl: fcntl locks belong to the process, so two
 * sessions of one daemon would share one and never exclude each other;
 * an flock belongs to the open file description, so every session opens
 * the file itself and the kernel orders them, across processes too. The
 * kernel drops it when the descriptor closes, also when the process dies.
 *
 * The file is never removed: removing it while someone waits for it would
 * let two sessions lock two different files of the same name.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/xalloc.h"
#include "store/internal.h"

#define LOCK_NAME_MAX 32

struct store_lock {
	int fd;
	char *path; /* for error messages */
};

static bool lock_name_ok(const char *name)
{
	size_t len = strlen(name);
	if (len == 0 || len > LOCK_NAME_MAX)
		return false;
	for (const char *p = name; *p != '\0'; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-'))
			return false;
	return true;
}

int store_lock_take(struct store_user *u, const char *name, struct store_lock **lock_r,
		    int64_t *stamped_r, char **error_r)
{
	if (!lock_name_ok(name))
		return store_fail(STORE_ERR_INVALID, error_r, "bad lock name");
	char *path = xasprintf("%s/%s.lock", u->root, name);
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		int ret = store_sys_error("cannot open", path, error_r);
		free(path);
		return ret;
	}
	int rc;
	while ((rc = flock(fd, LOCK_EX | LOCK_NB)) < 0 && errno == EINTR)
		;
	if (rc < 0) {
		int ret = errno == EWOULDBLOCK ? store_fail(STORE_ERR_IN_USE, error_r, "%s is locked", path)
					       : store_sys_error("cannot lock", path, error_r);
		close(fd);
		free(path);
		return ret;
	}
	struct stat st;
	if (fstat(fd, &st) < 0) {
		int ret = store_sys_error("cannot stat", path, error_r);
		close(fd);
		free(path);
		return ret;
	}
	if (stamped_r != NULL) {
		/* A file we just created has never been stamped: its size stays 0
		   until the first stamp writes a byte. */
		*stamped_r = st.st_size > 0 ? (int64_t)st.st_mtime : 0;
	}
	struct store_lock *lock = xcalloc(1, sizeof(*lock));
	lock->fd = fd;
	lock->path = path;
	*lock_r = lock;
	return STORE_OK;
}

int store_lock_stamp(struct store_lock *lock, char **error_r)
{
	/* The write sets the modification time and marks the file as stamped
	   (size 1); rewriting the same byte keeps it at that size. */
	if (pwrite(lock->fd, "L", 1, 0) != 1 || futimens(lock->fd, NULL) < 0)
		return store_sys_error("cannot stamp", lock->path, error_r);
	return STORE_OK;
}

void store_lock_release(struct store_lock **lockp)
{
	struct store_lock *lock = *lockp;
	if (lock == NULL)
		return;
	*lockp = NULL;
	close(lock->fd); /* drops the flock */
	free(lock->path);
	free(lock);
}
