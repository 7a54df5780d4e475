/*
 * Small file I/O helpers shared by the daemons.
 */
#ifndef PETREL_COMMON_FILEIO_H
#define PETREL_COMMON_FILEIO_H

#include <stddef.h>
#include <stdint.h>

/* Reads exactly len bytes at offset, retrying short reads and EINTR.
   Returns 0, or -1 on an error or when the file ends first (errno is then
   unchanged from the last call, or 0 for the early end). */
int pread_exact(int fd, uint64_t offset, void *out, size_t len);

#endif
