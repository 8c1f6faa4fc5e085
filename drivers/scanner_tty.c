/* Scanner backend on plain termios: any tty the kernel gives, including a
 * pseudo-terminal, which libserialport refuses (it wants a sysfs entry and
 * modem-control ioctls). Tests and simulations feed the scanner through a
 * pty with this backend; the line handling above it is the same. */
#include "drivers/scanner_backend.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

struct scanner_port {
	int fd;
};

static speed_t tty_speed(int baud)
{
	switch (baud) {
	case 1200: return B1200;
	case 2400: return B2400;
	case 4800: return B4800;
	case 19200: return B19200;
	case 38400: return B38400;
	case 57600: return B57600;
	case 115200: return B115200;
	case 230400: return B230400;
	default: return B9600;
	}
}

static enum sw_err tty_open(const char *device, int baud, struct scanner_port **out, char *why,
			    size_t whylen)
{
	struct termios t;
	/* O_NOCTTY: a scanner must never become our controlling terminal. */
	int fd = open(device, O_RDONLY | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);

	if (fd < 0) {
		int e = errno; /* snprintf may change it */
		snprintf(why, whylen, "%s: %s", device, strerror(e));
		return sw_from_errno(e);
	}
	if (tcgetattr(fd, &t) < 0) {
		int e = errno;
		snprintf(why, whylen, "%s: not a tty: %s", device, strerror(e));
		close(fd);
		return e == ENOTTY ? SW_EINVAL : sw_from_errno(e);
	}
	cfmakeraw(&t);
	t.c_cflag |= CLOCAL | CREAD;
	t.c_cc[VMIN] = 1;
	t.c_cc[VTIME] = 0;
	cfsetispeed(&t, tty_speed(baud));
	cfsetospeed(&t, tty_speed(baud));
	/* TCSANOW, not TCSAFLUSH: a code scanned while we were reopening is
	 * still a scan. */
	if (tcsetattr(fd, TCSANOW, &t) < 0) {
		int e = errno;
		snprintf(why, whylen, "%s: cannot set raw mode: %s", device, strerror(e));
		close(fd);
		return sw_from_errno(e);
	}
	struct scanner_port *p = malloc(sizeof *p);
	if (!p) {
		snprintf(why, whylen, "%s: out of memory", device);
		close(fd);
		return SW_ENOMEM;
	}
	p->fd = fd;
	*out = p;
	return SW_OK;
}

static int tty_fd(const struct scanner_port *p)
{
	return p->fd;
}

static ssize_t tty_read(struct scanner_port *p, void *buf, size_t len)
{
	ssize_t n = read(p->fd, buf, len);

	if (n > 0)
		return n;
	if (n == 0) {
		/* end of file on a tty: the other side hung up */
		errno = EIO;
		return -1;
	}
	if (errno == EAGAIN || errno == EINTR)
		return 0;
	return -1;
}

static void tty_close(struct scanner_port *p)
{
	close(p->fd);
	free(p);
}

const struct scanner_backend scanner_backend_tty = {
	.name = "tty",
	.open = tty_open,
	.fd = tty_fd,
	.read = tty_read,
	.close = tty_close,
};
