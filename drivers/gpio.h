/* GPIO lines of the station: lock relays, door sensors, the emergency stop,
 * the mains sense and the kiosk's indicator lights, found by name on one chip. Input edges
 * come through the loop, are debounced, and reach the caller as a change of
 * the line's meaning (door open, stop pressed), never as raw levels. Doors
 * fail locked: lock outputs are requested in their locked state, go back
 * to it when a write fails, and are locked again at close. */
#ifndef SWAPD_GPIO_H
#define SWAPD_GPIO_H

#include <stdbool.h>
#include <stddef.h>

#include "daemon/err.h"
#include "drivers/gpio_config.h"


/* Called from the loop when a debounced input changed. */
typedef void (*gpio_input_fn)(enum gpio_role role, int slot, bool active, void *arg);

/* Checks cfg without touching any hardware (what the config check runs):
 * SW_EINVAL with "gpio.lines[N].KEY: problem" in why, or SW_OK. */
enum sw_err gpio_check(const struct gpio_config *cfg, char *why, size_t whylen);

/* Validates cfg, opens the chip and requests every line: locks first, in
 * their locked state, then the rest; reads the inputs' initial levels
 * (no callback for those; ask gpio_get). On failure returns SW_EINVAL
 * (config), SW_ENOENT (no such chip or line), SW_EBUSY (line taken) or
 * SW_EIO with a reason naming the chip and line in why, reports "gpio" as
 * failed, and leaves nothing open (lock lines already set stay locked). */
enum sw_err gpio_open(const struct gpio_config *cfg, gpio_input_fn on_input, void *arg,
		      char *why, size_t whylen);

/* Whether slot's lock is driven by GPIO here. */
bool gpio_has_lock(int slot);

/* Drives slot's lock. SW_ENOENT when GPIO has no lock for slot; SW_EIO
 * when the write failed, after which the line is driven locked if it still
 * can be, and "gpio" reports failed. */
enum sw_err gpio_set_lock(int slot, bool locked);

/* Whether slot's controller has a supply relay (role slot_power) here. */
bool gpio_has_slot_power(int slot);
/* Cuts (cut true) or restores slot's controller supply. SW_ENOENT when
 * there is no such relay, SW_EIO when the write failed (then the line is
 * driven to "supplied" if it still can be). gpio_close() restores it. */
enum sw_err gpio_cut_slot_power(int slot, bool cut);
/* Switches the light on the line called name. SW_ENOENT for no such
 * light, SW_EIO when the write failed. */
enum sw_err gpio_set_light(const char *name, bool on);

/* The state of a line in *active: for GPIO_DOOR open, for GPIO_ESTOP
 * pressed and for GPIO_POWER mains present, as last debounced; for
 * GPIO_LOCK locked and for GPIO_SLOT_POWER supply cut, as last driven. slot is 0 for the estop and the power
 * sense. SW_ENOENT when there is no such line. */
enum sw_err gpio_get(enum gpio_role role, int slot, bool *active);

/* Locks every lock, releases the lines, closes the chip. Safe when not
 * open. */
void gpio_close(void);

#endif
