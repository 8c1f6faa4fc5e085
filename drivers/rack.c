#include "drivers/rack.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "daemon/config.h"
#include "daemon/health.h"
#include "daemon/log.h"
#include "daemon/loop.h"
#include "drivers/rack_bus.h"

#define WRITE_QUEUE 64
#define BACKOFF_MAX_MS 30000

enum job_kind { JOB_WRITE, JOB_HEARTBEAT, JOB_WATCHDOG, JOB_READ };

struct pending_write {
	int slot;
	enum rack_field field;
	uint16_t values[4];
	unsigned count;
	rack_done_fn done;
	void *arg;
};

struct slot_state {
	struct rack_reading r;
	int misses;
	int64_t retry_at;       /* monotonic ms; offline slots are probed then */
	int backoff_ms;
	int64_t heartbeat_at;   /* monotonic ms the next heartbeat is due */
	bool watchdog_set;      /* rack.watchdog_s written since it came online */
	bool need_slow;         /* read the health registers this turn */
	struct log_cond cond;
};

static struct {
	struct rack_config cfg;
	struct rack_profile prof;
	struct rack_bus *bus;
	rack_update_fn on_update;
	void *arg;
	struct slot_state slots[RACK_MAX_SLOTS];
	struct pending_write q[WRITE_QUEUE];
	size_t qhead, qlen;
	/* the cycle in progress */
	int cur;                /* slot index whose turn it is */
	size_t step;            /* next step of its turn: 0 heartbeat, 1 watchdog, 2.. blocks */
	bool turn_over;
	bool slow_turn;         /* this turn reads the health registers too */
	uint64_t cycle;
	int64_t cycle_start;
	struct loop_timer cycle_timer;
	/* the job with the worker */
	bool busy;
	enum job_kind kind;
	int job_slot;
	size_t job_block;
	struct pending_write job_write;
	uint16_t heartbeat;
	uint64_t timeouts, errors, line_us;
	struct log_cond bus_cond;
	bool open;
} rk;

static int64_t wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void report_health(void)
{
	int online = 0;

	for (int i = 0; i < rk.cfg.nslots; i++)
		online += rk.slots[i].r.online;
	if (!rack_bus_connected(rk.bus) && online == 0)
		health_set("rack", HEALTH_FAILED, "%s: no bus", rk.cfg.device);
	else if (online == rk.cfg.nslots)
		health_set("rack", HEALTH_OK, "%d slots online, profile %s", online, rk.prof.name);
	else
		health_set("rack", online ? HEALTH_DEGRADED : HEALTH_FAILED, "%d of %d slots offline",
			   rk.cfg.nslots - online, rk.cfg.nslots);
}

static void decode_block(struct slot_state *s, const struct rack_block *b, const uint16_t *regs)
{
	struct rack_reading *r = &s->r;
	bool was_present = r->present;
	int64_t raw;

	for (int f = 0; f < RF_FIRST_WRITABLE; f++) {
		if (!rack_profile_raw(&rk.prof, (enum rack_field)f, b, regs, &raw))
			continue;
		double v = rack_profile_scale(&rk.prof, (enum rack_field)f, raw);
		r->have[f] = true;
		switch ((enum rack_field)f) {
		case RF_PRESENT: r->present = v >= 0.5; break;
		case RF_DOOR: r->door_open = v >= 0.5; break;
		case RF_LOCK: r->locked = v >= 0.5; break;
		case RF_STATE: r->state = (int)v; break;
		case RF_FAULT_BITS: r->fault_bits = (uint64_t)raw; break;
		case RF_BATTERY_ID: r->battery_id = (uint64_t)raw; break;
		case RF_VOLTAGE: r->voltage = v; break;
		case RF_CURRENT: r->current = v; break;
		case RF_TEMPERATURE: r->temperature = v; break;
		case RF_SOC: r->soc = v; break;
		case RF_SOH: r->soh = v; break;
		case RF_CYCLES: r->cycles = (int64_t)v; break;
		case RF_RESISTANCE: r->resistance = v; break;
		case RF_CELL_MIN: r->cell_min = v; break;
		case RF_CELL_MAX: r->cell_max = v; break;
		case RF_FW_VERSION: r->fw_version = (int)v; break;
		default: break;
		}
	}
	if (b->fast)
		r->fast_at = wall_ms();
	else
		r->slow_at = wall_ms();
	/* A battery came or went: its identity and health are wanted now,
	 * not at the next slow cycle. */
	if (b->fast && r->present != was_present) {
		s->need_slow = true;
		r->health_pending = r->present;
	}
	/* The plan puts the health blocks last: after the last one the
	 * battery is fully known. */
	if (!b->fast && b == &rk.prof.blocks[rk.prof.nblocks - 1])
		r->health_pending = false;
}

static void start_cycle(void *arg);

static bool slot_due(int i, int64_t now)
{
	const struct slot_state *s = &rk.slots[i];

	return s->r.online || now >= s->retry_at;
}

/* Picks the next job and hands it to the worker; false when the cycle is
 * over (nothing left to do until the next one). */
static bool submit(const struct rack_job *job)
{
	rk.busy = rack_bus_submit(rk.bus, job) == SW_OK;
	return rk.busy;
}

static bool next_job(void)
{
	int64_t now = loop_now();
	struct rack_job job = { .timeout_ms = (uint16_t)rk.cfg.response_timeout_ms };

	if (rk.qlen > 0) {
		rk.job_write = rk.q[rk.qhead];
		rk.qhead = (rk.qhead + 1) % WRITE_QUEUE;
		rk.qlen--;
		rk.kind = JOB_WRITE;
		rk.job_slot = rk.job_write.slot;
		job.unit = (uint8_t)rk.cfg.slots[rk.job_slot].unit;
		job.op = RACK_WRITE;
		job.addr = rk.prof.f[rk.job_write.field].addr;
		job.count = (uint16_t)rk.job_write.count;
		memcpy(job.values, rk.job_write.values, sizeof job.values);
		return submit(&job);
	}
	while (rk.cur < rk.cfg.nslots) {
		struct slot_state *s = &rk.slots[rk.cur];
		if (rk.turn_over || !slot_due(rk.cur, now)) {
			rk.cur++;
			rk.step = 0;
			rk.turn_over = false;
			continue;
		}
		size_t step = rk.step++;
		rk.job_slot = rk.cur;
		job.unit = (uint8_t)rk.cfg.slots[rk.cur].unit;
		if (step == 0) {
			rk.slow_turn = s->r.online &&
				       (rk.cycle % (uint64_t)rk.cfg.slow_every == 0 || s->need_slow);
			if (rk.slow_turn)
				s->need_slow = false;
			/* Feeds the controller's master-lost watchdog (and
			 * clears its latched master_lost fault). */
			if (!s->r.online || now < s->heartbeat_at || !rk.prof.f[RF_HEARTBEAT].mapped)
				continue;
			rk.kind = JOB_HEARTBEAT;
			job.op = RACK_WRITE;
			/* Any changing value will do; this one fits every type. */
			rk.heartbeat = (uint16_t)((rk.heartbeat + 1) % 10000);
			job.count = (uint16_t)rack_profile_unscale(&rk.prof, RF_HEARTBEAT,
								   rk.heartbeat, job.values);
			job.addr = rk.prof.f[RF_HEARTBEAT].addr;
			s->heartbeat_at = now + rk.cfg.heartbeat_ms;
			return submit(&job);
		}
		if (step == 1) {
			if (!s->r.online || s->watchdog_set || !rk.prof.f[RF_WATCHDOG_S].mapped)
				continue;
			rk.kind = JOB_WATCHDOG;
			job.op = RACK_WRITE;
			job.count = (uint16_t)rack_profile_unscale(&rk.prof, RF_WATCHDOG_S,
								   rk.cfg.watchdog_s, job.values);
			job.addr = rk.prof.f[RF_WATCHDOG_S].addr;
			if (!job.count) { /* does not fit this profile's register */
				s->watchdog_set = true;
				continue;
			}
			return submit(&job);
		}
		size_t b = step - 2;
		if (b >= rk.prof.nblocks) {
			rk.turn_over = true;
			continue;
		}
		const struct rack_block *blk = &rk.prof.blocks[b];
		/* An offline slot is only probed with its first (fast) read. */
		if ((!blk->fast && !rk.slow_turn) || (!s->r.online && b > 0))
			continue;
		rk.kind = JOB_READ;
		rk.job_block = b;
		job.op = RACK_READ;
		job.fc = blk->fc;
		job.addr = blk->addr;
		job.count = blk->count;
		return submit(&job);
	}
	return false;
}

static void end_cycle(void)
{
	int64_t elapsed = loop_now() - rk.cycle_start;
	int64_t wait = rk.cfg.poll_interval_ms - elapsed;

	/* With the bus gone every job fails at once: do not spin on it. */
	if (!rack_bus_connected(rk.bus) && wait < rk.cfg.reconnect_ms)
		wait = rk.cfg.reconnect_ms;
	loop_timer_arm(&rk.cycle_timer, wait > 0 ? wait : 0);
}

static void pump(void)
{
	if (!next_job())
		end_cycle();
}

static void start_cycle(void *arg)
{
	(void)arg;
	rk.cycle++;
	rk.cycle_start = loop_now();
	rk.cur = 0;
	rk.step = 0;
	rk.turn_over = false;
	pump();
}

static void slot_missed(int i, enum sw_err e)
{
	struct slot_state *s = &rk.slots[i];
	const struct rack_slot_config *sc = &rk.cfg.slots[i];

	s->misses++;
	if (i == rk.cur) {
		rk.turn_over = true; /* a slot that does not answer ends its turn */
		s->need_slow |= rk.slow_turn;
	}
	if (s->r.online && s->misses >= rk.cfg.offline_after) {
		s->r.online = false;
		s->backoff_ms = 1000;
		s->retry_at = loop_now() + s->backoff_ms;
		log_cond(&s->cond, 1, LOG_WARNING, "rack: slot %d (unit %d) offline after %d misses: %s",
			 sc->slot, sc->unit, s->misses, sw_strerror(e));
		report_health();
		rk.on_update(i, rk.arg);
	} else if (!s->r.online) {
		s->backoff_ms = s->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : s->backoff_ms * 2;
		s->retry_at = loop_now() + s->backoff_ms;
	}
}

static void slot_answered(int i)
{
	struct slot_state *s = &rk.slots[i];
	const struct rack_slot_config *sc = &rk.cfg.slots[i];

	s->misses = 0;
	if (!s->r.online) {
		s->r.online = true;
		s->watchdog_set = false;
		s->need_slow = true;
		s->heartbeat_at = 0;
		log_cond(&s->cond, 0, LOG_NOTICE, "rack: slot %d (unit %d) online", sc->slot, sc->unit);
		report_health();
	}
}

/* Adds the line time the finished transaction needed at the least: the
 * request and the answer (RTU frames: address, function, data, CRC), each
 * followed by the 3.5-character silence, at 11 bits a character. */
static void account_line(const struct rack_result *r)
{
	unsigned req, resp, words;

	if (r->err == SW_EIO)
		return; /* nothing went over the line */
	if (rk.kind == JOB_READ) {
		req = 8;                                      /* 1+1+2+2+2 */
		resp = 5 + 2u * rk.prof.blocks[rk.job_block].count; /* 1+1+1+2n+2 */
	} else {
		words = rk.kind == JOB_WRITE ? rk.job_write.count : 1;
		req = words == 1 ? 8 : 9 + 2 * words;         /* 06, or 16 */
		resp = 8;
	}
	if (r->err == SW_ETIMEDOUT)
		resp = 0;
	rk.line_us += (uint64_t)((req + resp) * 11 * 1000000ull / (uint64_t)rk.cfg.baud) +
		      2ull * rack_bus_gap_us(rk.bus);
}

static void on_result(int fd, short revents, void *arg)
{
	struct rack_result *r = malloc(sizeof *r);

	(void)fd;
	(void)revents;
	(void)arg;
	if (!r || !rack_bus_result(rk.bus, r)) {
		free(r);
		return;
	}
	rk.busy = false;
	int i = rk.job_slot;
	account_line(r);
	if (r->err == SW_EIO)
		log_cond(&rk.bus_cond, 1, LOG_ERR, "rack: %s: serial device gone or not there; retrying",
			 rk.cfg.device);
	else if (log_cond(&rk.bus_cond, 0, LOG_NOTICE, "rack: %s: serial device back", rk.cfg.device))
		for (int k = 0; k < rk.cfg.nslots; k++) {
			/* The line is back: probe every slot now rather than
			 * at the end of backoffs grown while it was gone. */
			rk.slots[k].retry_at = 0;
			rk.slots[k].backoff_ms = 500;
		}
	if (r->err == SW_ETIMEDOUT)
		rk.timeouts++;
	else if (r->err != SW_OK)
		rk.errors++;
	if (r->err == SW_OK) {
		slot_answered(i);
		if (rk.kind == JOB_READ) {
			const struct rack_block *b = &rk.prof.blocks[rk.job_block];
			decode_block(&rk.slots[i], b, r->regs);
		} else if (rk.kind == JOB_WATCHDOG) {
			rk.slots[i].watchdog_set = true;
		}
		rk.on_update(i, rk.arg);
	} else if (r->err == SW_EIO) {
		/* The bus is down: every slot missed this cycle, which ends
		 * here; the next one starts after rack.reconnect_ms. */
		for (int k = 0; k < rk.cfg.nslots; k++)
			if (rk.slots[k].r.online || k == i)
				slot_missed(k, r->err);
		rk.cur = rk.cfg.nslots;
		report_health();
	} else {
		slot_missed(i, r->err);
	}
	if (rk.kind == JOB_WRITE && rk.job_write.done)
		rk.job_write.done(r->err, rk.job_write.arg);
	free(r);
	pump();
}

enum sw_err rack_open(const struct rack_config *cfg, rack_update_fn on_update, void *arg,
		      char *why, size_t whylen)
{
	struct config_errors *errs = malloc(sizeof *errs);
	struct rack_bus_config bc = { 0 };

	if (!errs)
		return SW_ENOMEM;
	memset(&rk, 0, sizeof rk);
	rk.cfg = *cfg;
	rk.on_update = on_update;
	rk.arg = arg;
	if (rack_profile_load(cfg->profile, &rk.prof, errs) < 0) {
		snprintf(why, whylen, "profile %s", errs->msg[0]);
		free(errs);
		return SW_EINVAL;
	}
	free(errs);
	snprintf(bc.device, sizeof bc.device, "%s", cfg->device);
	bc.baud = cfg->baud;
	bc.parity = cfg->parity;
	bc.data_bits = cfg->data_bits;
	bc.stop_bits = cfg->stop_bits;
	bc.rs485 = cfg->rs485;
	bc.reconnect_ms = cfg->reconnect_ms;
	enum sw_err e = rack_bus_open(&bc, &rk.bus);
	if (e != SW_OK || loop_add_fd(rack_bus_fd(rk.bus), POLLIN, on_result, NULL) < 0) {
		snprintf(why, whylen, "cannot start the bus worker: %s", sw_strerror(e ? e : SW_EIO));
		rack_bus_close(rk.bus);
		rk.bus = NULL;
		return e ? e : SW_EIO;
	}
	/* Slots start offline and due at once: the first cycle probes all. */
	for (int i = 0; i < cfg->nslots; i++)
		rk.slots[i].backoff_ms = 500;
	loop_timer_init(&rk.cycle_timer, start_cycle, NULL);
	loop_timer_arm(&rk.cycle_timer, 0);
	rk.open = true;
	health_set("rack", HEALTH_DEGRADED, "starting: %d slots on %s", cfg->nslots, cfg->device);
	return SW_OK;
}

const struct rack_reading *rack_reading(int i)
{
	return &rk.slots[i].r;
}

const struct rack_profile *rack_profile(void)
{
	return &rk.prof;
}

enum sw_err rack_write(int i, enum rack_field f, double value, rack_done_fn done, void *arg)
{
	struct pending_write w = { .slot = i, .field = f, .done = done, .arg = arg };

	if (!rk.open || i < 0 || i >= rk.cfg.nslots || f < RF_FIRST_WRITABLE || f >= RF_COUNT)
		return SW_EINVAL;
	w.count = rack_profile_unscale(&rk.prof, f, value, w.values);
	if (!w.count)
		return SW_EINVAL;
	if (rk.qlen == WRITE_QUEUE)
		return SW_EBUSY;
	rk.q[(rk.qhead + rk.qlen) % WRITE_QUEUE] = w;
	rk.qlen++;
	/* Between cycles the worker is idle: start the write at once; the
	 * cycle timer is re-armed when it is done. */
	if (loop_timer_armed(&rk.cycle_timer) && next_job())
		loop_timer_cancel(&rk.cycle_timer);
	return SW_OK;
}

void rack_stats(struct rack_stats *out)
{
	memset(out, 0, sizeof *out);
	if (!rk.open)
		return;
	out->transactions = rack_bus_transactions(rk.bus);
	out->timeouts = rk.timeouts;
	out->errors = rk.errors;
	out->line_us = rk.line_us;
	out->gap_us = rack_bus_gap_us(rk.bus);
	out->bus_up = rack_bus_connected(rk.bus);
	out->slots = rk.cfg.nslots;
	for (int i = 0; i < rk.cfg.nslots; i++)
		out->online += rk.slots[i].r.online;
}

void rack_close(void)
{
	if (!rk.open)
		return;
	loop_timer_cancel(&rk.cycle_timer);
	loop_del_fd(rack_bus_fd(rk.bus));
	rack_bus_close(rk.bus);
	/* Every write still owed an answer gets one, the one with the worker
	 * included: the bus is gone. */
	if (rk.busy && rk.kind == JOB_WRITE && rk.job_write.done)
		rk.job_write.done(SW_EIO, rk.job_write.arg);
	for (size_t n = 0; n < rk.qlen; n++) {
		struct pending_write *w = &rk.q[(rk.qhead + n) % WRITE_QUEUE];
		if (w->done)
			w->done(SW_EIO, w->arg);
	}
	memset(&rk, 0, sizeof rk);
}
