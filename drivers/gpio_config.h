/* The "gpio" section of the config: what the config parser fills and the
 * GPIO driver takes, in a header of its own so that daemon/config.h needs
 * none of the driver. Keys and units: drivers/DRIVERS.md. */
#ifndef SWAPD_GPIO_CONFIG_H
#define SWAPD_GPIO_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#define GPIO_MAX_LINES 64
#define GPIO_NAME_MAX 32

/* What a line is; its direction follows. */
enum gpio_role {
	GPIO_LOCK,   /* output: a slot's lock relay */
	GPIO_DOOR,   /* input: a slot's door sensor; active = open */
	GPIO_ESTOP,  /* input: the emergency stop; active = pressed */
	GPIO_LIGHT,  /* output: a kiosk indicator; active = on */
	GPIO_POWER,  /* input: the mains sense; active = mains present, so that a
		      * cut sense wire reads as lost (charging off), never as fine */
	GPIO_SLOT_POWER, /* output: a relay in a slot controller's supply; active =
			  * supply cut, so that a line let go leaves it powered */
};

/* Whether a line of role r is an output, for the driver and both backends. */
static inline bool gpio_role_is_output(enum gpio_role r)
{
	return r == GPIO_LOCK || r == GPIO_LIGHT || r == GPIO_SLOT_POWER;
}

struct gpio_line_config {
	enum gpio_role role;
	int slot;                   /* lock, door, slot_power: the slot number 1..999; else 0 */
	char name[GPIO_NAME_MAX];   /* the line's name on the chip, or its offset "17" */
	bool active_low;            /* the line is active at the low level */
	bool locked_active;         /* lock: locked while active (a maglock);
				     * false: active unlocks (a strike) */
	int debounce_ms;            /* inputs: a level must hold this long, 0..1000 */
};

struct gpio_config {
	bool enabled;     /* the "gpio" section is there */
	char chip[128];   /* "gpiochip0", "/dev/gpiochip0", a chip label, or
			   * "sim:/path/to/socket" for the simulated chip */
	struct gpio_line_config lines[GPIO_MAX_LINES];
	size_t nlines;
};

#endif
