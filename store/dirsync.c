/*
 * Directory fsyncs run beside other work: a delivery's commit makes its
 * folders' cur/ durable on a helper thread while the index commits (two
 * syncs of its own), so the commit waits for the slower of the two
 * instead of their sum. A commit is one of the few things concurrent
 * deliveries all wait for, one after another.
 */
#include <errno.h>
#include <stdlib.h>

#include "common/xalloc.h"
#include "store/internal.h"

static void *dir_sync_run(void *arg)
{
	struct dir_sync *ds = arg;
	for (size_t i = 0; i < ds->count; i++) {
		if (fsync_dir(ds->paths[i]) < 0 && ds->failed == NULL) {
			ds->error = errno;
			ds->failed = ds->paths[i];
		}
	}
	return NULL;
}

void dir_sync_start(struct dir_sync *ds, char **paths, size_t count)
{
	ds->paths = paths;
	ds->count = count;
	ds->failed = NULL;
	ds->error = 0;
	pthread_attr_t attr;
	ds->started = count > 0 && pthread_attr_init(&attr) == 0;
	if (ds->started) {
		pthread_attr_setstacksize(&attr, 256 * 1024); /* it calls open and fsync only */
		ds->started = pthread_create(&ds->thread, &attr, dir_sync_run, ds) == 0;
		pthread_attr_destroy(&attr);
	}
}

int dir_sync_finish(struct dir_sync *ds, char **error_r)
{
	if (ds->started)
		pthread_join(ds->thread, NULL);
	else
		dir_sync_run(ds); /* no thread: in line, after the rest */
	ds->started = false;
	if (ds->failed == NULL)
		return STORE_OK;
	errno = ds->error;
	return store_sys_error("cannot fsync", ds->failed, error_r);
}
