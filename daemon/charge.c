#include "daemon/charge.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "daemon/event.h"
#include "daemon/log.h"
#include "daemon/loop.h"
#include "daemon/slots.h"
#include "drivers/rack.h"

static struct config_charge cc;
static charge_veto_fn veto;
static bool running;
/* When charging was last asked for on each slot: a start the controller
 * refused (its own fault, the emergency stop) is retried after retry_s,
 * not on every reading. */
static int64_t asked_at[RACK_MAX_SLOTS];

static void started(enum sw_err e, void *arg)
{
	int i = (int)(intptr_t)arg;

	if (e != SW_OK && e != SW_ECANCELED)
		log_msg(LOG_NOTICE, "charge: slot %d did not take charging on: %s", slots_number(i),
			sw_strerror(e));
}

/* Charging on, for an idle battery in a slot nobody holds (a slot in a
 * swap or a job has its door about to move) and no open fault of its own
 * blocks (a detector stopped its charging: daemon/FAULTS.md): the current limit first, so
 * that the charger never starts at the last limit someone left. */
void charge_set_veto(charge_veto_fn fn)
{
	veto = fn;
}

static void start_charging(int i)
{
	int64_t now = loop_now();
	const struct rack_reading *r = rack_reading(i);

	if (slots_holder(i, NULL) || r->door_open || !r->locked ||
	    (veto && veto(slots_number(i))))
		return;
	if (asked_at[i] && now - asked_at[i] < (int64_t)cc.retry_s * 1000)
		return;
	asked_at[i] = now;
	if (rack_write(i, RF_CURRENT_LIMIT, cc.current_a, NULL, NULL) == SW_OK)
		rack_write(i, RF_CHARGE_ENABLE, 1, started, (void *)(intptr_t)i);
}

static void on_slot(const struct event *ev, void *arg)
{
	(void)arg;
	if (!running || ev->slot < 0)
		return;
	enum slot_state st = slots_state(ev->slot);
	if (st == SLOT_IDLE && cc.automatic)
		start_charging(ev->slot);
	else if (ev->type == EV_SLOT_STATE && ev->to == SLOT_QUARANTINED)
		rack_write(ev->slot, RF_CHARGE_ENABLE, 0, NULL, NULL);
	if (st != SLOT_IDLE)
		asked_at[ev->slot] = 0;
}

static const enum event_type events[] = { EV_SLOT_STATE, EV_SLOT_READING };

enum sw_err charge_start(const struct config *cfg, struct store *st, char *why, size_t whylen)
{
	(void)st;
	cc = cfg->charge;
	if (!cfg->rack.enabled)
		return SW_OK;
	for (size_t k = 0; k < sizeof events / sizeof events[0]; k++) {
		enum sw_err e = event_subscribe(events[k], on_slot, NULL);
		if (e != SW_OK) {
			snprintf(why, whylen, "cannot subscribe to %s", event_name(events[k]));
			charge_stop();
			return e;
		}
	}
	for (int i = 0; i < RACK_MAX_SLOTS; i++)
		asked_at[i] = 0;
	running = true;
	return SW_OK;
}

void charge_reconfigure(const struct config *cfg)
{
	cc = cfg->charge;
}

void charge_stop(void)
{
	running = false;
	for (size_t k = 0; k < sizeof events / sizeof events[0]; k++)
		event_unsubscribe(events[k], on_slot, NULL);
}
