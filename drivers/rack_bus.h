/* One Modbus RTU bus (a serial line shared by the slot controllers): one
 * transaction at a time, its result back through an fd the loop watches, so
 * the loop itself never waits on the line. Behind it, a backend
 * (rack_bus_backend.h): the serial device through libmodbus, served by a
 * worker thread because libmodbus calls block (rack_bus_modbus.c, the only
 * file that includes libmodbus), or, for a device "sim:N", N simulated
 * controllers running the real firmware in this process
 * (rack_bus_sim.c). */
#ifndef SWAPD_RACK_BUS_H
#define SWAPD_RACK_BUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "daemon/err.h"
#include "drivers/rack_profile.h"

struct rack_bus_config {
	char device[256];
	int baud;
	char parity;       /* 'N', 'E' or 'O' */
	int data_bits;
	int stop_bits;
	bool rs485;        /* switch the port to RS-485 mode (TIOCSRS485) */
	int reconnect_ms;  /* first retry after the device went away; doubles to 2 s */
};

enum rack_op { RACK_READ, RACK_WRITE };

struct rack_job {
	uint32_t tag;          /* the caller's, returned in the result */
	uint8_t unit;          /* slave address 1..247; 0 broadcasts a write (no answer) */
	uint8_t op;            /* enum rack_op */
	uint8_t fc;            /* reads: 3 or 4 */
	uint16_t addr, count;  /* registers read or written */
	uint16_t values[4];    /* writes: one register with 06, more with 16 */
	uint16_t timeout_ms;   /* response timeout for this slave */
};

struct rack_result {
	uint32_t tag;
	uint8_t unit;
	enum sw_err err;       /* SW_ETIMEDOUT no answer, SW_EINVAL an exception or a
				* damaged answer, SW_EIO bus down */
	int exception;         /* Modbus exception code when err is SW_EINVAL, else 0 */
	int64_t done_ms;       /* monotonic ms when the answer was complete */
	uint16_t count;
	uint16_t regs[RACK_MAX_READ];
};

struct rack_bus;
struct json_object;

/* Starts the worker for a bus. The device need not exist yet: the worker
 * opens it when the first job comes and again after it went away. A
 * device "sim:N" (N 1..247) opens the simulated bus instead: controllers
 * with unit ids 1..N serving the firmware's register map
 * (firmware/REGISTERS.md), answering each job at once on the loop's clock;
 * SW_EINVAL for a bad N. */
enum sw_err rack_bus_open(const struct rack_bus_config *cfg, struct rack_bus **out);

/* The fd that becomes readable when a result is ready (for loop_add_fd). */
int rack_bus_fd(const struct rack_bus *bus);

/* Hands one job to the worker; only one may be outstanding. */
enum sw_err rack_bus_submit(struct rack_bus *bus, const struct rack_job *job);

/* Takes the result of the outstanding job if it is ready; never blocks. */
bool rack_bus_result(struct rack_bus *bus, struct rack_result *out);

/* Whether the serial device is open right now. */
bool rack_bus_connected(const struct rack_bus *bus);

/* Transactions done, and the silent interval kept between frames (µs). */
uint64_t rack_bus_transactions(const struct rack_bus *bus);

/* Frames heard that did not answer the request in progress (late answers
 * to earlier requests, other units' frames, bad CRCs): dropped, counted. */
uint64_t rack_bus_discarded(const struct rack_bus *bus);

/* The least time the line needed for the frames sent and answered: 11 bits
 * a character plus the 3.5-character silence after each frame. */
uint64_t rack_bus_line_us(const struct rack_bus *bus);
unsigned rack_bus_gap_us(const struct rack_bus *bus);

/* Stops the worker (finishing its transaction) and closes the device. */
void rack_bus_close(struct rack_bus *bus);

/* Runs one rack simulator verb (tools/rack-sim/README.md), a JSON object
 * such as {"op": "insert", "slot": 1, "battery": 42}, on the simulated bus
 * open in this process. Returns the verb's reply (the caller puts it), or
 * NULL with the reason in why. For tests and the demo. */
struct json_object *rack_bus_sim_exec(const char *verb, char *why, size_t whylen);

#endif
