#include "daemon/fileio.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int fileio_open(const char *path, char *why, size_t whylen)
{
	/* O_NONBLOCK: opening a FIFO (or a tty) must not wait for a writer,
	 * which would hang the loop that reloads; O_NOCTTY: a tty put at the
	 * path must not become ours. Only a regular file gets further. */
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	struct stat st;

	if (fd < 0) {
		snprintf(why, whylen, "%s: cannot open: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		snprintf(why, whylen, "%s: not a regular file", path);
		close(fd);
		return -1;
	}
	return fd;
}

int fileio_load(const char *path, size_t max, char **text, size_t *len, char *why, size_t whylen)
{
	int fd = fileio_open(path, why, whylen);
	int rc;

	*text = NULL;
	*len = 0;
	if (fd < 0)
		return -1;
	rc = fileio_read(fd, path, max, text, len, why, whylen);
	close(fd);
	return rc;
}

int fileio_read(int fd, const char *path, size_t max, char **text, size_t *len, char *why,
		size_t whylen)
{
	struct stat st;
	size_t got = 0;
	char *buf;

	*text = NULL;
	*len = 0;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		snprintf(why, whylen, "%s: not a regular file", path);
		return -1;
	}
	if ((unsigned long long)st.st_size > max) {
		snprintf(why, whylen, "%s: %lld bytes is larger than the %zu accepted", path,
			 (long long)st.st_size, max);
		return -1;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (!buf) {
		snprintf(why, whylen, "%s: out of memory", path);
		return -1;
	}
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			snprintf(why, whylen, "%s: read error: %s", path, n ? strerror(errno) : "short read");
			explicit_bzero(buf, got);
			free(buf);
			return -1;
		}
		got += (size_t)n;
	}
	buf[got] = '\0';
	*text = buf;
	*len = got;
	return 0;
}
