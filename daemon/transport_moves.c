/* The batteries a transport job moves: each one recorded in the job and
 * the battery ledger as its slot tells, a battery dropped off unfit
 * quarantined, and the job's end (transport.completed) with what its slots
 * hold then compared with what they held at its start. */
#include "daemon/transport_priv.h"

#include <inttypes.h>
#include <stdio.h>

#include "daemon/event.h"
#include "daemon/fault.h"
#include "daemon/ledger.h"
#include "daemon/log.h"
#include "daemon/slots.h"
#include "daemon/store_transport.h"
#include "drivers/rack.h"

/* Net moves of one job: at most what its slots held before and after. */
#define MOVES_MAX (2 * RACK_MAX_SLOTS)

bool transport_slot_holds(int i, uint64_t *battery)
{
	const struct rack_reading *r = rack_reading(i);

	if (!r->online || !r->fast_at || (r->present && r->health_pending))
		return false;
	*battery = r->present && r->have[RF_BATTERY_ID] ? r->battery_id : 0;
	return true;
}

static json_object *battery_name(uint64_t id)
{
	char name[32];

	snprintf(name, sizeof name, "BAT-%05" PRIu64, id);
	return json_object_new_string(name);
}

/* Battery b arrived in slot index i: the ledger's row, and its quarantine
 * (battery.quarantined) when unfit, in the caller's transaction. Returns
 * the quarantine's reason, NULL when none was decided now. */
static const char *record_in(int i, uint64_t b)
{
	const struct rack_reading *r = rack_reading(i);
	bool read = r->online && r->present && !r->health_pending && r->battery_id == b;
	int slot = slots_number(i);
	struct store_battery had;
	bool found;

	store_battery_in_slot(transport_store, b, slot, read && r->have[RF_SOC] ? r->soc : -1,
			      read && r->have[RF_SOH] ? r->soh : -1, r->cycles, r->slow_at, NULL);
	const char *why = read ? ledger_unfit(r, transport_quarantine_soh) : NULL;
	if (!why || (store_battery_get(transport_store, b, &had, &found) == SW_OK && found &&
		     had.quarantined))
		return NULL;
	json_object *f = json_object_new_object();
	json_object_object_add(f, "battery", battery_name(b));
	json_object_object_add(f, "slot", json_object_new_int(slot));
	json_object_object_add(f, "reason", json_object_new_string(why));
	store_battery_quarantine(transport_store, b, true, why,
				 &(struct store_event){ "battery.quarantined", transport_boot, f });
	json_object_put(f);
	return why;
}

static void publish_quarantined(int i, uint64_t b, const char *why)
{
	struct event ev = { .type = EV_BATTERY_QUARANTINED, .slot = i, .slot_no = slots_number(i),
			    .battery = b, .what = why };

	log_msg(LOG_NOTICE, "battery BAT-%05" PRIu64 " quarantined in slot %d: %s", b,
		slots_number(i), why);
	event_publish(&ev);
}

void transport_moved(int64_t id, const char *job, int i, uint64_t b, bool in)
{
	const char *why = NULL;

	store_tx_begin(transport_store);
	store_transport_move(transport_store, id, b, in, slots_number(i), NULL);
	if (in)
		why = record_in(i, b);
	else
		store_battery_left(transport_store, b, "transport", 0, job, NULL);
	if (store_tx_commit(transport_store, in ? "recording a drop-off" : "recording a pickup") != SW_OK)
		return; /* the job's end compares its slots with their start, and records it then */
	log_msg(LOG_INFO, "transport %s: BAT-%05" PRIu64 " %s slot %d", job, b,
		in ? "dropped off in" : "picked up from", slots_number(i));
	if (why)
		publish_quarantined(i, b, why);
}

static bool in_set(const uint64_t *set, int n, uint64_t b)
{
	for (int k = 0; k < n; k++)
		if (set[k] == b)
			return true;
	return false;
}

/* What the end found in the slots, and the quarantines it decided, which
 * are published once they are on disk. */
struct found {
	bool known[RACK_MAX_SLOTS];
	uint64_t now[RACK_MAX_SLOTS], before[RACK_MAX_SLOTS], all_now[RACK_MAX_SLOTS];
	int nbefore, nnow;
	int qi[RACK_MAX_SLOTS];
	uint64_t qb[RACK_MAX_SLOTS];
	const char *why[RACK_MAX_SLOTS];
	int nq;
};

/* Records, in the caller's transaction, what the slots' readings show
 * and the events did not: a battery gone that was there at the start, a
 * battery there that was not. A slot that cannot be read is left out: its
 * batteries stay where the ledger last saw them. */
static void reconcile(int64_t id, const char *job, const struct transport_slot *s, int n,
		      struct found *fd)
{
	uint64_t outs[MOVES_MAX], ins[MOVES_MAX];
	int nout, nin;

	if (store_transport_moved(transport_store, id, false, outs, MOVES_MAX, &nout) != SW_OK ||
	    store_transport_moved(transport_store, id, true, ins, MOVES_MAX, &nin) != SW_OK)
		return;
	for (int k = 0; k < n; k++) {
		fd->known[k] = transport_slot_holds(s[k].i, &fd->now[k]);
		if (fd->known[k] && s[k].battery)
			fd->before[fd->nbefore++] = s[k].battery;
		if (fd->known[k] && fd->now[k])
			fd->all_now[fd->nnow++] = fd->now[k];
	}
	for (int k = 0; k < n; k++) {
		uint64_t b = s[k].battery;
		int slot = slots_number(s[k].i);
		if (fd->known[k] && b && !in_set(fd->all_now, fd->nnow, b) && !in_set(outs, nout, b)) {
			store_transport_move(transport_store, id, b, false, slot, NULL);
			store_battery_left(transport_store, b, "transport", 0, job, NULL);
		}
		b = fd->now[k];
		if (!fd->known[k] || !b)
			continue;
		/* recorded already: one of the start's not taken (or back), a newcomer in */
		if (in_set(fd->before, fd->nbefore, b) ? !in_set(outs, nout, b) : in_set(ins, nin, b))
			continue;
		store_transport_move(transport_store, id, b, true, slot, NULL);
		const char *why = record_in(s[k].i, b);
		if (why) {
			fd->qi[fd->nq] = s[k].i;
			fd->qb[fd->nq] = b;
			fd->why[fd->nq++] = why;
		}
	}
}

/* transport.completed (mqtt.md): the job and the batteries it moved; and
 * the slots, and why it ended, beyond the contract's fields. */
static enum sw_err add_completed(int64_t id, const char *job, const char *why,
				 const struct transport_slot *s, int n)
{
	uint64_t out[MOVES_MAX], in[MOVES_MAX];
	int nout, nin;
	enum sw_err e = store_transport_moved(transport_store, id, false, out, MOVES_MAX, &nout);

	if (e == SW_OK)
		e = store_transport_moved(transport_store, id, true, in, MOVES_MAX, &nin);
	if (e != SW_OK)
		return e;
	json_object *f = json_object_new_object(), *po = json_object_new_array(),
		    *pi = json_object_new_array(), *sl = json_object_new_array();
	for (int k = 0; k < nout; k++)
		json_object_array_add(po, battery_name(out[k]));
	for (int k = 0; k < nin; k++)
		json_object_array_add(pi, battery_name(in[k]));
	for (int k = 0; k < n; k++)
		json_object_array_add(sl, json_object_new_int(slots_number(s[k].i)));
	json_object_object_add(f, "job", json_object_new_string(job));
	json_object_object_add(f, "picked_up", po);
	json_object_object_add(f, "dropped_off", pi);
	json_object_object_add(f, "slots", sl);
	json_object_object_add(f, "reason", json_object_new_string(why));
	e = store_transport_end(transport_store, id, why,
				&(struct store_event){ "transport.completed", transport_boot, f });
	json_object_put(f);
	return e;
}

enum sw_err transport_record_end(int64_t id, const char *job, const char *why,
				 const struct transport_slot *s, int n)
{
	struct found fd = { 0 };
	char detail[96];

	store_tx_begin(transport_store);
	reconcile(id, job, s, n, &fd);
	/* a door that did not lock is taken out of service, so that no swap
	 * opens onto it, until staff bring it back */
	snprintf(detail, sizeof detail, "did not lock at the end of transport job %s", job);
	for (int k = 0; k < n; k++)
		if (s[k].lock_failed)
			store_slot_service(transport_store, slots_number(s[k].i), detail, "transport", NULL);
	enum sw_err e = add_completed(id, job, why, s, n);
	enum sw_err ce = store_tx_commit(transport_store, "completing a transport job");
	if (e != SW_OK || ce != SW_OK)
		return e != SW_OK ? e : ce;
	for (int k = 0; k < fd.nq; k++)
		publish_quarantined(fd.qi[k], fd.qb[k], fd.why[k]);
	/* and a person must come (FAULTS.md lock_stuck: level 3) */
	for (int k = 0; k < n; k++)
		if (s[k].lock_failed)
			fault_raise(FAULT_LOCK_STUCK, slots_number(s[k].i), 0, detail,
				    "slot taken out of service");
	return SW_OK;
}
