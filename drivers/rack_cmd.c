/* The rack's commands and safety targets, and its counters: what the
 * daemon asks of the rack, as opposed to how the cycle does it (rack.c). */
#include <string.h>

#include "drivers/rack_state.h"

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
	if (rk.stopping || (rk.hold_off && f == RF_CHARGE_ENABLE && value != 0))
		return SW_ECANCELED;
	w.count = rack_profile_unscale(&rk.prof, f, value, w.values);
	if (!w.count)
		return SW_EINVAL;
	if (rk.qlen == WRITE_QUEUE)
		return SW_EBUSY;
	rk.q[rk.qlen++] = w;
	rack_kick();
	return SW_OK;
}

/* Answers and drops the queued commands that match (all when f is
 * RF_COUNT). */
static void cancel_queued(enum rack_field f)
{
	size_t kept = 0;

	for (size_t n = 0; n < rk.qlen; n++) {
		struct pending_write w = rk.q[n];
		if (f != RF_COUNT && w.field != f) {
			rk.q[kept++] = w;
			continue;
		}
		if (w.done)
			w.done(SW_ECANCELED, w.arg);
	}
	rk.qlen = kept;
}

void rack_hold_charging_off(bool hold)
{
	if (!rk.open || hold == rk.hold_off)
		return;
	rk.hold_off = hold;
	/* No queue to overflow: one bit per slot, cleared by a read-back, or
	 * by the release (a slot away all along must not turn off, later, a
	 * charge an engineer started after it). */
	for (int i = 0; i < rk.cfg.nslots; i++) {
		if (!hold) {
			rk.slots[i].safe_pending &= ~(1u << RACK_SAFE_CHARGE_OFF);
			continue;
		}
		rk.slots[i].safe_pending |= 1u << RACK_SAFE_CHARGE_OFF;
		rk.slots[i].safe_cycle[RACK_SAFE_CHARGE_OFF] = 0;
	}
	if (!hold)
		return;
	cancel_queued(RF_CHARGE_ENABLE);
	rack_kick();
}

void rack_lock_all(void)
{
	if (!rk.open)
		return;
	rk.stopping = true;
	cancel_queued(RF_COUNT);
	rk.broadcast_due = true;
	rk.broadcast_cycle = 0;
	for (int i = 0; i < rk.cfg.nslots; i++) {
		if (rk.cfg.slots[i].lock_gpio)
			continue;
		rk.slots[i].safe_pending |= 1u << RACK_SAFE_LOCK;
		rk.slots[i].safe_cycle[RACK_SAFE_LOCK] = 0;
	}
	rack_kick();
}

bool rack_all_locked(void)
{
	if (!rk.open)
		return true;
	if (rk.broadcast_due || (rk.busy && rk.kind != JOB_READ))
		return false;
	for (int i = 0; i < rk.cfg.nslots; i++)
		if (rk.slots[i].r.online && (rk.slots[i].safe_pending & (1u << RACK_SAFE_LOCK)))
			return false;
	return true;
}

void rack_probe_soon(int i)
{
	if (!rk.open || i < 0 || i >= rk.cfg.nslots || rk.slots[i].r.online)
		return;
	rk.slots[i].retry_at = 0;
	rk.slots[i].backoff_ms = 500;
}

unsigned rack_safe_pending(int i)
{
	return rk.slots[i].safe_pending;
}

void rack_stats(struct rack_stats *out)
{
	memset(out, 0, sizeof *out);
	if (!rk.open)
		return;
	out->transactions = rack_bus_transactions(rk.bus);
	out->timeouts = rk.timeouts;
	out->errors = rk.errors;
	out->discarded = rack_bus_discarded(rk.bus);
	out->line_us = rack_bus_line_us(rk.bus);
	out->gap_us = rack_bus_gap_us(rk.bus);
	out->bus_up = rack_bus_connected(rk.bus);
	out->slots = rk.cfg.nslots;
	for (int i = 0; i < rk.cfg.nslots; i++)
		out->online += rk.slots[i].r.online;
}
