/* The slot controller firmware core: one Modbus RTU slave in front of the
 * slot logic, talking to the hardware through a HAL. A target's main loop
 * feeds it the bytes heard on the line and calls fw_poll often. */
#ifndef FIRMWARE_FW_H
#define FIRMWARE_FW_H

#include <stdint.h>

#include "firmware/hal.h"
#include "firmware/mb_slave.h"
#include "firmware/slot.h"

struct fw {
	struct mb_slave mb;
	struct slot slot;
	const struct hal_ops *hal;
	void *hal_ctx;
	uint32_t clock_us; /* microsecond clock at slot.now_ms */
};

/* Starts a controller answering `unit` at `baud` on hal/hal_ctx at now_us.
 * be/be_ctx serve the registers; NULL means the slot's own map (the rack
 * simulator passes a translator for other vendors' register profiles). */
void fw_init(struct fw *f, uint8_t unit, uint32_t baud, const struct hal_ops *hal,
	     void *hal_ctx, const struct mb_slave_backend *be, void *be_ctx, uint32_t now_us);

/* One byte heard on the line at now_us. */
void fw_rx(struct fw *f, uint8_t byte, uint32_t now_us);

/* Answers a frame that has ended by now_us, then runs one slot step:
 * sense, decide, actuate. now_us is a wrapping microsecond clock. */
void fw_poll(struct fw *f, uint32_t now_us);

#endif
