/* The simulated bus: N slot controllers in this process, each the real
 * firmware core (firmware/fw.c) inside the rack simulator's model
 * (tools/rack-sim/rack.c: batteries, doors, locks). A job is answered at
 * submit: the request's bytes go to the controllers one character time
 * apart, the line falls silent for 3.5 characters, they answer, and the
 * answer is matched exactly as on the real line. The result waits behind
 * an eventfd, so the loop takes it as it takes the worker's. The
 * controllers' clock is the loop's (simulated in tests), never behind it. */
#include "drivers/rack_bus_backend.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "daemon/loop.h"
#include "firmware/mb_slave.h"
#include "tools/rack-sim/rack.h"

#define SIM_MAX_SLOTS 247
#define PHYSICS_MS 100 /* the simulator's own physics step */
#define REPLIES 8      /* frames heard for one request, at most */

struct rack_line {
	struct rack sim;
	int efd;
	int baud;
	uint64_t t_us;      /* line time: the controllers' clock */
	int64_t phys_ms;    /* loop time the physics has reached */
	struct rack_result res;
	uint8_t rx[REPLIES][MB_SLAVE_FRAME_MAX];
	size_t rxlen[REPLIES];
	int nrx;
	struct rack_bus_shared *sh;
};

/* The bus opened last: one rack per process, for rack_bus_sim_exec. */
static struct rack_line *current;

/* A controller's reply frame, heard by the master. */
static void heard(void *bus, const uint8_t *buf, size_t len)
{
	struct rack_line *l = bus;

	if (l->nrx == REPLIES || len > sizeof l->rx[0])
		return;
	memcpy(l->rx[l->nrx], buf, len);
	l->rxlen[l->nrx++] = len;
}

/* Brings the batteries and the controllers up to the loop's time. */
static void catch_up(struct rack_line *l)
{
	int64_t now = loop_now();

	while (now - l->phys_ms >= PHYSICS_MS) {
		rack_physics(&l->sim, PHYSICS_MS / 1000.0);
		l->phys_ms += PHYSICS_MS;
	}
	if ((uint64_t)now * 1000 > l->t_us)
		l->t_us = (uint64_t)now * 1000;
	rack_poll(&l->sim, (uint32_t)l->t_us);
}

static uint64_t char_us(const struct rack_line *l)
{
	return (11000000ull + (uint64_t)l->baud - 1) / (uint64_t)l->baud;
}

/* The first frame heard that answers req; the others are counted as
 * discarded, as on the real line. A damaged frame and no answer is a bad
 * frame (SW_EINVAL), as the serial backend reports it, not a timeout:
 * bus_errors counts those. */
static void take_reply(struct rack_line *l, const struct rack_job *job, const uint8_t *req)
{
	bool damaged = false;

	l->res.err = SW_ETIMEDOUT;
	for (int k = 0; k < l->nrx; k++) {
		const uint8_t *rsp = l->rx[k];
		int len = (int)l->rxlen[k];
		l->t_us += (uint64_t)len * char_us(l);
		bool crc_ok = len >= 4 && mb_slave_crc16(rsp, (size_t)len - 2) ==
						  (uint16_t)(rsp[len - 2] | rsp[len - 1] << 8);
		damaged |= !crc_ok;
		enum rack_bus_match m = crc_ok ? rack_bus_match(req, rsp, len) : RACK_MATCH_NONE;
		if (m == RACK_MATCH_NONE || l->res.err != SW_ETIMEDOUT) {
			atomic_fetch_add(&l->sh->discarded, 1);
			continue;
		}
		rack_bus_account(l->sh, l->baud, len);
		if (m == RACK_MATCH_EXCEPTION) {
			l->res.err = SW_EINVAL;
			l->res.exception = rsp[2];
			continue;
		}
		l->res.err = SW_OK;
		l->res.count = job->op == RACK_READ ? job->count : 0;
		for (unsigned i = 0; i < l->res.count; i++)
			l->res.regs[i] = (uint16_t)(rsp[3 + 2 * i] << 8 | rsp[4 + 2 * i]);
	}
	if (l->res.err == SW_ETIMEDOUT && damaged)
		l->res.err = SW_EINVAL;
}

static enum sw_err sim_submit(struct rack_line *l, const struct rack_job *job)
{
	uint8_t req[MB_SLAVE_FRAME_MAX];
	int n = rack_bus_request(job, req);
	uint16_t crc = mb_slave_crc16(req, (size_t)n);
	uint64_t one = 1;

	req[n++] = (uint8_t)crc; /* the CRC goes low byte first */
	req[n++] = (uint8_t)(crc >> 8);
	catch_up(l);
	memset(&l->res, 0, sizeof l->res);
	l->res.tag = job->tag;
	l->res.unit = job->unit;
	l->nrx = 0;
	for (int i = 0; i < n; i++) {
		l->t_us += char_us(l);
		rack_rx(&l->sim, req[i], (uint32_t)l->t_us);
	}
	rack_bus_account(l->sh, l->baud, n);
	/* The frame ends when the line has been silent 3.5 characters (as
	 * the firmware rounds them). */
	l->t_us += mb_slave_t35_us((uint32_t)l->baud);
	rack_poll(&l->sim, (uint32_t)l->t_us);
	if (job->unit != 0) /* a broadcast is never answered */
		take_reply(l, job, req);
	l->res.done_ms = loop_now();
	atomic_fetch_add(&l->sh->transactions, 1);
	if (write(l->efd, &one, sizeof one) != sizeof one)
		return SW_EIO;
	return SW_OK;
}

static bool sim_result(struct rack_line *l, struct rack_result *out)
{
	uint64_t v;

	if (read(l->efd, &v, sizeof v) != sizeof v)
		return false;
	*out = l->res;
	return true;
}

static int sim_fd(const struct rack_line *l)
{
	return l->efd;
}

static void sim_close(struct rack_line *l)
{
	if (current == l)
		current = NULL;
	rack_free(&l->sim);
	close(l->efd);
	free(l);
}

/* "sim:N": N controllers, unit ids 1..N, serving the firmware's own
 * register map. */
static enum sw_err sim_open(const struct rack_bus_config *cfg, struct rack_bus_shared *sh,
			    struct rack_line **out)
{
	char *end;
	long n = strtol(cfg->device + 4, &end, 10);
	struct rack_line *l;

	*out = NULL;
	if (*end || n < 1 || n > SIM_MAX_SLOTS || cfg->baud <= 0)
		return SW_EINVAL;
	if (!(l = calloc(1, sizeof *l)))
		return SW_ENOMEM;
	l->sh = sh;
	l->baud = cfg->baud;
	l->phys_ms = loop_now();
	l->t_us = (uint64_t)l->phys_ms * 1000;
	l->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (l->efd < 0) {
		free(l);
		return SW_EIO;
	}
	if (rack_init(&l->sim, (int)n, (uint32_t)cfg->baud, NULL, heard, l, (uint32_t)l->t_us) < 0) {
		close(l->efd);
		free(l);
		return SW_ENOMEM;
	}
	atomic_store(&sh->connected, true);
	current = l;
	*out = l;
	return SW_OK;
}

const struct rack_bus_ops rack_bus_sim = {
	.name = "sim",
	.open = sim_open,
	.fd = sim_fd,
	.submit = sim_submit,
	.result = sim_result,
	.close = sim_close,
};

json_object *rack_bus_sim_exec(const char *verb, char *why, size_t whylen)
{
	json_object *cmd = json_tokener_parse(verb);

	if (!current || !cmd) {
		snprintf(why, whylen, "%s", current ? "not JSON" : "no simulated bus is open");
		json_object_put(cmd);
		return NULL;
	}
	catch_up(current);
	json_object *reply = rack_exec(&current->sim, cmd, why, whylen);
	json_object_put(cmd);
	return reply;
}
