/* Reading a whole small file (a config, a register profile, a key file)
 * with the checks each of them needs, in one place. */
#ifndef SWAPD_FILEIO_H
#define SWAPD_FILEIO_H

#include <stddef.h>

/* Opens path read-only without ever waiting (O_NONBLOCK, so a FIFO at the
 * path cannot block the caller) and keeps it only if it is a regular file;
 * -1 with "PATH: cannot open: REASON" or "PATH: not a regular file" in why. */
int fileio_open(const char *path, char *why, size_t whylen);

/* Reads the regular file open on fd, of at most max bytes, into a new
 * NUL-terminated buffer (*text, *len; free() it). Returns 0, or -1 with a
 * reason naming path in why (never any of the content). On failure nothing
 * stays allocated and what was read is wiped first, since it may have been
 * a key file. fd stays open. */
int fileio_read(int fd, const char *path, size_t max, char **text, size_t *len, char *why,
		size_t whylen);

/* fileio_open() and fileio_read() in one, closing the file again. */
int fileio_load(const char *path, size_t max, char **text, size_t *len, char *why, size_t whylen);

#endif
