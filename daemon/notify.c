#include "daemon/notify.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "daemon/log.h"
#include "daemon/loop.h"

static int notify_fd = -1;
static struct sockaddr_un notify_addr;
static socklen_t notify_addrlen;
static int64_t watchdog_ms;
static struct loop_timer watchdog_timer;
static struct log_cond send_cond;

static void watchdog_tick(void *arg)
{
	(void)arg;
	/* Sent from a loop timer, so it stops when the loop hangs: that is
	 * what lets systemd's watchdog catch a stuck daemon. */
	notify_send("WATCHDOG=1");
	loop_timer_arm(&watchdog_timer, watchdog_ms / 2);
}

bool notify_init(void)
{
	const char *path = getenv("NOTIFY_SOCKET");
	const char *usec = getenv("WATCHDOG_USEC");
	const char *wpid = getenv("WATCHDOG_PID");
	size_t n;

	if (!path || (path[0] != '/' && path[0] != '@'))
		return false;
	n = strlen(path);
	if (n >= sizeof notify_addr.sun_path) {
		log_msg(LOG_WARNING, "notify: NOTIFY_SOCKET path too long; not notifying systemd");
		return false;
	}
	notify_addr.sun_family = AF_UNIX;
	memcpy(notify_addr.sun_path, path, n);
	if (path[0] == '@')
		notify_addr.sun_path[0] = '\0'; /* abstract namespace */
	notify_addrlen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
	notify_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (notify_fd < 0) {
		log_msg(LOG_WARNING, "notify: socket: %s", strerror(errno));
		return false;
	}
	if (usec && (!wpid || strtol(wpid, NULL, 10) == (long)getpid())) {
		long long us = strtoll(usec, NULL, 10);
		if (us > 0) {
			watchdog_ms = us / 1000 > 0 ? us / 1000 : 1;
			loop_timer_init(&watchdog_timer, watchdog_tick, NULL);
			loop_timer_arm(&watchdog_timer, watchdog_ms / 2);
		}
	}
	return true;
}

int notify_send(const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	if (notify_fd < 0)
		return 0;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	ssize_t n = sendto(notify_fd, msg, strlen(msg), MSG_DONTWAIT | MSG_NOSIGNAL,
			   (struct sockaddr *)&notify_addr, notify_addrlen);
	if (n < 0) {
		log_cond(&send_cond, errno, LOG_WARNING, "notify: cannot reach systemd: %s",
			 strerror(errno));
		return -1;
	}
	log_cond(&send_cond, 0, LOG_NOTICE, "notify: reaching systemd again");
	return 0;
}

int64_t notify_watchdog_ms(void)
{
	return watchdog_ms;
}

void notify_close(void)
{
	loop_timer_cancel(&watchdog_timer);
	if (notify_fd >= 0)
		close(notify_fd);
	notify_fd = -1;
	watchdog_ms = 0;
}
