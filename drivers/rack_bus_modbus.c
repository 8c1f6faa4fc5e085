/* The real bus: libmodbus on the serial device, served by one worker
 * thread because libmodbus calls block. The loop hands the worker one
 * transaction at a time through a pipe and gets the result back through
 * another, as OpenBSD ntpd's processes talk through imsg. */
#include "drivers/rack_bus_backend.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <modbus.h>

/* A serial device that comes back is opened again within this: the slot
 * controllers lock themselves after 5 s without a master (their default
 * watchdog), so the rack must be back well before that. */
#define RECONNECT_MAX_MS 2000
/* After a broadcast the slaves execute it before the next request comes;
 * the spec leaves the delay to the master, 100 ms is the usual choice. */
#define BROADCAST_TURNAROUND_US 100000

struct rack_line {
	struct rack_bus_config cfg;
	int req[2];          /* loop -> worker: struct rack_job */
	int res[2];          /* worker -> loop: struct rack_result */
	pthread_t thread;
	bool started;
	unsigned gap_us;
	/* worker side only */
	modbus_t *ctx;
	int64_t last_end_us; /* when the line last fell silent */
	int64_t retry_at_us;
	int backoff_ms;
	struct rack_bus_shared *sh;
};

static int64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void disconnect(struct rack_line *bus)
{
	if (bus->ctx) {
		modbus_close(bus->ctx);
		modbus_free(bus->ctx);
		bus->ctx = NULL;
	}
	atomic_store(&bus->sh->connected, false);
}

static bool connect_bus(struct rack_line *bus)
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
		atomic_store(&bus->sh->connected, true);
		return true;
	}
	if (bus->ctx)
		modbus_free(bus->ctx);
	bus->ctx = NULL;
	bus->retry_at_us = now + (int64_t)bus->backoff_ms * 1000;
	int cap = bus->cfg.reconnect_ms > RECONNECT_MAX_MS ? bus->cfg.reconnect_ms : RECONNECT_MAX_MS;
	bus->backoff_ms = bus->backoff_ms * 2 > cap ? cap : bus->backoff_ms * 2;
	return false;
}

/* Errors after which the device is gone, not just a slave silent: a USB
 * adapter unplugged, the simulator's pty closed. libmodbus does not recover
 * from these by itself. */
static bool device_gone(int e)
{
	return e == EIO || e == ENXIO || e == ENODEV || e == EBADF || e == ECONNRESET || e == EPIPE;
}

/* Waits up to ms for input on the line: 1 when there is some, 0 when none
 * came, -1 when the loop is closing the bus (the request pipe's write end
 * closed), so that no wait of the worker holds up a stop. */
static int wait_line(struct rack_line *bus, int fd, int ms)
{
	struct pollfd p[2] = { { .fd = fd, .events = POLLIN }, { .fd = bus->req[0], .events = POLLIN } };

	if (poll(p, 2, ms) < 0)
		return errno == EINTR ? 0 : -1;
	if (p[1].revents)
		return -1;
	return p[0].revents ? 1 : 0;
}

/* After a failed transaction the slave may still be sending (a late or
 * garbled answer, line noise): wait until the line has been quiet for four
 * frame gaps, at most limit_ms, and drop what came, so it is not taken for
 * the answer to the next request. */
static void wait_silence(struct rack_line *bus, int limit_ms)
{
	int fd = modbus_get_socket(bus->ctx);
	int64_t end = now_us() + (int64_t)limit_ms * 1000;
	int quiet_ms = (int)(4 * bus->gap_us / 1000) + 1;
	char junk[256];

	while (fd >= 0 && now_us() < end) {
		if (wait_line(bus, fd, quiet_ms) <= 0 || read(fd, junk, sizeof junk) <= 0)
			break;
	}
	modbus_flush(bus->ctx);
}

/* Whatever came in since the last transaction ended answers nothing we
 * are about to ask: a late answer, a babbling slave. Dropped and counted,
 * so that it is not read as the answer to the next request. */
static void drop_input(struct rack_line *bus)
{
	int fd = modbus_get_socket(bus->ctx);
	char junk[256];
	bool any = false;

	while (fd >= 0 && read(fd, junk, sizeof junk) > 0) /* the fd is non-blocking */
		any = true;
	if (any)
		atomic_fetch_add(&bus->sh->discarded, 1);
}

/* Sends the request and reads frames until one answers it or the response
 * timeout (counted from the request) runs out. Frames that do not answer it
 * are dropped and counted: a slave that answers after its timeout must not
 * have that answer taken for a later request's. */
static int transact(struct rack_line *bus, const struct rack_job *job, struct rack_result *r)
{
	uint8_t req[MODBUS_RTU_MAX_ADU_LENGTH], rsp[MODBUS_RTU_MAX_ADU_LENGTH];
	int n = rack_bus_request(job, req);

	drop_input(bus);
	if (modbus_send_raw_request(bus->ctx, req, n) < 0)
		return -1;
	rack_bus_account(bus->sh, bus->cfg.baud, n + 2);
	if (job->unit == 0)
		return 0; /* a broadcast is never answered (Modbus over Serial Line 2.1) */
	int64_t deadline = now_us() + (int64_t)job->timeout_ms * 1000;
	bool damaged = false, stale = false;
	for (;;) {
		int64_t left = deadline - now_us();
		int wait_ms = (int)((left + 999) / 1000);
		/* After a damaged frame, a line quiet for four frame gaps means
		 * that was the answer, spoilt: fail now, as a bad CRC always
		 * did, rather than wait out the timeout. */
		bool noise = damaged && !stale;
		if (noise && wait_ms > (int)(4 * bus->gap_us / 1000) + 1)
			wait_ms = (int)(4 * bus->gap_us / 1000) + 1;
		int ready = left > 0 ? wait_line(bus, modbus_get_socket(bus->ctx), wait_ms) : 0;
		if (ready <= 0) {
			errno = ready < 0 ? ECANCELED : noise ? EBADMSG : ETIMEDOUT;
			return -1;
		}
		left = deadline - now_us();
		if (left < 1000)
			left = 1000;
		modbus_set_response_timeout(bus->ctx, (uint32_t)(left / 1000000),
					    (uint32_t)(left % 1000000));
		int len = modbus_receive_confirmation(bus->ctx, rsp);
		if (len < 0 && device_gone(errno))
			return -1;
		if (len < 0 && errno == ETIMEDOUT) { /* a frame that stopped half way */
			errno = stale ? ETIMEDOUT : EBADMSG;
			return -1;
		}
		damaged |= len < 0;        /* a bad CRC, a frame that makes no sense */
		stale |= len > 0 && rack_bus_match(req, rsp, len) == RACK_MATCH_NONE;
		switch (len > 0 ? rack_bus_match(req, rsp, len) : RACK_MATCH_NONE) {
		case RACK_MATCH_OK:
			rack_bus_account(bus->sh, bus->cfg.baud, len);
			for (unsigned i = 0; job->op == RACK_READ && i < job->count; i++)
				r->regs[i] = (uint16_t)(rsp[3 + 2 * i] << 8 | rsp[4 + 2 * i]);
			r->count = job->op == RACK_READ ? job->count : 0;
			return 0;
		case RACK_MATCH_EXCEPTION:
			rack_bus_account(bus->sh, bus->cfg.baud, len);
			r->exception = rsp[2];
			errno = EMBXILFUN; /* any exception: reported as SW_EINVAL */
			return -1;
		case RACK_MATCH_NONE:
			/* another unit's frame (len 0), a bad CRC, or a stale
			 * answer: not ours, keep listening */
			atomic_fetch_add(&bus->sh->discarded, 1);
			break;
		}
	}
}

static void run_job(struct rack_line *bus, const struct rack_job *job, struct rack_result *r)
{
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
	int rc = transact(bus, job, r);
	int e = errno;
	bus->last_end_us = now_us();
	r->done_ms = bus->last_end_us / 1000;
	/* Nobody answers a broadcast, so nothing marks the end of its frame on
	 * the line: the write returned when the UART took it. Count its line
	 * time, and give the slaves the turnaround delay to act on it (Modbus
	 * over Serial Line v1.02, 2.4.1), or the next request runs into it. */
	if (rc >= 0 && job->unit == 0)
		bus->last_end_us += (int64_t)(8 + 2 * job->count) * 11 * 1000000 / bus->cfg.baud +
				    BROADCAST_TURNAROUND_US;
	atomic_fetch_add(&bus->sh->transactions, 1);
	if (rc >= 0)
		return;
	if (e == ETIMEDOUT) {
		r->err = SW_ETIMEDOUT;
	} else if (e == ECANCELED) {
		r->err = SW_ECANCELED;
		return;
	} else if (device_gone(e)) {
		r->err = SW_EIO;
		disconnect(bus);
		bus->retry_at_us = 0; /* try at once: it may be back already */
	} else {
		r->err = SW_EINVAL;
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
	struct rack_line *bus = arg;
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

static void line_close(struct rack_line *bus);

static enum sw_err line_open(const struct rack_bus_config *cfg, struct rack_bus_shared *sh,
			     struct rack_line **out)
{
	struct rack_line *bus = calloc(1, sizeof *bus);

	*out = NULL;
	if (!bus)
		return SW_ENOMEM;
	bus->cfg = *cfg;
	bus->sh = sh;
	bus->gap_us = rack_bus_frame_gap(cfg->baud);
	bus->backoff_ms = cfg->reconnect_ms > 0 ? cfg->reconnect_ms : 1000;
	bus->cfg.reconnect_ms = bus->backoff_ms;
	bus->req[0] = bus->req[1] = bus->res[0] = bus->res[1] = -1;
	if (pipe2(bus->req, O_CLOEXEC) < 0 || pipe2(bus->res, O_CLOEXEC) < 0 ||
	    fcntl(bus->res[0], F_SETFL, O_NONBLOCK) < 0) {
		line_close(bus);
		return SW_EIO;
	}
	if (pthread_create(&bus->thread, NULL, worker, bus) != 0) {
		line_close(bus);
		return SW_ENOMEM;
	}
	bus->started = true;
	*out = bus;
	return SW_OK;
}

static int line_fd(const struct rack_line *bus)
{
	return bus->res[0];
}

static enum sw_err line_submit(struct rack_line *bus, const struct rack_job *job)
{
	/* A job is far below PIPE_BUF, so the write is atomic and the worker
	 * is always waiting for the next one: this cannot block. */
	if (!full_io(bus->req[1], (void *)job, sizeof *job, true))
		return SW_EIO;
	return SW_OK;
}

/* A result is written with one write() below PIPE_BUF, which the kernel
 * delivers whole (pipe(7)): a read gets all of it or nothing. */
_Static_assert(sizeof(struct rack_result) <= PIPE_BUF, "results must be atomic pipe writes");

static bool line_result(struct rack_line *bus, struct rack_result *out)
{
	ssize_t n;

	do
		n = read(bus->res[0], out, sizeof *out);
	while (n < 0 && errno == EINTR);
	return n == (ssize_t)sizeof *out;
}

static void line_close(struct rack_line *bus)
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

const struct rack_bus_ops rack_bus_modbus = {
	.name = "modbus",
	.open = line_open,
	.fd = line_fd,
	.submit = line_submit,
	.result = line_result,
	.close = line_close,
};
