/* The bus as rack.c sees it: one job at a time to a backend (the libmodbus
 * worker, or the simulated controllers in this process), the result back
 * through an fd, and the counters. Also the Modbus framing both backends
 * share, so that a reply is matched to its request the same way on both. */
#include "drivers/rack_bus.h"

#include <stdlib.h>
#include <string.h>

#include "drivers/rack_bus_backend.h"

#define SIM_PREFIX "sim:"

struct rack_bus {
	const struct rack_bus_ops *ops;
	struct rack_line *line;
	struct rack_bus_shared sh;
	unsigned gap_us;
	bool outstanding;
};

/* The silent interval between frames: 3.5 character times, or a fixed
 * 1750 µs above 19200 baud (Modbus over Serial Line v1.02, 2.5.1.1). A
 * character is 11 bits: start, 8 data, parity or second stop, stop. */
unsigned rack_bus_frame_gap(int baud)
{
	if (baud > 19200)
		return 1750;
	return (unsigned)(3.5 * 11 * 1000000.0 / baud + 0.5);
}

/* The request's bytes without the CRC: unit, function, and the PDU of
 * Modbus Application Protocol v1.1b3, 6.3/6.4/6.6/6.12. */
int rack_bus_request(const struct rack_job *job, uint8_t *req)
{
	int n = 0;

	req[n++] = job->unit;
	if (job->op == RACK_READ)
		req[n++] = job->fc;
	else
		req[n++] = job->count == 1 ? 6 : 16;
	req[n++] = (uint8_t)(job->addr >> 8);
	req[n++] = (uint8_t)job->addr;
	if (job->op == RACK_WRITE && job->count == 1) {
		req[n++] = (uint8_t)(job->values[0] >> 8);
		req[n++] = (uint8_t)job->values[0];
		return n;
	}
	req[n++] = (uint8_t)(job->count >> 8);
	req[n++] = (uint8_t)job->count;
	if (job->op == RACK_WRITE) {
		req[n++] = (uint8_t)(2 * job->count);
		for (unsigned i = 0; i < job->count; i++) {
			req[n++] = (uint8_t)(job->values[i] >> 8);
			req[n++] = (uint8_t)job->values[i];
		}
	}
	return n;
}

/* Whether a frame answers the request: the same unit and function; for a
 * read, the byte count of the registers asked; for a write, the echo of
 * address and value (06) or address and count (16). An exception answers
 * when unit and function match. Anything else is a late answer to an
 * earlier request, or noise. */
enum rack_bus_match rack_bus_match(const uint8_t *req, const uint8_t *rsp, int len)
{
	if (len < 5 || rsp[0] != req[0])
		return RACK_MATCH_NONE;
	if (rsp[1] == (req[1] | 0x80))
		return len == 5 ? RACK_MATCH_EXCEPTION : RACK_MATCH_NONE;
	if (rsp[1] != req[1])
		return RACK_MATCH_NONE;
	if (req[1] == 3 || req[1] == 4) {
		unsigned count = (unsigned)req[4] << 8 | req[5];
		return rsp[2] == 2 * count && len == 5 + 2 * (int)count ? RACK_MATCH_OK : RACK_MATCH_NONE;
	}
	/* 06 echoes address and value, 16 address and count: bytes 2..5. */
	return len == 8 && memcmp(rsp + 2, req + 2, 4) == 0 ? RACK_MATCH_OK : RACK_MATCH_NONE;
}

/* 11 bits a character and the 3.5-character silence after the frame:
 * `make bench` compares the sum with the time the transactions took. */
void rack_bus_account(struct rack_bus_shared *sh, int baud, int len)
{
	atomic_fetch_add(&sh->line_us, (uint64_t)len * 11 * 1000000ull / (uint64_t)baud +
					       rack_bus_frame_gap(baud));
}

enum sw_err rack_bus_open(const struct rack_bus_config *cfg, struct rack_bus **out)
{
	struct rack_bus *bus = calloc(1, sizeof *bus);

	*out = NULL;
	if (!bus)
		return SW_ENOMEM;
	bool sim = strncmp(cfg->device, SIM_PREFIX, strlen(SIM_PREFIX)) == 0;
	bus->ops = sim ? &rack_bus_sim : &rack_bus_modbus;
	bus->gap_us = rack_bus_frame_gap(cfg->baud);
	enum sw_err e = bus->ops->open(cfg, &bus->sh, &bus->line);
	if (e != SW_OK) {
		free(bus);
		return e;
	}
	*out = bus;
	return SW_OK;
}

int rack_bus_fd(const struct rack_bus *bus)
{
	return bus->ops->fd(bus->line);
}

enum sw_err rack_bus_submit(struct rack_bus *bus, const struct rack_job *job)
{
	if (bus->outstanding)
		return SW_EBUSY;
	enum sw_err e = bus->ops->submit(bus->line, job);
	bus->outstanding = e == SW_OK;
	return e;
}

bool rack_bus_result(struct rack_bus *bus, struct rack_result *out)
{
	if (!bus->outstanding || !bus->ops->result(bus->line, out))
		return false;
	bus->outstanding = false;
	return true;
}

bool rack_bus_connected(const struct rack_bus *bus)
{
	return atomic_load(&bus->sh.connected);
}

uint64_t rack_bus_transactions(const struct rack_bus *bus)
{
	return atomic_load(&bus->sh.transactions);
}

uint64_t rack_bus_discarded(const struct rack_bus *bus)
{
	return atomic_load(&bus->sh.discarded);
}

uint64_t rack_bus_line_us(const struct rack_bus *bus)
{
	return atomic_load(&bus->sh.line_us);
}

unsigned rack_bus_gap_us(const struct rack_bus *bus)
{
	return bus->gap_us;
}

void rack_bus_close(struct rack_bus *bus)
{
	if (!bus)
		return;
	bus->ops->close(bus->line);
	free(bus);
}
