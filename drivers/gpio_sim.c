/* The simulated GPIO chip: a UNIX datagram socket, so that tests and demos
 * outside the process can play the hardware (drivers/DRIVERS.md, "The
 * simulated chip"). It keeps every line's electrical level; a datagram
 * "door-3=1" sets an input's level and, when it changed, calls the same
 * edge function a real event fd would. Every change of an output is sent
 * as "out lock-3=0" to the last address a datagram came from; "?" is
 * answered with "state NAME=LEVEL ...". "door-3=fail" makes a line's reads
 * and writes fail (EIO) until "door-3=ok", as a chip that went away would. */
#include "drivers/gpio_backend.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "daemon/log.h"
#include "daemon/loop.h"

#define SIM_DGRAM_MAX 2048

struct gpio_chip {
	int fd;
	struct sockaddr_un path;
	struct sockaddr_un peer;
	socklen_t peer_len;          /* 0: nobody to tell yet */
	struct gpio_line_config lines[GPIO_MAX_LINES];
	int level[GPIO_MAX_LINES];   /* electrical, as on the pin */
	bool failed[GPIO_MAX_LINES]; /* "NAME=fail": reads and writes fail */
	size_t n;
	gpio_edge_fn edge;
	void *arg;
	struct log_cond bad_cond;
};

/* Best effort: a test that stopped listening must not disturb the daemon. */
static void tell(struct gpio_chip *c, const char *text)
{
	if (c->peer_len == 0)
		return;
	sendto(c->fd, text, strlen(text), MSG_DONTWAIT | MSG_NOSIGNAL,
	       (const struct sockaddr *)&c->peer, c->peer_len);
}

static void reply_state(struct gpio_chip *c)
{
	char buf[SIM_DGRAM_MAX];
	size_t len = (size_t)snprintf(buf, sizeof buf, "state");

	for (size_t i = 0; i < c->n && len < sizeof buf; i++)
		len += (size_t)snprintf(buf + len, sizeof buf - len, " %s=%d", c->lines[i].name,
					c->level[i]);
	tell(c, buf);
}

static void bad_request(struct gpio_chip *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void bad_request(struct gpio_chip *c, const char *fmt, ...)
{
	char buf[256];
	int len = snprintf(buf, sizeof buf, "error ");
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf + len, sizeof buf - (size_t)len, fmt, ap);
	va_end(ap);
	log_cond(&c->bad_cond, 1, LOG_WARNING, "gpio sim: %s", buf + len);
	tell(c, buf);
}

/* One word of a request: "?", NAME=LEVEL for an input, or NAME=fail and
 * NAME=ok for any line. A failing or mended input counts as an edge, so
 * the driver reads it at once, as it would after a real event. */
static void apply(struct gpio_chip *c, char *word)
{
	if (strcmp(word, "?") == 0) {
		reply_state(c);
		return;
	}
	char *eq = strchr(word, '=');
	bool fault = eq && (strcmp(eq + 1, "fail") == 0 || strcmp(eq + 1, "ok") == 0);
	if (!eq || (!fault && strcmp(eq + 1, "0") != 0 && strcmp(eq + 1, "1") != 0)) {
		bad_request(c, "\"%.64s\" is not NAME=0, NAME=1, NAME=fail, NAME=ok or ?", word);
		return;
	}
	*eq = '\0';
	for (size_t i = 0; i < c->n; i++) {
		if (strcmp(c->lines[i].name, word) != 0)
			continue;
		if (fault) {
			c->failed[i] = eq[1] == 'f';
			if (!gpio_role_is_output(c->lines[i].role))
				c->edge(i, c->arg);
			return;
		}
		if (gpio_role_is_output(c->lines[i].role)) {
			bad_request(c, "line \"%.64s\" is an output", word);
			return;
		}
		int v = eq[1] - '0';
		if (c->level[i] != v) {
			c->level[i] = v;
			c->edge(i, c->arg);
		}
		return;
	}
	bad_request(c, "no line \"%.64s\"", word);
}

static void on_datagram(int fd, short revents, void *arg)
{
	struct gpio_chip *c = arg;
	char buf[SIM_DGRAM_MAX + 1];
	struct sockaddr_un from;
	socklen_t flen = sizeof from;

	(void)revents;
	ssize_t n = recvfrom(fd, buf, SIM_DGRAM_MAX, MSG_TRUNC, (struct sockaddr *)&from, &flen);
	if (n < 0)
		return;
	/* an unbound sender has no address to answer */
	if (flen > sizeof(sa_family_t)) {
		c->peer = from;
		c->peer_len = flen;
	}
	if (n > SIM_DGRAM_MAX) {
		bad_request(c, "datagram longer than %d bytes", SIM_DGRAM_MAX);
		return;
	}
	buf[n] = '\0';
	for (char *save, *w = strtok_r(buf, " \t\r\n", &save); w; w = strtok_r(NULL, " \t\r\n", &save))
		apply(c, w);
}

static enum sw_err sim_open(const char *chip, const struct gpio_line_config *lines, const int *init,
			    size_t n, gpio_edge_fn edge, void *arg, struct gpio_chip **out, char *why,
			    size_t whylen)
{
	struct gpio_chip *c = calloc(1, sizeof *c);
	struct stat st;

	if (!c) {
		snprintf(why, whylen, "gpio chip sim:%s: out of memory", chip);
		return SW_ENOMEM;
	}
	if (strlen(chip) >= sizeof c->path.sun_path) {
		snprintf(why, whylen, "gpio chip sim:%s: path too long for a socket", chip);
		free(c);
		return SW_EINVAL;
	}
	c->path.sun_family = AF_UNIX;
	strcpy(c->path.sun_path, chip);
	c->edge = edge;
	c->arg = arg;
	c->n = n;
	for (size_t i = 0; i < n; i++) {
		c->lines[i] = lines[i];
		/* inputs start as a quiet station's: doors shut, stop
		 * released, mains present */
		int logical = gpio_role_is_output(lines[i].role) ? init[i] : lines[i].role == GPIO_POWER;
		c->level[i] = logical ^ lines[i].active_low;
	}
	c->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0) {
		snprintf(why, whylen, "gpio chip sim:%s: socket: %s", chip, strerror(errno));
		free(c);
		return SW_EIO;
	}
	/* a socket left by a previous run is ours to replace; anything else
	 * at that path is not */
	if (lstat(chip, &st) == 0 && S_ISSOCK(st.st_mode))
		unlink(chip);
	if (bind(c->fd, (const struct sockaddr *)&c->path, sizeof c->path) < 0 ||
	    loop_add_fd(c->fd, POLLIN, on_datagram, c) < 0) {
		int e = errno;
		snprintf(why, whylen, "gpio chip sim:%s: cannot bind: %s", chip, strerror(e));
		close(c->fd);
		free(c);
		return sw_from_errno(e);
	}
	*out = c;
	return SW_OK;
}

static int sim_get(struct gpio_chip *c, size_t i)
{
	if (c->failed[i]) {
		errno = EIO;
		return -1;
	}
	return c->level[i] ^ c->lines[i].active_low;
}

static int sim_set(struct gpio_chip *c, size_t i, int v)
{
	char buf[GPIO_NAME_MAX + 16];
	int level = v ^ c->lines[i].active_low;

	if (c->failed[i]) {
		errno = EIO;
		return -1;
	}
	if (c->level[i] == level)
		return 0;
	c->level[i] = level;
	snprintf(buf, sizeof buf, "out %s=%d", c->lines[i].name, level);
	tell(c, buf);
	return 0;
}

static void sim_close(struct gpio_chip *c)
{
	loop_del_fd(c->fd);
	close(c->fd);
	unlink(c->path.sun_path);
	free(c);
}

const struct gpio_backend gpio_backend_sim = {
	.name = "sim",
	.open = sim_open,
	.get = sim_get,
	.set = sim_set,
	.close = sim_close,
};
