/* The host HAL: one slot controller of the rack simulator. Its "pins" are
 * plain fields: the simulator writes the sensors (from its battery physics
 * and the simulated customer) and reads back what the firmware drove. */
#ifndef FIRMWARE_HAL_HOST_H
#define FIRMWARE_HAL_HOST_H

#include <stddef.h>
#include <stdint.h>

#include "firmware/hal.h"

struct hal_host_port {
	struct slot_sensors sensors; /* written by the simulator */
	struct slot_outputs outputs; /* last outputs the firmware drove */
	/* where the controller's transmitter puts a reply frame */
	void (*tx)(void *bus, const uint8_t *buf, size_t len);
	void *bus;
};

/* The operations, with ctx = struct hal_host_port *. */
extern const struct hal_ops hal_host_ops;

#endif
