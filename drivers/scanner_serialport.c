/* Scanner backend on libserialport: real serial and USB-CDC ports, which it
 * finds through sysfs and configures portably. Only this file includes
 * libserialport.h. */
#include "drivers/scanner_backend.h"

#include <errno.h>
#include <fcntl.h>
#include <libserialport.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct scanner_port {
	struct sp_port *sp;
	int fd;
};

/* Writes "device: what: libserialport's reason" and maps errno. */
static enum sw_err sp_fail(const char *device, const char *what, char *why, size_t whylen)
{
	int e = errno;
	char *msg = sp_last_error_message();

	snprintf(why, whylen, "%s: %s: %s", device, what, msg ? msg : "unknown error");
	sp_free_error_message(msg);
	return sw_from_errno(e);
}

static enum sw_err serialport_open(const char *device, int baud, struct scanner_port **out,
				   char *why, size_t whylen)
{
	char real[PATH_MAX];
	struct sp_port *sp;
	int fd;

	/* libserialport looks the name up in sysfs under /dev/NAME, so a
	 * /dev/serial/by-id link must be resolved first. */
	if (!realpath(device, real)) {
		int e = errno;
		snprintf(why, whylen, "%s: %s", device, strerror(e));
		return sw_from_errno(e);
	}
	if (sp_get_port_by_name(real, &sp) != SP_OK) {
		snprintf(why, whylen, "%s: not a serial port the kernel lists (a pty needs backend tty)",
			 device);
		return SW_EINVAL;
	}
	if (sp_open(sp, SP_MODE_READ) != SP_OK) {
		enum sw_err e = sp_fail(device, "cannot open", why, whylen);
		sp_free_port(sp);
		return e;
	}
	if (sp_set_baudrate(sp, baud) != SP_OK || sp_set_bits(sp, 8) != SP_OK ||
	    sp_set_parity(sp, SP_PARITY_NONE) != SP_OK || sp_set_stopbits(sp, 1) != SP_OK ||
	    sp_set_flowcontrol(sp, SP_FLOWCONTROL_NONE) != SP_OK ||
	    sp_get_port_handle(sp, &fd) != SP_OK) {
		enum sw_err e = sp_fail(device, "cannot configure", why, whylen);
		sp_close(sp);
		sp_free_port(sp);
		return e;
	}
	/* libserialport may leave the fd blocking; the loop must never wait. */
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	struct scanner_port *p = malloc(sizeof *p);
	if (!p) {
		snprintf(why, whylen, "%s: out of memory", device);
		sp_close(sp);
		sp_free_port(sp);
		return SW_ENOMEM;
	}
	p->sp = sp;
	p->fd = fd;
	*out = p;
	return SW_OK;
}

static int serialport_fd(const struct scanner_port *p)
{
	return p->fd;
}

static ssize_t serialport_read(struct scanner_port *p, void *buf, size_t len)
{
	/* 0 means "nothing now" (EAGAIN); a hangup shows as POLLHUP, which
	 * scanner.c treats as gone. */
	int n = sp_nonblocking_read(p->sp, buf, len);

	return n < 0 ? -1 : (ssize_t)n;
}

static void serialport_close(struct scanner_port *p)
{
	sp_close(p->sp);
	sp_free_port(p->sp);
	free(p);
}

const struct scanner_backend scanner_backend_serialport = {
	.name = "serialport",
	.open = serialport_open,
	.fd = serialport_fd,
	.read = serialport_read,
	.close = serialport_close,
};
