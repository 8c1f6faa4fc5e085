/* What rack_bus.c needs from a bus backend, and the frame helpers the
 * backends share. Private to the rack_bus module: each backend lives in
 * its own .c file, and only that file includes its library's header
 * (modbus.h, the rack simulator's). */
#ifndef SWAPD_RACK_BUS_BACKEND_H
#define SWAPD_RACK_BUS_BACKEND_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "drivers/rack_bus.h"

struct rack_line; /* the backend's own */

/* Written by the backend (from its worker thread too), read by the loop. */
struct rack_bus_shared {
	atomic_bool connected;
	atomic_uint_fast64_t transactions;
	atomic_uint_fast64_t discarded;
	atomic_uint_fast64_t line_us;
};

struct rack_bus_ops {
	const char *name;
	/* Starts the backend for cfg; counters and the connected flag go to
	 * sh, which outlives it. */
	enum sw_err (*open)(const struct rack_bus_config *cfg, struct rack_bus_shared *sh,
			    struct rack_line **out);
	/* Readable when the result of the job submitted is ready. */
	int (*fd)(const struct rack_line *l);
	/* Takes one job (rack_bus.c sees that only one is outstanding). */
	enum sw_err (*submit)(struct rack_line *l, const struct rack_job *job);
	/* The result if it is ready; never blocks. */
	bool (*result)(struct rack_line *l, struct rack_result *out);
	/* Ends the work (finishing a transaction) and frees l. */
	void (*close)(struct rack_line *l);
};

extern const struct rack_bus_ops rack_bus_modbus;
extern const struct rack_bus_ops rack_bus_sim;

/* The silent interval between frames at baud, in µs. */
unsigned rack_bus_frame_gap(int baud);

/* Writes job's request without its CRC into req (at least 7 + 2 * 4
 * bytes); returns its length. */
int rack_bus_request(const struct rack_job *job, uint8_t *req);

enum rack_bus_match { RACK_MATCH_NONE, RACK_MATCH_OK, RACK_MATCH_EXCEPTION };

/* Whether a frame of len bytes (its CRC included, and checked) answers
 * the request req. */
enum rack_bus_match rack_bus_match(const uint8_t *req, const uint8_t *rsp, int len);

/* Counts the least line time of a frame of len bytes (CRC included). */
void rack_bus_account(struct rack_bus_shared *sh, int baud, int len);

#endif
