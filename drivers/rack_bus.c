#include "drivers/rack_bus.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <modbus.h>

struct rack_bus {
	struct rack_bus_config cfg;
	int req[2];          /* loop -> worker: struct rack_job */
	int res[2];          /* worker -> loop: struct rack_result */
	pthread_t thread;
	bool started;
	bool outstanding;    /* loop side: a job is with the worker */
	unsigned gap_us;
	/* worker side only */
	modbus_t *ctx;
	int64_t last_end_us; /* when the line last fell silent */
	int64_t retry_at_us;
	int backoff_ms;
	/* shared */
	atomic_bool connected;
	atomic_uint_fast64_t transactions;
};

static int64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* The silent interval between frames: 3.5 character times, or a fixed
 * 1750 µs above 19200 baud (Modbus over Serial Line v1.02, 2.5.1.1). A
 * character is 11 bits: start, 8 data, parity or second stop, stop. */
static unsigned frame_gap_us(int baud)
{
	if (baud > 19200)
		return 1750;
	return (unsigned)(3.5 * 11 * 1000000.0 / baud + 0.5);
}

static void disconnect(struct rack_bus *bus)
{
	if (bus->ctx) {
		modbus_close(bus->ctx);
		modbus_free(bus->ctx);
		bus->ctx = NULL;
	}
	atomic_store(&bus->connected, false);
}

static bool connect_bus(struct rack_bus *bus)
{
	int64_t now = now_us();

	if (bus->ctx)
		return true;
	if (now < bus->retry_at_us)
		return false;
	bus->ctx = modbus_new_rtu(bus->cfg.device, bus->cfg.baud, bus->cfg.parity,
				  bus->cfg.data_bits, bus->cfg.stop_bits);
	if (bus->ctx && modbus_connect(bus->ctx) == 0 &&
	    (!bus->cfg.rs485 || modbus_rtu_set_serial_mode(bus->ctx, MODBUS_RTU_RS485) == 0)) {
		/* Bytes of one frame follow each other closely; a slave that
		 * stops mid-frame should not hold the line for long. */
		modbus_set_byte_timeout(bus->ctx, 0, 20000 + 2 * 11 * 1000000 / bus->cfg.baud);
		bus->backoff_ms = bus->cfg.reconnect_ms;
		bus->last_end_us = now_us();
		atomic_store(&bus->connected, true);
		return true;
	}
	if (bus->ctx)
		modbus_free(bus->ctx);
	bus->ctx = NULL;
	bus->retry_at_us = now + (int64_t)bus->backoff_ms * 1000;
	bus->backoff_ms = bus->backoff_ms * 2 > 30000 ? 30000 : bus->backoff_ms * 2;
	return false;
}

/* Errors after which the device is gone, not just a slave silent: a USB
 * adapter unplugged, the simulator's pty closed. libmodbus does not recover
 * from these by itself. */
static bool device_gone(int e)
{
	return e == EIO || e == ENXIO || e == ENODEV || e == EBADF || e == ECONNRESET || e == EPIPE;
}

/* After a failed transaction the slave may still be sending (a late or
 * garbled answer, line noise): wait until the line has been quiet for four
 * frame gaps, at most limit_ms, and drop what came, so it is not taken for
 * the answer to the next request. */
static void wait_silence(struct rack_bus *bus, int limit_ms)
{
	int fd = modbus_get_socket(bus->ctx);
	int64_t end = now_us() + (int64_t)limit_ms * 1000;
	int quiet_ms = (int)(4 * bus->gap_us / 1000) + 1;
	char junk[256];

	while (fd >= 0 && now_us() < end) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		if (poll(&p, 1, quiet_ms) <= 0 || read(fd, junk, sizeof junk) <= 0)
			break;
	}
	modbus_flush(bus->ctx);
}

static void run_job(struct rack_bus *bus, const struct rack_job *job, struct rack_result *r)
{
	int rc;

	memset(r, 0, sizeof *r);
	r->tag = job->tag;
	r->unit = job->unit;
	if (!connect_bus(bus)) {
		r->err = SW_EIO;
		r->done_ms = now_us() / 1000;
		return;
	}
	/* Keep the inter-frame silence libmodbus does not keep: slaves on a
	 * shared bus find the start of our request by it. Sleeping here is
	 * the worker's, never the loop's. */
	int64_t wait = bus->last_end_us + bus->gap_us - now_us();
	if (wait > 0) {
		struct timespec ts = { .tv_sec = wait / 1000000, .tv_nsec = (wait % 1000000) * 1000 };
		while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
			;
	}
	modbus_set_slave(bus->ctx, job->unit);
	modbus_set_response_timeout(bus->ctx, job->timeout_ms / 1000,
				    (uint32_t)(job->timeout_ms % 1000) * 1000);
	if (job->op == RACK_WRITE && job->count == 1)
		rc = modbus_write_register(bus->ctx, job->addr, job->values[0]);
	else if (job->op == RACK_WRITE)
		rc = modbus_write_registers(bus->ctx, job->addr, job->count, job->values);
	else if (job->fc == 3)
		rc = modbus_read_registers(bus->ctx, job->addr, job->count, r->regs);
	else
		rc = modbus_read_input_registers(bus->ctx, job->addr, job->count, r->regs);
	int e = errno;
	bus->last_end_us = now_us();
	r->done_ms = bus->last_end_us / 1000;
	atomic_fetch_add(&bus->transactions, 1);
	if (rc >= 0) {
		r->count = job->op == RACK_READ ? (uint16_t)rc : 0;
		return;
	}
	if (e == ETIMEDOUT) {
		r->err = SW_ETIMEDOUT;
	} else if (device_gone(e)) {
		r->err = SW_EIO;
		disconnect(bus);
		bus->retry_at_us = 0; /* try at once: it may be back already */
	} else {
		r->err = SW_EINVAL;
		if (e > MODBUS_ENOBASE && e <= MODBUS_ENOBASE + MODBUS_EXCEPTION_GATEWAY_TARGET)
			r->exception = e - MODBUS_ENOBASE;
	}
	if (bus->ctx)
		wait_silence(bus, job->timeout_ms);
}

static bool full_io(int fd, void *buf, size_t len, bool writing)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = writing ? write(fd, (char *)buf + done, len - done)
				    : read(fd, (char *)buf + done, len - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		done += (size_t)n;
	}
	return true;
}

static void *worker(void *arg)
{
	struct rack_bus *bus = arg;
	struct rack_job job;
	struct rack_result *r = malloc(sizeof *r);

	while (r && full_io(bus->req[0], &job, sizeof job, false)) {
		run_job(bus, &job, r);
		if (!full_io(bus->res[1], r, sizeof *r, true))
			break;
	}
	free(r);
	disconnect(bus);
	return NULL;
}

enum sw_err rack_bus_open(const struct rack_bus_config *cfg, struct rack_bus **out)
{
	struct rack_bus *bus = calloc(1, sizeof *bus);

	*out = NULL;
	if (!bus)
		return SW_ENOMEM;
	bus->cfg = *cfg;
	bus->gap_us = frame_gap_us(cfg->baud);
	bus->backoff_ms = cfg->reconnect_ms > 0 ? cfg->reconnect_ms : 1000;
	bus->cfg.reconnect_ms = bus->backoff_ms;
	bus->req[0] = bus->req[1] = bus->res[0] = bus->res[1] = -1;
	if (pipe2(bus->req, O_CLOEXEC) < 0 || pipe2(bus->res, O_CLOEXEC) < 0 ||
	    fcntl(bus->res[0], F_SETFL, O_NONBLOCK) < 0) {
		rack_bus_close(bus);
		return SW_EIO;
	}
	if (pthread_create(&bus->thread, NULL, worker, bus) != 0) {
		rack_bus_close(bus);
		return SW_ENOMEM;
	}
	bus->started = true;
	*out = bus;
	return SW_OK;
}

int rack_bus_fd(const struct rack_bus *bus)
{
	return bus->res[0];
}

enum sw_err rack_bus_submit(struct rack_bus *bus, const struct rack_job *job)
{
	if (bus->outstanding)
		return SW_EBUSY;
	/* A job is far below PIPE_BUF, so the write is atomic and the worker
	 * is always waiting for the next one: this cannot block. */
	if (!full_io(bus->req[1], (void *)job, sizeof *job, true))
		return SW_EIO;
	bus->outstanding = true;
	return SW_OK;
}

/* A result is written with one write() below PIPE_BUF, which the kernel
 * delivers whole (pipe(7)): a read gets all of it or nothing. */
_Static_assert(sizeof(struct rack_result) <= PIPE_BUF, "results must be atomic pipe writes");

bool rack_bus_result(struct rack_bus *bus, struct rack_result *out)
{
	ssize_t n;

	if (!bus->outstanding)
		return false;
	do
		n = read(bus->res[0], out, sizeof *out);
	while (n < 0 && errno == EINTR);
	if (n != (ssize_t)sizeof *out)
		return false;
	bus->outstanding = false;
	return true;
}

bool rack_bus_connected(const struct rack_bus *bus)
{
	return atomic_load(&bus->connected);
}

uint64_t rack_bus_transactions(const struct rack_bus *bus)
{
	return atomic_load(&bus->transactions);
}

unsigned rack_bus_gap_us(const struct rack_bus *bus)
{
	return bus->gap_us;
}

void rack_bus_close(struct rack_bus *bus)
{
	if (!bus)
		return;
	if (bus->req[1] >= 0)
		close(bus->req[1]); /* the worker's read returns 0: it ends */
	if (bus->started)
		pthread_join(bus->thread, NULL);
	for (int i = 0; i < 2; i++) {
		if (bus->res[i] >= 0)
			close(bus->res[i]);
	}
	if (bus->req[0] >= 0)
		close(bus->req[0]);
	free(bus);
}
