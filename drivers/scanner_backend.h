/* What scanner.c needs from a way of reading a serial device: open it
 * non-blocking, give its fd for the loop, read what is there, close it.
 * Private to the scanner module; each backend lives in its own .c file, and
 * only that file includes its library's header. */
#ifndef SWAPD_SCANNER_BACKEND_H
#define SWAPD_SCANNER_BACKEND_H

#include <stddef.h>
#include <sys/types.h>

#include "daemon/err.h"

struct scanner_port; /* the backend's own */

struct scanner_backend {
	const char *name;
	/* Opens device at baud, 8N1, raw, non-blocking. On failure writes
	 * "device: reason" into why and returns SW_ENOENT, SW_EPERM, SW_EBUSY
	 * or SW_EIO; there is then nothing to close. */
	enum sw_err (*open)(const char *device, int baud, struct scanner_port **out, char *why,
			    size_t whylen);
	/* The fd to poll for POLLIN. */
	int (*fd)(const struct scanner_port *p);
	/* Reads at most len bytes: the count, 0 when nothing is there now, or
	 * -1 with errno set when the device is gone. */
	ssize_t (*read)(struct scanner_port *p, void *buf, size_t len);
	void (*close)(struct scanner_port *p);
};

extern const struct scanner_backend scanner_backend_serialport;
extern const struct scanner_backend scanner_backend_tty;

#endif
