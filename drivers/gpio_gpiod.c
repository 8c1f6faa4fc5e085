/* GPIO backend on libgpiod 1.6 (Debian 12), the kernel's character device
 * API. Reading and driving a line is one ioctl; input edges come on one
 * event fd per line, which the loop watches. Only this file includes
 * gpiod.h. */
#include "drivers/gpio_backend.h"

#include <errno.h>
#include <fcntl.h>
#include <gpiod.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/loop.h"

struct gpiod_slot {
	struct gpio_chip *chip;
	size_t index;
	struct gpiod_line *line;
	int event_fd;              /* inputs; -1 for outputs or once it failed */
};

struct gpio_chip {
	struct gpiod_chip *chip;
	struct gpiod_slot lines[GPIO_MAX_LINES];
	size_t n;
	gpio_edge_fn edge;
	void *arg;
};

static bool is_offset(const char *name)
{
	return name[0] != '\0' && strspn(name, "0123456789") == strlen(name);
}

static void on_events(int fd, short revents, void *arg)
{
	struct gpiod_slot *s = arg;
	struct gpiod_line_event ev[16];

	(void)revents;
	int n = gpiod_line_event_read_fd_multiple(fd, ev, 16);
	if (n < 0 && errno == EAGAIN)
		return;
	if (n < 0) {
		/* The chip went away under us; stop watching rather than spin,
		 * and let gpio.c's read of the line report it. */
		loop_del_fd(fd);
		s->event_fd = -1;
	}
	s->chip->edge(s->index, s->chip->arg);
}

static void release(struct gpio_chip *c)
{
	for (size_t i = 0; i < c->n; i++) {
		if (c->lines[i].event_fd >= 0)
			loop_del_fd(c->lines[i].event_fd);
		gpiod_line_release(c->lines[i].line);
	}
	gpiod_chip_close(c->chip);
	free(c);
}

static enum sw_err request(struct gpio_chip *c, const struct gpio_line_config *lc, int init,
			   const char *chip, char *why, size_t whylen)
{
	struct gpiod_slot *s = &c->lines[c->n];
	bool output = gpio_role_is_output(lc->role);
	struct gpiod_line_request_config rc = {
		.consumer = "swapd",
		.request_type = output ? GPIOD_LINE_REQUEST_DIRECTION_OUTPUT
				       : GPIOD_LINE_REQUEST_EVENT_BOTH_EDGES,
		.flags = lc->active_low ? GPIOD_LINE_REQUEST_FLAG_ACTIVE_LOW : 0,
	};

	s->chip = c;
	s->index = c->n;
	s->event_fd = -1;
	s->line = is_offset(lc->name) ? gpiod_chip_get_line(c->chip, (unsigned)atoi(lc->name))
				      : gpiod_chip_find_line(c->chip, lc->name);
	if (!s->line) {
		int e = errno ? errno : ENOENT;
		snprintf(why, whylen, "gpio chip %s: no line \"%s\"%s%s", chip, lc->name,
			 e == ENOENT ? "" : ": ", e == ENOENT ? "" : strerror(e));
		return e == ENOENT || e == EINVAL ? SW_ENOENT : sw_from_errno(e);
	}
	if (gpiod_line_request(s->line, &rc, init) < 0) {
		int e = errno;
		snprintf(why, whylen, "gpio chip %s: cannot request line \"%s\": %s%s", chip, lc->name,
			 strerror(e), e == EBUSY ? " (used by another program)" : "");
		return sw_from_errno(e);
	}
	c->n++;
	if (output)
		return SW_OK;
	int fd = gpiod_line_event_get_fd(s->line);
	if (fd < 0 || fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0 ||
	    loop_add_fd(fd, POLLIN, on_events, s) < 0) {
		snprintf(why, whylen, "gpio chip %s: cannot watch line \"%s\"", chip, lc->name);
		return SW_EIO;
	}
	s->event_fd = fd;
	return SW_OK;
}

static enum sw_err gpiod_open(const char *chip, const struct gpio_line_config *lines,
			      const int *init, size_t n, gpio_edge_fn edge, void *arg,
			      struct gpio_chip **out, char *why, size_t whylen)
{
	struct gpio_chip *c = calloc(1, sizeof *c);

	if (!c) {
		snprintf(why, whylen, "gpio chip %s: out of memory", chip);
		return SW_ENOMEM;
	}
	c->edge = edge;
	c->arg = arg;
	errno = 0;
	c->chip = gpiod_chip_open_lookup(chip);
	if (!c->chip) {
		int e = errno ? errno : ENOENT;
		snprintf(why, whylen, "gpio chip %s: %s", chip,
			 e == ENOENT || e == ENODEV ? "no such chip" : strerror(e));
		free(c);
		return sw_from_errno(e);
	}
	for (size_t i = 0; i < n; i++) {
		errno = 0;
		enum sw_err e = request(c, &lines[i], init[i], chip, why, whylen);
		if (e != SW_OK) {
			release(c);
			return e;
		}
	}
	*out = c;
	return SW_OK;
}

static int gpiod_get(struct gpio_chip *c, size_t i)
{
	return gpiod_line_get_value(c->lines[i].line);
}

static int gpiod_set(struct gpio_chip *c, size_t i, int v)
{
	return gpiod_line_set_value(c->lines[i].line, v);
}

const struct gpio_backend gpio_backend_gpiod = {
	.name = "gpiod",
	.open = gpiod_open,
	.get = gpiod_get,
	.set = gpiod_set,
	.close = release,
};
