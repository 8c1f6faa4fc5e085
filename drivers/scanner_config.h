/* The "scanner" section of the config: what the config parser fills and
 * the scanner driver takes, with the ranges both check, in a header of
 * its own so that daemon/config.h needs none of the driver. Keys and
 * units: drivers/DRIVERS.md. */
#ifndef SWAPD_SCANNER_CONFIG_H
#define SWAPD_SCANNER_CONFIG_H

#include <stdbool.h>

/* The ranges of the keys below: the config refuses a value outside them
 * with the key's name, and scanner_open() refuses it from any caller. */
#define SCANNER_BAUD_MIN 1200
#define SCANNER_BAUD_MAX 230400
#define SCANNER_DEDUP_MS_MIN 0
#define SCANNER_DEDUP_MS_MAX 60000
#define SCANNER_RECONNECT_MS_MIN 100
#define SCANNER_RECONNECT_MS_MAX 60000

struct scanner_config {
	bool enabled;       /* the "scanner" section is there */
	char backend[16];    /* "serialport" (libserialport) or "tty" (termios, also a pty) */
	char device[256];    /* e.g. /dev/serial/by-id/usb-...; need not exist yet */
	int baud;            /* 1200..230400; USB-CDC ignores it */
	int dedup_ms;        /* an identical line within this of the last one is a repeat */
	int reconnect_ms;    /* first retry after the device went away; doubles to 30 s */
};

#endif
