/* What gpio.c needs from a GPIO chip: request named lines, read and drive
 * their logical levels (active_low already applied, as libgpiod does), and
 * report input edges from the loop. Private to the gpio module; each
 * backend lives in its own .c file and only that file includes its
 * library's header. */
#ifndef SWAPD_GPIO_BACKEND_H
#define SWAPD_GPIO_BACKEND_H

#include <stddef.h>

#include "daemon/err.h"
#include "drivers/gpio.h"

struct gpio_chip; /* the backend's own */

/* An input line's level may have changed; gpio.c debounces and reads it
 * later, so this never calls back into the backend. */
typedef void (*gpio_edge_fn)(size_t line, void *arg);

struct gpio_backend {
	const char *name;
	/* Opens chip and requests lines[0..n) in order: outputs driven to
	 * init[i] (logical), inputs watched for both edges, whose events call
	 * edge(i, arg) from the loop. On failure writes a reason naming the
	 * chip and line into why and returns SW_ENOENT, SW_EBUSY, SW_EPERM
	 * or SW_EIO; lines already requested are released, outputs keeping
	 * their level where the kernel allows. */
	enum sw_err (*open)(const char *chip, const struct gpio_line_config *lines, const int *init,
			    size_t n, gpio_edge_fn edge, void *arg, struct gpio_chip **out,
			    char *why, size_t whylen);
	/* Line i's logical level 0 or 1, or -1 with errno. */
	int (*get)(struct gpio_chip *c, size_t i);
	/* Drives output i to logical level v; 0, or -1 with errno. */
	int (*set)(struct gpio_chip *c, size_t i, int v);
	/* Stops watching, releases the lines (outputs keep their level). */
	void (*close)(struct gpio_chip *c);
};

extern const struct gpio_backend gpio_backend_gpiod;
extern const struct gpio_backend gpio_backend_sim;

#endif
