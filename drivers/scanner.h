/* The kiosk's QR scanner on a serial line (USB-CDC or RS-232). Scanners send
 * one code per line, ended by CR, LF or CRLF. The driver reads from the loop
 * without ever blocking, hands each complete printable line to its caller
 * once (a code held in front of the scanner repeats; those repeats are one
 * scan), reports over-long and non-printable lines as unreadable with one
 * log line, passes at most a kiosk's rate of lines on (the rest are counted
 * and dropped), and reopens the device with backoff when it goes away, as
 * USB adapters do. */
#ifndef SWAPD_SCANNER_H
#define SWAPD_SCANNER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "daemon/err.h"
#include "drivers/scanner_config.h"

/* The longest line delivered; longer ones are dropped up to their CR/LF.
 * A token (token.md) is far shorter. */
#define SCANNER_LINE_MAX 512

/* The rate of lines passed on: a token bucket of SCANNER_BURST lines,
 * refilled at SCANNER_RATE_PER_S. A person presents a code every second or
 * two; a scanner sending faster is stuck or hostile, and each line passed on
 * costs a verification and a synced store write. */
#define SCANNER_RATE_PER_S 4
#define SCANNER_BURST 5


struct scanner_stats {
	uint64_t lines;       /* delivered */
	uint64_t repeats;     /* identical lines within dedup_ms, not delivered */
	uint64_t too_long;    /* lines over SCANNER_LINE_MAX, dropped */
	uint64_t unprintable; /* lines with a byte outside 0x20..0x7e, dropped */
	uint64_t rate_limited; /* lines (readable or not) over the rate, dropped */
	uint64_t disconnects; /* times the open device went away */
	bool connected;
};

/* Called from the loop with each delivered line: NUL-terminated, without
 * its CR/LF, 1..SCANNER_LINE_MAX bytes, all printable ASCII. An unreadable
 * line (over-long, or with a byte that is not printable ASCII) comes as line
 * NULL and len 0, so that the kiosk can ask for the code again; its bytes
 * are never passed on. Both count against the rate. It may call
 * scanner_close(). */
typedef void (*scanner_line_fn)(const char *line, size_t len, void *arg);

/* Validates cfg and starts reading cfg->device from the loop. SW_EINVAL
 * with a reason in why for a bad config, SW_EBUSY if already open. A device
 * that cannot be opened is not an error here: it is retried with backoff,
 * logged once, and shown in the "scanner" health. */
enum sw_err scanner_open(const struct scanner_config *cfg, scanner_line_fn on_line, void *arg,
			 char *why, size_t whylen);

/* Counters and whether the device is open now. */
void scanner_stats(struct scanner_stats *out);

/* Stops reading and closes the device; a partial line is dropped. Safe to
 * call when not open. */
void scanner_close(void);

#endif
