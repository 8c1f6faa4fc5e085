/* The sd_notify protocol (sd_notify(3)): one datagram of "KEY=VALUE" lines to
 * the AF_UNIX socket named by $NOTIFY_SOCKET. Written here rather than linking
 * libsystemd for four messages; a test binds the socket and reads them.
 * Without $NOTIFY_SOCKET (not under systemd) every call does nothing. */
#ifndef SWAPD_NOTIFY_H
#define SWAPD_NOTIFY_H

#include <stdbool.h>
#include <stdint.h>

/* Reads $NOTIFY_SOCKET and the watchdog settings ($WATCHDOG_USEC, for us if
 * $WATCHDOG_PID is unset or ours) and, when a watchdog is asked for, arms a
 * loop timer that sends WATCHDOG=1 at half the interval. Returns whether
 * systemd is listening. */
bool notify_init(void);

/* Sends one datagram (lines joined by '\n'); never blocks. Returns 0 or -1. */
int notify_send(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The watchdog interval systemd asked for, in ms (0: none). */
int64_t notify_watchdog_ms(void);

/* Stops the watchdog timer and closes the socket. */
void notify_close(void);

#endif
