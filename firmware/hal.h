/* Hardware abstraction of one slot controller: the few things the firmware
 * core needs from a target, as a const table of operations. Each target
 * implements it once: hal_lm3s6965.c (the Cortex-M part) and hal_host.c (a
 * slot of the rack simulator). */
#ifndef FIRMWARE_HAL_H
#define FIRMWARE_HAL_H

#include <stddef.h>
#include <stdint.h>

#include "firmware/slot.h"

struct hal_ops {
	/* Puts a whole reply frame on the RS-485 line (transmitter enabled
	 * for its duration, then released). */
	void (*uart_send)(void *ctx, const uint8_t *buf, size_t len);
	/* Reads door, lock, presence and the battery's BMS into *s. */
	void (*sense)(void *ctx, struct slot_sensors *s);
	/* Drives charger and lock actuator as *o says. */
	void (*actuate)(void *ctx, const struct slot_outputs *o);
};

#endif
