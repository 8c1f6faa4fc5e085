/* One transition of a swap: the table gives the next stage and actions; the
 * swap's row, the ledger's changes and the fleet events they cause go to
 * the store in one transaction; only once that is on disk do the doors move
 * and the rest of swapd hear of it (daemon/DESIGN.md, "Swap flow"). A
 * transition that cannot be recorded locks both doors and ends the swap in
 * memory; the next start finds its last stage on disk and decides again. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "daemon/event.h"
#include "daemon/fault.h"
#include "daemon/health.h"
#include "daemon/ledger.h"
#include "daemon/log.h"
#include "daemon/slots.h"
#include "daemon/swap_priv.h"
#include "drivers/rack.h"

/* What a transition carries beyond the next row: the slot_out it settled
 * on (a better battery may have come free) and the battery it acted on. */
struct change {
	struct store_swap rec;   /* the row as it will be */
	int out;                 /* slot index of slot_out from now on */
	uint64_t taken_back;     /* SA_TAKEN_BACK: the returned battery, gone again */
	const char *why_bad;     /* SA_QUARANTINE: the ledger's reason */
	uint64_t unknown;        /* SA_HOLD_UNKNOWN: its id, 0 when the BMS gave none */
};

/* Appends a fleet event to the open transaction; takes f. */
static enum sw_err emit(const char *type, json_object *f)
{
	enum sw_err e = store_outbox_add(swap_m.store, &(struct store_event){ type, swap_m.boot, f });

	json_object_put(f);
	return e;
}

/* battery.quarantined (mqtt.md: battery, slot, reason) with its ledger row. */
static enum sw_err quarantine(uint64_t id, int slot_no, const char *reason)
{
	json_object *f = json_object_new_object();

	json_object_object_add(f, "battery", swap_battery_json(id));
	json_object_object_add(f, "slot", json_object_new_int(slot_no));
	json_object_object_add(f, "reason", json_object_new_string(reason));
	enum sw_err e = store_battery_quarantine(swap_m.store, id, true, reason,
						 &(struct store_event){ "battery.quarantined",
									swap_m.boot, f });
	json_object_put(f);
	return e;
}

/* The level-3 fault, and so the ticket, of a slot the swap took out of
 * service (FAULTS.md: lock_stuck, unknown_battery): a person must come.
 * Raised once the slot's service change is on disk. */
static void service_fault(enum fault_code code, int64_t swap, int slot_no, uint64_t battery,
			  const char *reason)
{
	char detail[128];

	snprintf(detail, sizeof detail, "swap %" PRId64 ": %s", swap, reason);
	log_msg(LOG_WARNING, "slot %d: %s; slot out of service", slot_no, detail);
	fault_raise(code, slot_no, battery, detail, "slot taken out of service");
}

void swap_door_failed(int i, int64_t swap)
{
	if (store_slot_service(swap_m.store, slots_number(i), "door does not lock", "swap", NULL) != SW_OK)
		log_msg(LOG_ERR, "swap %" PRId64 ": slot %d's door did not lock, and that could not be recorded",
			swap, slots_number(i));
	service_fault(FAULT_LOCK_STUCK, swap, slots_number(i), 0, "door does not lock");
}

static void ended_event(const struct change *c, unsigned a)
{
	json_object *f = json_object_new_object();
	const struct store_swap *r = &c->rec;

	json_object_object_add(f, "swap", json_object_new_int64(r->id));
	if (a & SA_ABORT) {
		json_object_object_add(f, "reason", json_object_new_string(r->reason));
		json_object_object_add(f, "stage", json_object_new_string(r->abort_stage));
		if (r->note[0])
			json_object_object_add(f, "detail", json_object_new_string(r->note));
		emit("swap.aborted", f);
		return;
	}
	json_object_object_add(f, "user", json_object_new_string(r->user));
	json_object_object_add(f, "battery_in", swap_battery_json(r->battery_in));
	json_object_object_add(f, "battery_out", swap_battery_json(r->battery_out));
	json_object_object_add(f, "soc_in", r->battery_in ? json_object_new_double(r->soc_in) : NULL);
	json_object_object_add(f, "soc_out", json_object_new_double(r->soc_out));
	json_object_object_add(f, "soh_in", r->battery_in ? json_object_new_double(r->soh_in) : NULL);
	json_object_object_add(f, "duration_s",
			       swap_seconds_json(r->ended_at - r->started_at));
	emit("swap.completed", f);
}

/* Whether the battery picked for the rider should be another: at the
 * returned battery's arrival (its SOC is known now) and before its door
 * opens (the picked one may have gone: offline, quarantined, taken). */
static int settle_out(const struct swap *s, double soc_in)
{
	struct swap_slot_view v[RACK_MAX_SLOTS];

	swap_views(v);
	return swap_pick_recheck(v, slots_count(), s->out, swap_m.cfg.min_soc, soc_in);
}

/* The row and the facts the transition will record, read before it is;
 * a better slot_out is held for the swap already. */
static void prepare(const struct swap *s, enum swap_ev ev, const struct swap_step *st,
		    struct change *c)
{
	const struct rack_reading *in = rack_reading(s->in);
	struct store_swap *r = &c->rec;
	unsigned a = st->actions;

	memset(c, 0, sizeof *c);
	*r = s->rec;
	c->out = s->out;
	snprintf(r->stage, sizeof r->stage, "%s", swap_stage_name(st->next));
	r->stage_at = loop_wall_ms();
	r->reopens += (a & SA_REOPEN) != 0;
	if (a & SA_RECORD_IN) {
		r->battery_in = in->battery_id;
		r->soc_in = in->soc;
		r->soh_in = in->soh;
		/* the station's one rule and its words, as for every way in */
		c->why_bad = ledger_unfit(in, swap_m.cfg.quarantine_soh);
	}
	if (a & SA_TAKEN_BACK) {
		c->taken_back = r->battery_in;
		r->battery_in = 0;
		r->soc_in = r->soh_in = 0;
	}
	if (a & SA_HOLD_UNKNOWN)
		c->unknown = in->battery_id;
	if ((a & SA_RECORD_IN) || ((a & SA_UNLOCK_OUT) && s->stage == SWAP_LOCK_IN)) {
		int out = settle_out(s, r->battery_in ? r->soc_in : -1);
		/* held from here on; released again if this is not recorded */
		if (out >= 0 && out != s->out && slots_hold(out, "swap", r->id) == SW_OK)
			c->out = out;
	}
	if (a & SA_UNLOCK_OUT || c->out != s->out) {
		const struct rack_reading *o = rack_reading(c->out);
		r->slot_out = slots_number(c->out);
		r->battery_out = o->battery_id;
		r->soc_out = o->soc;
	}
	if (swap_stage_final(st->next)) {
		r->ended_at = r->stage_at;
		snprintf(r->result, sizeof r->result, "%s",
			 st->next == SWAP_COMPLETED ? "completed" : "aborted");
		if (a & SA_ABORT) {
			snprintf(r->reason, sizeof r->reason, "%s", st->reason);
			snprintf(r->abort_stage, sizeof r->abort_stage, "%s", swap_stage_name(s->stage));
		}
		if (ev == SE_STAFF_ABORT)
			snprintf(r->note, sizeof r->note, "%s", s->note);
	}
}

/* Everything the transition changes, in the one transaction. */
static enum sw_err record(const struct swap *s, const struct change *c, unsigned a)
{
	struct store *st = swap_m.store;
	const struct store_swap *r = &c->rec;
	const struct rack_reading *in = rack_reading(s->in), *out = rack_reading(c->out);

	store_tx_begin(st);
	store_swap_update(st, r, NULL);
	if (a & SA_RECORD_IN)
		store_battery_in_slot(st, r->battery_in, r->slot_in, in->soc, in->soh, in->cycles,
				      in->slow_at, NULL);
	if (a & SA_QUARANTINE)
		quarantine(r->battery_in, r->slot_in, c->why_bad);
	if (a & SA_TAKEN_BACK)
		store_battery_left(st, c->taken_back, "rider", r->id, r->user, NULL);
	if ((a & SA_HOLD_UNKNOWN) && c->unknown)
		quarantine(c->unknown, r->slot_in, "unknown_battery");
	if (a & SA_HOLD_UNKNOWN)
		store_slot_service(st, r->slot_in, "unknown battery locked in", "swap", NULL);
	if (a & SA_SERVICE_IN)
		store_slot_service(st, r->slot_in, "door does not lock", "swap", NULL);
	if (a & SA_SERVICE_OUT)
		store_slot_service(st, r->slot_out, "door does not lock", "swap", NULL);
	/* Back in stock: the ledger has it where it is, with its values now. */
	if ((a & SA_RESTOCK) && out->online && out->present && out->battery_id == r->battery_out)
		store_battery_in_slot(st, r->battery_out, r->slot_out, out->soc, out->soh, out->cycles,
				      out->slow_at, NULL);
	if (a & SA_COMPLETE)
		store_battery_left(st, r->battery_out, "rider", r->id, r->user, NULL);
	if (a & (SA_COMPLETE | SA_ABORT))
		ended_event(c, a);
	return store_tx_commit(st, "recording a swap's transition");
}

static void publish(enum event_type type, int slot, uint64_t battery, bool on, const char *what,
		    const char *who, int64_t ref)
{
	struct event ev = { .type = type, .slot = slot, .slot_no = slot >= 0 ? slots_number(slot) : 0,
			    .battery = battery, .on = on, .what = what, .who = who, .ref = ref };

	event_publish(&ev);
}

static void raise_alarm(int i, int64_t swap)
{
	if (swap_m.alarm[i])
		return;
	swap_m.alarm[i] = true;
	log_msg(LOG_WARNING, "swap %" PRId64 ": slot %d's door was left open", swap, slots_number(i));
	publish(EV_DOOR_ALARM, i, 0, true, NULL, NULL, swap);
}

void swap_unhold(int i, int64_t swap)
{
	int64_t ref;
	const char *owner = slots_holder(i, &ref);

	if (owner && strcmp(owner, "swap") == 0 && ref == swap)
		slots_unhold(i);
}

/* The swap is over: its slots are free once their doors are locked. */
static void release(struct swap *s)
{
	loop_timer_cancel(&s->timer);
	s->used = false;
	if (!swap_door_locking(s->in))
		swap_unhold(s->in, s->rec.id);
	if (!swap_door_locking(s->out))
		swap_unhold(s->out, s->rec.id);
	swap_health();
}

/* Not recorded: nothing may act on it. Both doors are locked and the swap
 * ends here; its row keeps the last stage that is on disk. */
static void fail_in_memory(struct swap *s, const struct change *c, enum sw_err e)
{
	log_msg(LOG_ERR, "swap %" PRId64 ": %s -> %s could not be recorded (%s): both doors locked, the swap ends in memory; the next start decides from its stage %s",
		s->rec.id, swap_stage_name(s->stage), c->rec.stage, sw_strerror(e), s->rec.stage);
	swap_m.store_failed = true;
	swap_m.failed_swap = s->rec.id;
	if (c->out != s->out)
		swap_unhold(c->out, s->rec.id);
	swap_door_lock(s->in, s->rec.id);
	swap_door_lock(s->out, s->rec.id);
	publish(EV_SWAP_ENDED, -1, 0, false, "store_failed", swap_stage_name(s->stage), s->rec.id);
	release(s);
}

/* After the record: what the others hear, then the doors, then the wait. */
static void act(struct swap *s, enum swap_stage from, const struct change *c,
		const struct swap_step *st)
{
	unsigned a = st->actions;
	int64_t id = s->rec.id;

	if (c->out != s->out) {
		log_msg(LOG_INFO, "swap %" PRId64 ": hands out slot %d's battery instead of slot %d's",
			id, slots_number(c->out), slots_number(s->out));
		swap_unhold(s->out, id);
		s->out = c->out;
	}
	s->rec = c->rec;
	s->stage = st->next;
	if (a & SA_QUARANTINE)
		publish(EV_BATTERY_QUARANTINED, s->in, s->rec.battery_in, true, c->why_bad, NULL, id);
	if ((a & SA_HOLD_UNKNOWN) && c->unknown)
		publish(EV_BATTERY_QUARANTINED, s->in, c->unknown, true, "unknown_battery", NULL, id);
	if (a & SA_ALARM_IN)
		raise_alarm(s->in, id);
	if (a & SA_ALARM_OUT)
		raise_alarm(s->out, id);
	if (st->next != from)
		publish(EV_SWAP_STAGE, swap_stage_out(st->next) ? s->out : s->in, 0, false,
			s->rec.stage, NULL, id);
	if (a & SA_UNLOCK_IN)
		swap_door_unlock(s->in, id);
	if (a & SA_LOCK_IN)
		swap_door_lock(s->in, id);
	if (a & SA_UNLOCK_OUT)
		swap_door_unlock(s->out, id);
	if (a & SA_LOCK_OUT)
		swap_door_lock(s->out, id);
	if (st->timeout == ST_NONE)
		loop_timer_cancel(&s->timer);
	else if (st->timeout != ST_KEEP)
		loop_timer_arm(&s->timer, swap_wait_ms(st->timeout));
	if (!swap_stage_final(st->next))
		return;
	log_msg(LOG_NOTICE, "swap %" PRId64 ": %s%s%s%s", id, s->rec.result,
		s->rec.reason[0] ? " (" : "", s->rec.reason, s->rec.reason[0] ? ")" : "");
	publish(EV_SWAP_ENDED, -1, 0, st->next == SWAP_COMPLETED, s->rec.reason, s->rec.abort_stage, id);
	release(s);
}

void swap_feed(struct swap *s, enum swap_ev ev, unsigned extra)
{
	unsigned conds = extra;
	int a = swap_stage_out(s->stage) ? s->out : s->in;
	struct swap_step st;
	struct change c;

	if (swap_door_open(a))
		conds |= SC_OPEN;
	if (swap_m.cfg.reopen_once && s->rec.reopens < 1)
		conds |= SC_REOPEN;
	if (s->stage == SWAP_LOCK_IN && (ev == SE_LOCKED || ev == SE_LOCK_FAILED) &&
	    settle_out(s, s->rec.battery_in ? s->rec.soc_in : -1) < 0)
		conds |= SC_NO_OUT;
	if (!swap_fsm_step(s->stage, ev, conds, &st))
		return;
	enum swap_stage from = s->stage;
	prepare(s, ev, &st, &c);
	log_msg(LOG_INFO, "swap %" PRId64 ": %s on %s -> %s", s->rec.id, swap_ev_name(ev),
		swap_stage_name(from), swap_stage_name(st.next));
	enum sw_err e = record(s, &c, st.actions);
	if (e != SW_OK) {
		fail_in_memory(s, &c, e);
		return;
	}
	swap_m.store_failed = false;
	if (st.actions & SA_HOLD_UNKNOWN)
		service_fault(FAULT_UNKNOWN_BATTERY, c.rec.id, c.rec.slot_in, c.unknown,
			      "unknown battery locked in");
	if (st.actions & SA_SERVICE_IN)
		service_fault(FAULT_LOCK_STUCK, c.rec.id, c.rec.slot_in, 0, "door does not lock");
	if (st.actions & SA_SERVICE_OUT)
		service_fault(FAULT_LOCK_STUCK, c.rec.id, c.rec.slot_out, 0, "door does not lock");
	act(s, from, &c, &st);
	swap_health();
}
