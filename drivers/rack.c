#include "drivers/rack.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/config_errors.h"
#include "daemon/event.h"
#include "daemon/health.h"
#include "drivers/rack_state.h"
#define BACKOFF_MAX_MS 30000
/* After a timeout the slot is left alone for this many response timeouts
 * more: an answer that comes late must not meet a new request of the same
 * shape, which it would pass for (a read of the same registers answers the
 * same way). An answer later than three timeouts after its request is
 * taken as lost. */
#define LATE_WINDOWS 2

/* What every slot is brought to, whatever else is queued: written, read
 * back, and written again each cycle until it reads as wanted. Charging
 * off comes first. */
static const struct {
	enum rack_field f;
	double value;
	const char *what;
} safe_targets[RACK_SAFE_COUNT] = {
	[RACK_SAFE_CHARGE_OFF] = { RF_CHARGE_ENABLE, 0, "charging off" },
	[RACK_SAFE_LOCK] = { RF_LOCK_CMD, 1, "lock" },
};

struct rack_state rk;

static void publish(enum event_type type, int i)
{
	struct event ev = { .type = type, .slot = i, .slot_no = rk.cfg.slots[i].slot };

	event_publish(&ev);
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
	uint64_t had = r->battery_id;

	/* The time of the request that produced the values, not of the
	 * answer: they were true then. */
	rack_profile_decode(&rk.prof, b, regs, rk.job_at, r);
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
	/* The battery's BMS fell silent while the presence read before it
	 * still says a battery is there: most likely the rider took it
	 * between the two reads. Until presence and health are read again,
	 * in that order, the reading is not whole: judged now, it would be
	 * a battery gone behind a shut door, or a BMS reading 0 V. */
	if (!b->fast && r->have[RF_BATTERY_ID] && r->present && had && !r->battery_id) {
		s->need_slow = true;
		r->health_pending = true;
	}
}

static bool slot_due(int i, int64_t now)
{
	const struct slot_state *s = &rk.slots[i];

	return (s->r.online || now >= s->retry_at) && now >= s->mute_until;
}

static void finish_write(enum sw_err e);

static bool submit(const struct rack_job *job)
{
	rk.job_at = loop_wall_ms();
	rk.busy = rack_bus_submit(rk.bus, job) == SW_OK;
	/* A command taken off the queue is owed its answer either way. */
	if (!rk.busy && (rk.kind == JOB_WRITE || (rk.kind == JOB_VERIFY && !rk.verify_safe)))
		finish_write(SW_EIO);
	return rk.busy;
}

static void write_job(struct rack_job *job, int slot, const struct pending_write *w)
{
	job->unit = (uint8_t)rk.cfg.slots[slot].unit;
	job->op = RACK_WRITE;
	job->addr = rk.prof.f[w->field].addr;
	job->count = (uint16_t)w->count;
	memcpy(job->values, w->values, sizeof job->values);
}

/* The safety write of the first slot that needs one and is due, ahead of
 * every queued command: a stop or a start must not wait behind them. */
static bool pick_safety(struct rack_job *job, int64_t now)
{
	if (rk.broadcast_due && rk.broadcast_cycle != rk.cycle) {
		rk.broadcast_due = false;
		rk.broadcast_cycle = rk.cycle; /* tried again, if lost, next cycle */
		rk.kind = JOB_BROADCAST;
		rk.job_write.count = rack_profile_unscale(&rk.prof, RF_LOCK_CMD, 1, rk.job_write.values);
		rk.job_write.field = RF_LOCK_CMD;
		write_job(job, 0, &rk.job_write);
		job->unit = 0;
		return rk.job_write.count > 0;
	}
	for (int i = 0; i < rk.cfg.nslots; i++) {
		struct slot_state *s = &rk.slots[i];
		if (!s->safe_pending || !slot_due(i, now))
			continue;
		/* Stopping: the broadcast went to all; only what answers now
		 * is worth the wait. */
		if (rk.stopping && !s->r.online)
			continue;
		/* Each target once a cycle, charging off first; one that does
		 * not confirm never holds back the other. */
		enum rack_safe b;
		for (b = 0; b < RACK_SAFE_COUNT; b++)
			if ((s->safe_pending & (1u << b)) && s->safe_cycle[b] != rk.cycle)
				break;
		if (b == RACK_SAFE_COUNT)
			continue;
		struct pending_write w = { .slot = i, .field = safe_targets[b].f };
		w.count = rack_profile_unscale(&rk.prof, w.field, safe_targets[b].value, w.values);
		if (!w.count) { /* the profile was checked at load: cannot happen */
			s->safe_pending &= ~(1u << b);
			continue;
		}
		s->safe_cycle[b] = rk.cycle;
		rk.kind = JOB_SAFE_WRITE;
		rk.job_slot = i;
		rk.job_safe = b;
		rk.job_write = w;
		write_job(job, i, &w);
		return true;
	}
	return false;
}

/* The oldest queued command whose slot is not waiting out a late answer. */
static bool pick_queued(struct rack_job *job, int64_t now)
{
	for (size_t n = 0; n < rk.qlen; n++) {
		if (now < rk.slots[rk.q[n].slot].mute_until)
			continue;
		rk.job_write = rk.q[n];
		memmove(&rk.q[n], &rk.q[n + 1], (rk.qlen - n - 1) * sizeof rk.q[0]);
		rk.qlen--;
		rk.kind = JOB_WRITE;
		rk.job_slot = rk.job_write.slot;
		write_job(job, rk.job_slot, &rk.job_write);
		return true;
	}
	return false;
}

/* One step of the current slot's turn, or the next slot's. */
static bool pick_turn(struct rack_job *job, int64_t now)
{
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
		job->unit = (uint8_t)rk.cfg.slots[rk.cur].unit;
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
			job->op = RACK_WRITE;
			/* Any changing value will do; this one fits every type. */
			rk.heartbeat = (uint16_t)((rk.heartbeat + 1) % (RACK_HEARTBEAT_MAX + 1));
			job->count = (uint16_t)rack_profile_unscale(&rk.prof, RF_HEARTBEAT,
								    rk.heartbeat, job->values);
			job->addr = rk.prof.f[RF_HEARTBEAT].addr;
			s->heartbeat_at = now + rk.cfg.heartbeat_ms;
			return true;
		}
		if (step == 1) {
			if (!s->r.online || s->watchdog_set || !rk.prof.f[RF_WATCHDOG_S].mapped)
				continue;
			rk.kind = JOB_WATCHDOG;
			job->op = RACK_WRITE;
			job->count = (uint16_t)rack_profile_unscale(&rk.prof, RF_WATCHDOG_S,
								    rk.cfg.watchdog_s, job->values);
			job->addr = rk.prof.f[RF_WATCHDOG_S].addr;
			if (!job->count) { /* does not fit this profile's register */
				s->watchdog_set = true;
				continue;
			}
			return true;
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
		job->op = RACK_READ;
		job->fc = blk->fc;
		job->addr = blk->addr;
		job->count = blk->count;
		return true;
	}
	return false;
}

/* Picks the next job and hands it to the worker; false when there is
 * nothing left to do until the next cycle. A write is read back before
 * anything else touches the slot. */
static bool next_job(void)
{
	int64_t now = loop_now();
	struct rack_job job = { .timeout_ms = (uint16_t)rk.cfg.response_timeout_ms };

	if (rk.verify_due) {
		const struct rack_field_map *m = &rk.prof.f[rk.job_write.field];
		rk.verify_due = false;
		rk.kind = JOB_VERIFY;
		job.unit = (uint8_t)rk.cfg.slots[rk.job_slot].unit;
		job.op = RACK_READ;
		job.fc = 3; /* commands are holding registers */
		job.addr = m->addr;
		job.count = (uint16_t)rk.job_write.count;
		return submit(&job);
	}
	if (pick_safety(&job, now))
		return submit(&job);
	if (!rk.stopping && (pick_queued(&job, now) || pick_turn(&job, now)))
		return submit(&job);
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

/* Between cycles the worker is idle: something urgent starts at once, and
 * the cycle timer is re-armed when the worker runs out of work. */
void rack_kick(void)
{
	if (!rk.busy && loop_timer_armed(&rk.cycle_timer) && next_job())
		loop_timer_cancel(&rk.cycle_timer);
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
		publish(EV_SLOT_OFFLINE, i);
	} else if (!s->r.online && e != SW_EIO) {
		s->backoff_ms = s->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : s->backoff_ms * 2;
		s->retry_at = loop_now() + s->backoff_ms;
	}
	/* With the line down no slot was asked: the bus's own reconnect
	 * backoff (at most 2 s) paces the tries, not the slots'. */
	if (e == SW_EIO)
		s->retry_at = 0;
}

/* A slot is online again when its fast registers were read: a write it
 * answered says nothing yet of its door or battery. Returns whether it
 * came back. */
static bool slot_answered(int i)
{
	struct slot_state *s = &rk.slots[i];
	const struct rack_slot_config *sc = &rk.cfg.slots[i];

	s->misses = 0;
	if (!s->r.online && rk.kind == JOB_READ && rk.prof.blocks[rk.job_block].fast) {
		s->r.online = true;
		s->watchdog_set = false;
		s->need_slow = true;
		s->heartbeat_at = 0;
		/* A controller that was away may have restarted with its own
		 * defaults: under the emergency stop, confirm charging off
		 * again. */
		if (rk.hold_off)
			s->safe_pending |= 1u << RACK_SAFE_CHARGE_OFF;
		log_cond(&s->cond, 0, LOG_NOTICE, "rack: slot %d (unit %d) online", sc->slot, sc->unit);
		report_health();
		return true;
	}
	return false;
}

/* A read-back of the last write: the command is done only when the
 * register holds what was written. */
static enum sw_err verified(const struct rack_result *r)
{
	if (r->err != SW_OK)
		return r->err;
	if (memcmp(r->regs, rk.job_write.values, rk.job_write.count * sizeof r->regs[0]) != 0)
		return SW_EREADBACK;
	return SW_OK;
}

static void safety_done(int i, enum sw_err e)
{
	struct slot_state *s = &rk.slots[i];
	const char *what = safe_targets[rk.job_safe].what;

	if (e == SW_OK) {
		s->safe_pending &= ~(1u << rk.job_safe);
		if (!s->safe_pending)
			log_cond(&s->safe_cond, 0, LOG_NOTICE, "rack: slot %d: %s confirmed",
				 rk.cfg.slots[i].slot, what);
		return;
	}
	/* Stays pending: written again next cycle, or when it answers. */
	log_cond(&s->safe_cond, 1, LOG_WARNING, "rack: slot %d: %s not confirmed yet (%s); retrying",
		 rk.cfg.slots[i].slot, what, sw_strerror(e));
}

static void finish_write(enum sw_err e)
{
	/* A charge-on that the emergency stop overtook did not stand. */
	if (e == SW_OK && rk.hold_off && rk.job_write.field == RF_CHARGE_ENABLE)
		e = SW_ECANCELED;
	/* A lock command read back is the door's latest decision: the lock
	 * target from the start must not undo an engineer's unlock. Never
	 * while stopping, when every door is to end locked. */
	if (e == SW_OK && rk.job_write.field == RF_LOCK_CMD && !rk.stopping)
		rk.slots[rk.job_write.slot].safe_pending &= ~(1u << RACK_SAFE_LOCK);
	if (rk.job_write.done)
		rk.job_write.done(e, rk.job_write.arg);
}

/* What a finished job means for its slot and for the command behind it. */
static void job_done(int i, const struct rack_result *r)
{
	switch (rk.kind) {
	case JOB_READ:
		if (r->err == SW_OK)
			decode_block(&rk.slots[i], &rk.prof.blocks[rk.job_block], r->regs);
		break;
	case JOB_WATCHDOG:
		rk.slots[i].watchdog_set |= r->err == SW_OK;
		break;
	case JOB_SAFE_WRITE:
	case JOB_WRITE:
		rk.verify_due = r->err == SW_OK;
		rk.verify_safe = rk.kind == JOB_SAFE_WRITE;
		if (r->err == SW_OK)
			break;
		if (rk.kind == JOB_SAFE_WRITE)
			safety_done(i, r->err);
		else
			finish_write(r->err);
		break;
	case JOB_VERIFY:
		if (rk.verify_safe)
			safety_done(i, verified(r));
		else
			finish_write(verified(r));
		break;
	default:
		break;
	}
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
	bool back = false;
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
	if (rk.kind == JOB_BROADCAST) {
		/* Nobody answers a broadcast; the slots' own writes confirm.
		 * One that did not leave (no device yet) goes next cycle. */
		rk.broadcast_due |= r->err == SW_EIO;
	} else if (r->err == SW_OK) {
		back = slot_answered(i);
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
		/* Silence, or an answer to an earlier request, leaves a late
		 * answer possibly on its way; a damaged one (SW_EINVAL) does not. */
		if (r->err == SW_ETIMEDOUT)
			rk.slots[i].mute_until = loop_now() + LATE_WINDOWS * rk.cfg.response_timeout_ms;
	}
	job_done(i, r);
	/* After the decode: a subscriber sees the values that came back. */
	if (back)
		publish(EV_SLOT_ONLINE, i);
	if (r->err == SW_OK && rk.kind == JOB_READ) /* writes change no reading */
		publish(EV_SLOT_READING, i);
	free(r);
	pump();
}

void rack_absent(void)
{
	health_set("rack", HEALTH_DISABLED, "no rack configured");
}

enum sw_err rack_open(const struct rack_config *cfg, char *why, size_t whylen)
{
	struct config_errors *errs = malloc(sizeof *errs);
	struct rack_bus_config bc = { 0 };

	if (!errs)
		return SW_ENOMEM;
	memset(&rk, 0, sizeof rk);
	/* Cycle 1 from the start, with no turn under way: safety work that
	 * comes before the first cycle (an emergency stop pressed at start)
	 * goes out at once, not after a cycle of reads. */
	rk.cycle = 1;
	rk.cur = cfg->nslots;
	rk.cfg = *cfg;
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
	/* Slots start offline and due at once: the first cycle probes all.
	 * Before anything else moves, every door is locked: a broadcast
	 * first, then each controller written and read back. No decision
	 * holds a door open across a restart (daemon/DESIGN.md, Safety). */
	rk.broadcast_due = true;
	for (int i = 0; i < cfg->nslots; i++) {
		rk.slots[i].backoff_ms = 500;
		if (!cfg->slots[i].lock_gpio)
			rk.slots[i].safe_pending = 1u << RACK_SAFE_LOCK;
	}
	loop_timer_init(&rk.cycle_timer, start_cycle, NULL);
	loop_timer_arm(&rk.cycle_timer, 0);
	rk.open = true;
	health_set("rack", HEALTH_DEGRADED, "starting: %d slots on %s", cfg->nslots, cfg->device);
	return SW_OK;
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
	if (rk.busy && (rk.kind == JOB_WRITE || (rk.kind == JOB_VERIFY && !rk.verify_safe)) &&
	    rk.job_write.done)
		rk.job_write.done(SW_EIO, rk.job_write.arg);
	for (size_t n = 0; n < rk.qlen; n++)
		if (rk.q[n].done)
			rk.q[n].done(SW_EIO, rk.q[n].arg);
	memset(&rk, 0, sizeof rk);
}
