/* Firmware core: frames in, slot step, replies out. */
#include "firmware/fw.h"

#include <stdbool.h>
#include <stddef.h>

void fw_init(struct fw *f, uint8_t unit, uint32_t baud, const struct hal_ops *hal,
	     void *hal_ctx, const struct mb_slave_backend *be, void *be_ctx, uint32_t now_us)
{
	slot_init(&f->slot, 0);
	mb_slave_init(&f->mb, unit, baud, be ? be : &slot_backend, be ? be_ctx : (void *)&f->slot);
	f->hal = hal;
	f->hal_ctx = hal_ctx;
	f->clock_us = now_us;
}

void fw_rx(struct fw *f, uint8_t byte, uint32_t now_us)
{
	mb_slave_rx(&f->mb, byte, now_us);
}

/* The slot runs on a millisecond clock; deriving it from the microsecond
 * clock by division would jump when that wraps (every 71 minutes), so it
 * advances by whole elapsed milliseconds. A clock seen stepping back must
 * not read as 71 minutes forward (a tripped watchdog): time stands still. */
static uint32_t now_ms(struct fw *f, uint32_t now_us)
{
	if ((int32_t)(now_us - f->clock_us) < 0)
		return f->slot.now_ms;
	uint32_t ms = (now_us - f->clock_us) / 1000u;

	f->clock_us += ms * 1000u;
	return f->slot.now_ms + ms;
}

void fw_poll(struct fw *f, uint32_t now_us)
{
	uint8_t resp[MB_SLAVE_FRAME_MAX];
	struct slot_sensors in = { 0 };
	struct slot_outputs out;
	uint32_t ms = now_ms(f, now_us);

	if (mb_slave_frame_done(&f->mb, now_us)) {
		bool heard;
		size_t n = mb_slave_take(&f->mb, resp, &heard);
		if (heard)
			slot_heard(&f->slot, ms);
		if (n)
			f->hal->uart_send(f->hal_ctx, resp, n);
	}
	f->hal->sense(f->hal_ctx, &in);
	slot_tick(&f->slot, ms, &in, &out);
	f->hal->actuate(f->hal_ctx, &out);
}
