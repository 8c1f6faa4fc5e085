#include "drivers/scanner.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "daemon/health.h"
#include "daemon/log.h"
#include "daemon/loop.h"
#include "drivers/scanner_backend.h"
#include "drivers/serial_baud.h"

#define BACKOFF_MAX_MS 30000
/* The bucket counts in milliseconds of credit: a line costs this much. */
#define LINE_COST_MS (1000 / SCANNER_RATE_PER_S)
/* Reads per wakeup: a device that floods us still lets the loop turn. */
#define READS_PER_WAKEUP 8

/* log_cond states of the device and of the input */
enum { DEV_OK, DEV_CANNOT_OPEN, DEV_LOST };
enum { INPUT_OK, INPUT_TOO_LONG, INPUT_UNPRINTABLE };

static const struct scanner_backend *const backends[] = {
	&scanner_backend_serialport,
	&scanner_backend_tty,
};

static struct {
	struct scanner_config cfg;
	const struct scanner_backend *be;
	struct scanner_port *port; /* NULL while disconnected */
	int fd;
	scanner_line_fn on_line;
	void *arg;
	char line[SCANNER_LINE_MAX + 1];
	size_t len;
	bool discarding;           /* over-long line: dropping up to its CR/LF */
	char last[SCANNER_LINE_MAX];
	size_t last_len;
	int64_t last_at;           /* monotonic ms the last line was seen */
	int64_t credit_ms;         /* the rate's token bucket, see take_credit() */
	int64_t credit_at;         /* loop_now() it was last topped up */
	struct loop_timer retry;
	int backoff_ms;
	unsigned gen;              /* changes on every connect and disconnect */
	struct log_cond dev_cond, input_cond, rate_cond;
	struct scanner_stats st;
	bool open;
} sc;

static const struct scanner_backend *find_backend(const char *name)
{
	for (size_t i = 0; i < sizeof backends / sizeof backends[0]; i++)
		if (strcmp(backends[i]->name, name) == 0)
			return backends[i];
	return NULL;
}

/* Whether one more line may be passed on now: a token bucket on the loop
 * clock, so a flood costs a comparison per line, not a verification and a
 * store write. Lines over the rate are counted, and logged when it starts
 * and then in summaries (never "back under the rate": under a flood that
 * would log every line that passes). */
static bool take_credit(int64_t now)
{
	sc.credit_ms += now - sc.credit_at;
	sc.credit_at = now;
	if (sc.credit_ms > SCANNER_BURST * LINE_COST_MS)
		sc.credit_ms = SCANNER_BURST * LINE_COST_MS;
	if (sc.credit_ms >= LINE_COST_MS) {
		sc.credit_ms -= LINE_COST_MS;
		return true;
	}
	sc.st.rate_limited++;
	log_cond(&sc.rate_cond, 1, LOG_WARNING,
		 "scanner: more than %d lines a second; dropping the lines over that (is the scanner stuck?)",
		 SCANNER_RATE_PER_S);
	return false;
}

/* An over-long or non-printable line ended: the caller hears of it, within
 * the rate, without its bytes. */
static void unreadable(void)
{
	sc.len = 0;
	sc.discarding = false;
	if (take_credit(loop_now()))
		sc.on_line(NULL, 0, sc.arg);
}

static void end_line(void)
{
	int64_t now = loop_now();

	if (sc.discarding) {
		unreadable(); /* the end of an over-long line */
		return;
	}
	if (sc.len == 0)
		return; /* the LF of a CRLF */
	for (size_t i = 0; i < sc.len; i++) {
		unsigned char c = (unsigned char)sc.line[i];
		if (c < 0x20 || c > 0x7e) {
			sc.st.unprintable++;
			log_cond(&sc.input_cond, INPUT_UNPRINTABLE, LOG_WARNING,
				 "scanner: dropped a line with byte 0x%02x at offset %zu (only printable ASCII is a scan)",
				 c, i);
			unreadable();
			return;
		}
	}
	/* A code held in front of the scanner repeats for as long as it is
	 * there; the window slides with each repeat so that is one scan.
	 * Repeats cost no credit. */
	bool repeat = sc.len == sc.last_len && memcmp(sc.line, sc.last, sc.len) == 0 &&
		      now - sc.last_at < sc.cfg.dedup_ms;
	if (repeat) {
		sc.last_at = now;
		sc.st.repeats++;
		sc.len = 0;
		return;
	}
	/* A line dropped here does not become the last one: a code held in
	 * view through a flood gets through once there is credit again. */
	if (!take_credit(now)) {
		sc.len = 0;
		return;
	}
	sc.last_at = now;
	memcpy(sc.last, sc.line, sc.len);
	sc.last_len = sc.len;
	sc.line[sc.len] = '\0';
	size_t len = sc.len;
	sc.len = 0;
	sc.st.lines++;
	sc.on_line(sc.line, len, sc.arg);
}

/* Returns false when a callback closed or reconnected the scanner, so the
 * rest of the buffer belongs to nobody. */
static bool feed(const char *buf, size_t n)
{
	unsigned gen = sc.gen;

	for (size_t i = 0; i < n; i++) {
		char c = buf[i];
		if (c == '\r' || c == '\n') {
			end_line();
			if (!sc.open || sc.gen != gen)
				return false;
			continue;
		}
		if (sc.discarding)
			continue;
		if (sc.len == SCANNER_LINE_MAX) {
			sc.discarding = true;
			sc.len = 0;
			sc.st.too_long++;
			log_cond(&sc.input_cond, INPUT_TOO_LONG, LOG_WARNING,
				 "scanner: dropped a line longer than %d bytes", SCANNER_LINE_MAX);
			continue;
		}
		sc.line[sc.len++] = c;
	}
	return true;
}

static void try_connect(void *arg);

static void disconnect(const char *reason)
{
	loop_del_fd(sc.fd);
	sc.be->close(sc.port);
	sc.port = NULL;
	sc.fd = -1;
	sc.gen++;
	sc.len = 0;
	sc.discarding = false;
	sc.st.disconnects++;
	sc.st.connected = false;
	log_cond(&sc.dev_cond, DEV_LOST, LOG_WARNING, "scanner: %s went away (%s); reopening",
		 sc.cfg.device, reason);
	health_set("scanner", HEALTH_FAILED, "%s went away: %s", sc.cfg.device, reason);
	sc.backoff_ms = sc.cfg.reconnect_ms;
	loop_timer_arm(&sc.retry, sc.backoff_ms);
}

static void on_readable(int fd, short revents, void *arg)
{
	char buf[256];

	(void)fd;
	(void)arg;
	for (int i = 0; i < READS_PER_WAKEUP; i++) {
		ssize_t n = sc.be->read(sc.port, buf, sizeof buf);
		if (n < 0) {
			disconnect(strerror(errno));
			return;
		}
		if (n == 0)
			break;
		if (!feed(buf, (size_t)n))
			return;
	}
	/* Everything readable was read above; a hangup or error left over
	 * would wake us forever. */
	if (revents & (POLLHUP | POLLERR | POLLNVAL))
		disconnect(revents & POLLHUP ? "hangup" : "error");
}

static void try_connect(void *arg)
{
	char why[300];

	(void)arg;
	enum sw_err e = sc.be->open(sc.cfg.device, sc.cfg.baud, &sc.port, why, sizeof why);
	if (e == SW_OK) {
		sc.fd = sc.be->fd(sc.port);
		if (loop_add_fd(sc.fd, POLLIN, on_readable, NULL) == 0) {
			sc.gen++;
			sc.st.connected = true;
			sc.backoff_ms = sc.cfg.reconnect_ms;
			if (!log_cond(&sc.dev_cond, DEV_OK, LOG_NOTICE, "scanner: %s open", sc.cfg.device))
				log_msg(LOG_INFO, "scanner: reading %s (%s)", sc.cfg.device, sc.be->name);
			health_set("scanner", HEALTH_OK, "%s", sc.cfg.device);
			return;
		}
		sc.be->close(sc.port);
		sc.port = NULL;
		snprintf(why, sizeof why, "%s: cannot watch its fd", sc.cfg.device);
	}
	log_cond(&sc.dev_cond, DEV_CANNOT_OPEN, LOG_WARNING, "scanner: %s; retrying", why);
	health_set("scanner", HEALTH_FAILED, "%s", why);
	loop_timer_arm(&sc.retry, sc.backoff_ms);
	/* doubling stops at 30 s, or at reconnect_ms when that is longer */
	if (sc.backoff_ms < BACKOFF_MAX_MS)
		sc.backoff_ms = sc.backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : sc.backoff_ms * 2;
}

enum sw_err scanner_open(const struct scanner_config *cfg, scanner_line_fn on_line, void *arg,
			 char *why, size_t whylen)
{
	const struct scanner_backend *be = find_backend(cfg->backend);

	if (sc.open) {
		snprintf(why, whylen, "scanner already open");
		return SW_EBUSY;
	}
	if (!be) {
		snprintf(why, whylen, "scanner.backend: \"%s\" is not serialport or tty", cfg->backend);
		return SW_EINVAL;
	}
	if (cfg->device[0] == '\0') {
		snprintf(why, whylen, "scanner.device: empty");
		return SW_EINVAL;
	}
	if (!serial_baud_standard(cfg->baud)) {
		snprintf(why, whylen, "scanner.baud: %d is not a standard rate %d..%d", cfg->baud,
			 SCANNER_BAUD_MIN, SCANNER_BAUD_MAX);
		return SW_EINVAL;
	}
	if (cfg->dedup_ms < SCANNER_DEDUP_MS_MIN || cfg->dedup_ms > SCANNER_DEDUP_MS_MAX) {
		snprintf(why, whylen, "scanner.dedup_ms: %d is out of range %d..%d", cfg->dedup_ms,
			 SCANNER_DEDUP_MS_MIN, SCANNER_DEDUP_MS_MAX);
		return SW_EINVAL;
	}
	if (cfg->reconnect_ms < SCANNER_RECONNECT_MS_MIN ||
	    cfg->reconnect_ms > SCANNER_RECONNECT_MS_MAX) {
		snprintf(why, whylen, "scanner.reconnect_ms: %d is out of range %d..%d",
			 cfg->reconnect_ms, SCANNER_RECONNECT_MS_MIN, SCANNER_RECONNECT_MS_MAX);
		return SW_EINVAL;
	}
	memset(&sc, 0, sizeof sc);
	sc.cfg = *cfg;
	sc.be = be;
	sc.fd = -1;
	sc.on_line = on_line;
	sc.arg = arg;
	sc.backoff_ms = cfg->reconnect_ms;
	sc.credit_ms = SCANNER_BURST * LINE_COST_MS;
	sc.credit_at = loop_now();
	sc.open = true;
	loop_timer_init(&sc.retry, try_connect, NULL);
	try_connect(NULL);
	return SW_OK;
}

void scanner_stats(struct scanner_stats *out)
{
	*out = sc.st;
}

void scanner_close(void)
{
	if (!sc.open)
		return;
	loop_timer_cancel(&sc.retry);
	if (sc.port) {
		loop_del_fd(sc.fd);
		sc.be->close(sc.port);
	}
	health_set("scanner", HEALTH_DISABLED, "closed");
	memset(&sc, 0, sizeof sc);
}
