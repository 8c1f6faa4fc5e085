/* Modbus RTU slave (server) for one unit id, small enough for an MCU: no
 * allocation, no libc beyond memcpy. It frames bytes by line silence, checks
 * the CRC and the unit id, and answers function codes 03, 04, 06 and 16 from
 * a register backend; everything else gets the standard exceptions.
 *
 * References: "MODBUS over Serial Line Specification and Implementation
 * Guide V1.02" (framing, CRC, broadcast) and "MODBUS Application Protocol
 * Specification V1.1b3" (function codes, exception codes, quantity limits). */
#ifndef FIRMWARE_MB_SLAVE_H
#define FIRMWARE_MB_SLAVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Serial line v1.02 section 2.5.1.1: an RTU frame is at most 256 bytes. */
#define MB_SLAVE_FRAME_MAX 256
/* Serial line v1.02 section 2.2: address 0 is the broadcast address. */
#define MB_SLAVE_BROADCAST 0

/* Application protocol v1.1b3 section 7. */
enum mb_exception {
	MB_EX_NONE = 0,
	MB_EX_ILLEGAL_FUNCTION = 1,
	MB_EX_ILLEGAL_ADDRESS = 2,
	MB_EX_ILLEGAL_VALUE = 3,
	MB_EX_DEVICE_FAILURE = 4,
};

/* The two register tables, named by the function code that reads them. */
enum mb_table {
	MB_HOLDING = 3,
	MB_INPUT = 4,
};

/* Where the registers live. Both calls are made only after the request
 * passed the protocol checks (quantity within limits, no address wrap). */
struct mb_slave_backend {
	/* Copies qty registers from addr of table t into out; returns
	 * MB_EX_NONE, or the exception to answer (nothing copied). */
	uint8_t (*read)(void *ctx, enum mb_table t, uint16_t addr, uint16_t qty, uint16_t *out);
	/* Writes qty holding registers from addr, all of them or none;
	 * returns MB_EX_NONE or the exception to answer. */
	uint8_t (*write)(void *ctx, uint16_t addr, uint16_t qty, const uint16_t *val);
};

struct mb_slave {
	uint8_t unit;
	uint32_t t35_us; /* end-of-frame silence */
	const struct mb_slave_backend *be;
	void *ctx;
	uint8_t buf[MB_SLAVE_FRAME_MAX];
	uint16_t len;
	bool overrun;     /* more than MB_SLAVE_FRAME_MAX bytes: drop the frame */
	uint32_t last_us; /* arrival of the last byte */
};

/* CRC-16/MODBUS (polynomial 0xA001 reflected, initial 0xFFFF) of n bytes;
 * serial line v1.02 section 6.2.2. The frame carries it low byte first. */
uint16_t mb_slave_crc16(const uint8_t *p, size_t n);

/* The t3.5 silence that ends a frame at this baud rate, in microseconds:
 * 3.5 characters of 11 bits, and a fixed 1750 us above 19200 baud (serial
 * line v1.02 section 2.5.1.1). */
uint32_t mb_slave_t35_us(uint32_t baud);

/* Sets up a slave answering `unit` (1..247) at `baud`, with its registers in
 * be/ctx. */
void mb_slave_init(struct mb_slave *m, uint8_t unit, uint32_t baud,
		   const struct mb_slave_backend *be, void *ctx);

/* Takes one byte heard on the line at now_us (any monotonic microsecond
 * clock, wrapping is fine). A byte after t3.5 of silence starts a new frame;
 * a finished frame nobody took by then is dropped. */
void mb_slave_rx(struct mb_slave *m, uint8_t byte, uint32_t now_us);

/* Whether bytes are buffered; if so *due_us is when t3.5 of silence after
 * them ends, i.e. when mb_slave_frame_done() turns true. */
bool mb_slave_pending(const struct mb_slave *m, uint32_t *due_us);

/* Whether a frame is complete at now_us (bytes buffered, then t3.5 of
 * silence). */
bool mb_slave_frame_done(const struct mb_slave *m, uint32_t now_us);

/* Handles the buffered frame and empties the buffer; see mb_slave_handle. */
size_t mb_slave_take(struct mb_slave *m, uint8_t *resp, bool *heard);

/* Handles one complete frame f of n bytes. Frames with a bad CRC, or for
 * another unit, are ignored without a word (serial line v1.02 section 2.4.1).
 * Returns the length of the reply written to resp (room for
 * MB_SLAVE_FRAME_MAX bytes), or 0 when nothing must be sent: ignored frames
 * and broadcasts, which are executed (writes only) but never answered.
 * *heard is set when the frame was valid and addressed to this unit or to
 * all units, i.e. the master is alive. */
size_t mb_slave_handle(struct mb_slave *m, const uint8_t *f, size_t n, uint8_t *resp, bool *heard);

#endif
