/* The swap module: it claims the riders' S tokens, starts a swap for each
 * one admitted, turns slot events and timers into the transition table's
 * events, and at start takes up the swaps a previous run left unfinished
 * (daemon/DESIGN.md, "Swap flow"). A transition itself is swap_run.c. */
#include "daemon/swap.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "daemon/access.h"
#include "daemon/event.h"
#include "daemon/fault.h"
#include "daemon/health.h"
#include "daemon/log.h"
#include "daemon/slots.h"
#include "daemon/swap_priv.h"
#include "drivers/rack.h"

struct swap_module swap_m;

static swap_admit_fn admit_fn;
static void *admit_arg;
static bool outbox_full;
static struct loop_timer recover_timer;
static int64_t recover_until;

/* The choice check() made, for record() and done() of the same scan. */
static struct {
	int in, out;
	struct store_swap rec;
} pending;

/* How long recovery waits at most for the first readings of a swap's
 * slots: a few poll cycles, and enough for a slot to be found offline. */
#define RECOVER_CYCLES 8
#define RECOVER_MIN_MS 3000

void swap_set_admit(swap_admit_fn fn, void *arg)
{
	admit_fn = fn;
	admit_arg = arg;
}

void swap_set_outbox_full(bool full)
{
	outbox_full = full;
}

int64_t swap_wait_ms(enum swap_timeout t)
{
	const struct config_swap *c = &swap_m.cfg;

	switch (t) {
	case ST_DOOR: return (int64_t)c->unlock_timeout_s * 1000;
	case ST_INSERT: return (int64_t)c->insert_timeout_s * 1000;
	case ST_TAKE: return (int64_t)c->take_timeout_s * 1000;
	case ST_CLOSE: return (int64_t)c->door_close_timeout_s * 1000;
	default: return 0;
	}
}

struct swap *swap_find(int64_t id)
{
	for (int k = 0; k < SWAP_MAX_CONCURRENT; k++)
		if (swap_m.swaps[k].used && swap_m.swaps[k].rec.id == id)
			return &swap_m.swaps[k];
	return NULL;
}

struct swap *swap_at_slot(int i)
{
	for (int k = 0; k < SWAP_MAX_CONCURRENT; k++) {
		struct swap *s = &swap_m.swaps[k];
		if (s->used && !s->recovering && (swap_stage_out(s->stage) ? s->out : s->in) == i)
			return s;
	}
	return NULL;
}

static int active(void)
{
	int n = 0;

	for (int k = 0; k < SWAP_MAX_CONCURRENT; k++)
		n += swap_m.swaps[k].used;
	return n;
}

bool swap_door_open(int i)
{
	return swap_m.door[i] >= 0 ? swap_m.door[i] == 1 : rack_reading(i)->door_open;
}

void swap_health(void)
{
	if (!slots_count())
		health_set("swap", HEALTH_DISABLED, "no rack: S tokens are only verified");
	else if (swap_m.store_failed)
		health_set("swap", HEALTH_FAILED,
			   "swap %" PRId64 " could not be recorded: doors locked, ended in memory",
			   swap_m.failed_swap);
	else if (swap_m.estop)
		health_set("swap", HEALTH_DEGRADED, "emergency stop: no new swaps");
	else
		health_set("swap", HEALTH_OK, "%d in progress", active());
}

static void mark_out(int slot, const char *reason, void *arg)
{
	bool *out = arg;
	int i = slots_index(slot);

	(void)reason;
	if (i >= 0)
		out[i] = true;
}

void swap_views(struct swap_slot_view *v)
{
	const struct rack_profile *p = rack_profile();
	bool out[RACK_MAX_SLOTS] = { false };
	int n = slots_count();

	/* A ledger that cannot be read counts every slot out of service and
	 * every battery quarantined: no swap on what is not known. */
	bool ok = store_slots_out(swap_m.store, mark_out, out) == SW_OK;
	for (int i = 0; i < n; i++) {
		const struct rack_reading *r = rack_reading(i);
		struct store_battery b;
		bool found = false;
		struct swap_slot_view *s = &v[i];
		*s = (struct swap_slot_view){
			.online = r->online, .present = r->present, .door_open = swap_door_open(i),
			.identified = r->present && !r->health_pending && r->have[RF_BATTERY_ID],
			.locked = r->locked, .fault = r->fault_bits != 0,
			.held = slots_holder(i, NULL) != NULL, .out_of_service = !ok || out[i],
			.alarm = swap_m.alarm[i], .blocked = fault_blocks_own_slot(slots_number(i)),
			.battery = r->present ? r->battery_id : 0,
			.soc = r->soc, .soh = r->soh,
		};
		for (int f = 0; f < RFLT_COUNT; f++)
			if (p->fault_bit[f] >= 0 && (r->fault_bits >> p->fault_bit[f]) & 1)
				s->faults |= 1u << f;
		if (s->battery && s->identified)
			s->quarantined = store_battery_get(swap_m.store, s->battery, &b, &found) != SW_OK ||
					 (found && b.quarantined);
	}
}

static bool slot_read(int i);

/* Within the start's reading bound, some slot not read yet. */
static bool starting(void)
{
	if (loop_now() >= recover_until)
		return false;
	for (int i = 0; i < slots_count(); i++)
		if (!slot_read(i))
			return true;
	return false;
}

/* access.c's claim on S tokens: check before anything is written. The
 * order is what the rider is told first: safety, then what the station
 * has, then how busy it is, then the queue. */
static const char *claim_check(const struct token *tok, void *arg)
{
	struct swap_slot_view v[RACK_MAX_SLOTS];
	int n = slots_count();
	int64_t ticket = 0;

	(void)arg;
	if (swap_m.estop)
		return "estop";
	if (health_get("store") == HEALTH_FAILED)
		return "store_failed";
	/* mqtt.md rule 4: at the outbox's cap no new swap starts, so that
	 * what the fleet has not heard yet stops growing. */
	if (outbox_full)
		return "outbox_full";
	/* a fault that blocks the station (daemon/FAULTS.md): swaps in
	 * progress finish, no new one starts */
	if (fault_blocks_station())
		return "unsafe";
	swap_views(v);
	/* Just started, before the rack read every slot, "no empty slot" or
	 * "no charged battery" may be untrue: the rider is told the station
	 * is starting, and to scan again in a moment. */
	int in = swap_pick_in(v, n);
	if (in < 0)
		return starting() ? "starting" : "no_empty_slot";
	int out = swap_pick_out(v, n, swap_m.cfg.min_soc, -1);
	if (out < 0)
		return starting() ? "starting" : "no_charged_battery";
	if (active() >= swap_m.cfg.max_concurrent)
		return "busy";
	const char *refused = admit_fn ? admit_fn(tok, swap_pick_charged(v, n, swap_m.cfg.min_soc),
						  &ticket, admit_arg) : NULL;
	if (refused)
		return refused;
	int64_t now = loop_wall_ms();
	pending.in = in;
	pending.out = out;
	pending.rec = (struct store_swap){ .ticket = ticket, .slot_in = slots_number(in),
					   .slot_out = slots_number(out), .started_at = now,
					   .stage_at = now, .battery_out = v[out].battery,
					   .soc_out = v[out].soc };
	snprintf(pending.rec.nonce, sizeof pending.rec.nonce, "%s", tok->nonce);
	snprintf(pending.rec.user, sizeof pending.rec.user, "%s", tok->subject);
	snprintf(pending.rec.stage, sizeof pending.rec.stage, "%s", swap_stage_name(SWAP_UNLOCK_IN));
	return NULL;
}

/* Inside the scan's transaction: the swap's row and swap.started join the
 * token's single-use mark, so both are on disk or neither is. */
static enum sw_err claim_record(const struct token *tok, void *arg)
{
	struct store_swap *r = &pending.rec;

	(void)tok;
	(void)arg;
	store_tx_begin(swap_m.store);
	store_swap_start(swap_m.store, r, NULL);
	json_object *f = json_object_new_object();
	json_object_object_add(f, "swap", json_object_new_int64(r->id));
	json_object_object_add(f, "ticket", r->ticket ? json_object_new_int64(r->ticket) : NULL);
	json_object_object_add(f, "user", json_object_new_string(r->user));
	json_object_object_add(f, "slot_in", json_object_new_int(r->slot_in));
	json_object_object_add(f, "slot_out", json_object_new_int(r->slot_out));
	store_outbox_add(swap_m.store, &(struct store_event){ "swap.started", swap_m.boot, f });
	json_object_put(f);
	return store_tx_commit(swap_m.store, "recording a new swap");
}

static struct swap *slot_for_swap(void)
{
	for (int k = 0; k < SWAP_MAX_CONCURRENT; k++)
		if (!swap_m.swaps[k].used)
			return &swap_m.swaps[k];
	return NULL;
}

static void on_timeout(void *arg)
{
	swap_feed(arg, SE_TIMEOUT, 0);
}

static struct swap *take_up(const struct store_swap *r, int in, int out, enum swap_stage stage)
{
	struct swap *s = slot_for_swap();

	if (!s)
		return NULL;
	memset(s, 0, sizeof *s);
	s->used = true;
	s->rec = *r;
	s->in = in;
	s->out = out;
	s->stage = stage;
	loop_timer_init(&s->timer, on_timeout, s);
	/* Free by the check (or, at start, by no one yet): a refusal here
	 * would mean a slot in two swaps, which holds exist to prevent. */
	if (slots_hold(in, "swap", r->id) != SW_OK || slots_hold(out, "swap", r->id) != SW_OK)
		log_msg(LOG_ERR, "swap %" PRId64 ": slot %d or %d is held by another", r->id,
			r->slot_in, r->slot_out);
	return s;
}

/* Committed: the decision is on disk, so the door may move. */
static void claim_done(const struct token *tok, bool committed, void *arg)
{
	(void)tok;
	(void)arg;
	if (!committed)
		return;
	struct swap *s = take_up(&pending.rec, pending.in, pending.out, SWAP_UNLOCK_IN);
	int64_t id = s->rec.id;
	log_msg(LOG_NOTICE, "swap %" PRId64 ": started for %s: slot %d in, slot %d out", id,
		s->rec.user, s->rec.slot_in, s->rec.slot_out);
	struct event ev = { .type = EV_SWAP_STARTED, .slot = s->in, .slot_no = s->rec.slot_in,
			    .who = s->rec.user, .what = s->rec.nonce, .ref = id };
	event_publish(&ev);
	ev = (struct event){ .type = EV_SWAP_STAGE, .slot = s->in, .slot_no = s->rec.slot_in,
			     .what = s->rec.stage, .ref = id };
	event_publish(&ev);
	swap_door_unlock(s->in, id);
	loop_timer_arm(&s->timer, swap_wait_ms(ST_DOOR));
	swap_health();
}

/* What a returned battery in slot index i is, as the table's event. */
static bool battery_event(int i, enum swap_ev *ev)
{
	struct swap_slot_view v[RACK_MAX_SLOTS];

	swap_views(v);
	switch (swap_pick_classify(&v[i], swap_m.cfg.quarantine_soh)) {
	case SWAP_IN_KNOWN: *ev = SE_BATTERY_IN; return true;
	case SWAP_IN_BAD: *ev = SE_BATTERY_BAD; return true;
	case SWAP_IN_UNKNOWN: *ev = SE_BATTERY_UNKNOWN; return true;
	default: return false;
	}
}

static void feed_slot(int i, enum swap_ev ev)
{
	struct swap *s = swap_at_slot(i);

	if (s)
		swap_feed(s, ev, 0);
}

static void clear_alarm(int i)
{
	if (!swap_m.alarm[i])
		return;
	swap_m.alarm[i] = false;
	log_msg(LOG_NOTICE, "slot %d: the door left open is closed", slots_number(i));
	struct event ev = { .type = EV_DOOR_ALARM, .slot = i, .slot_no = slots_number(i) };
	event_publish(&ev);
}

/* A battery whose BMS gives no id is no EV_BATTERY_INSERTED (slots.c
 * counts a battery once its id is read): its reading says so. */
static void on_reading(int i)
{
	const struct rack_reading *r = rack_reading(i);
	struct swap *s = swap_at_slot(i);
	enum swap_ev ev;

	if (s && !swap_stage_out(s->stage) && r->present && !r->health_pending && !r->battery_id &&
	    battery_event(i, &ev))
		swap_feed(s, ev, 0);
}

static void on_event(const struct event *e, void *arg)
{
	int i = e->slot;
	enum swap_ev ev;

	(void)arg;
	if (e->type == EV_ESTOP_PRESSED || e->type == EV_ESTOP_RELEASED) {
		swap_m.estop = e->type == EV_ESTOP_PRESSED;
		for (int k = 0; swap_m.estop && k < SWAP_MAX_CONCURRENT; k++) {
			struct swap *s = &swap_m.swaps[k];
			s->recovering = false;
			if (s->used)
				swap_feed(s, SE_ESTOP, 0);
		}
		swap_health();
		return;
	}
	if (i < 0 || i >= slots_count())
		return;
	switch (e->type) {
	case EV_DOOR_OPENED:
		swap_m.door[i] = 1;
		feed_slot(i, SE_DOOR_OPENED);
		break;
	case EV_DOOR_CLOSED:
		swap_m.door[i] = 0;
		clear_alarm(i);
		feed_slot(i, rack_reading(i)->present ? SE_DOOR_CLOSED : SE_DOOR_CLOSED_EMPTY);
		break;
	case EV_BATTERY_INSERTED:
		if (battery_event(i, &ev))
			feed_slot(i, ev);
		break;
	case EV_BATTERY_REMOVED:
		feed_slot(i, SE_BATTERY_OUT);
		break;
	case EV_SLOT_OFFLINE:
		feed_slot(i, SE_OFFLINE);
		break;
	case EV_SLOT_READING:
		on_reading(i);
		break;
	default:
		break;
	}
}

static const enum event_type heard[] = {
	EV_DOOR_OPENED, EV_DOOR_CLOSED, EV_BATTERY_INSERTED, EV_BATTERY_REMOVED, EV_SLOT_OFFLINE,
	EV_SLOT_READING, EV_ESTOP_PRESSED, EV_ESTOP_RELEASED,
};

static void unsubscribe(void)
{
	for (size_t k = 0; k < sizeof heard / sizeof heard[0]; k++)
		event_unsubscribe(heard[k], on_event, NULL);
}

/* Both slots answered since the start, and a battery in either was
 * identified: what the reading says can be trusted. */
static bool slot_read(int i)
{
	const struct rack_reading *r = rack_reading(i);

	return r->online && !r->health_pending;
}

/* SE_RESTART's conditions: what the rack shows now of the swap's slots. */
static unsigned restart_conds(const struct swap *s)
{
	struct swap_slot_view v[RACK_MAX_SLOTS];
	unsigned c = SC_READ;
	int64_t wait = swap_stage_out(s->stage) ? swap_wait_ms(ST_TAKE) : swap_wait_ms(ST_INSERT);

	swap_views(v);
	const struct swap_slot_view *in = &v[s->in], *out = &v[s->out];
	if (s->rec.battery_in) {
		c |= in->identified && in->battery == s->rec.battery_in ? SC_IN_KNOWN : 0;
	} else {
		enum swap_in_kind k = swap_pick_classify(in, swap_m.cfg.quarantine_soh);
		c |= k == SWAP_IN_KNOWN ? SC_IN_KNOWN : k == SWAP_IN_BAD ? SC_IN_BAD
			: k == SWAP_IN_UNKNOWN ? SC_IN_UNKNOWN : 0;
	}
	if (out->identified && out->battery == s->rec.battery_out)
		c |= SC_OUT_FULL;
	if (loop_wall_ms() - s->rec.stage_at <= wait)
		c |= SC_FRESH;
	return c;
}

/* Each swap left unfinished goes on or ends, once its slots were read (or
 * could not be in time: then only what needs no reading is done). */
static void recover(void *arg)
{
	bool waiting = false, late = loop_now() >= recover_until;

	(void)arg;
	for (int k = 0; k < SWAP_MAX_CONCURRENT; k++) {
		struct swap *s = &swap_m.swaps[k];
		if (!s->used || !s->recovering)
			continue;
		bool read = slot_read(s->in) && slot_read(s->out);
		if (!read && !late) {
			waiting = true;
			continue;
		}
		s->recovering = false;
		log_msg(LOG_NOTICE, "swap %" PRId64 ": taken up at stage %s%s", s->rec.id, s->rec.stage,
			read ? "" : " without its slots' readings");
		swap_feed(s, SE_RESTART, read ? restart_conds(s) : 0);
	}
	if (waiting)
		loop_timer_arm(&recover_timer, swap_m.poll_ms);
	swap_health();
}

/* A row that cannot be taken up (its slots are gone from the config, or
 * a newer swap has them): ended as aborted, no door to move. */
static void end_unplaced(struct store_swap *r)
{
	json_object *f = json_object_new_object();

	snprintf(r->abort_stage, sizeof r->abort_stage, "%s", r->stage);
	snprintf(r->stage, sizeof r->stage, "%s", swap_stage_name(SWAP_ABORTED));
	snprintf(r->result, sizeof r->result, "aborted");
	snprintf(r->reason, sizeof r->reason, "restart");
	r->ended_at = r->stage_at = loop_wall_ms();
	json_object_object_add(f, "swap", json_object_new_int64(r->id));
	json_object_object_add(f, "reason", json_object_new_string(r->reason));
	json_object_object_add(f, "stage", json_object_new_string(r->abort_stage));
	if (store_swap_update(swap_m.store, r,
			      &(struct store_event){ "swap.aborted", swap_m.boot, f }) != SW_OK)
		log_msg(LOG_ERR, "swap %" PRId64 ": cannot record its end", r->id);
	json_object_put(f);
}

static void load_one(const struct store_swap *r, void *arg)
{
	int in = slots_index(r->slot_in), out = slots_index(r->slot_out);
	enum swap_stage st = swap_stage_parse(r->stage);
	struct store_swap copy = *r;

	(void)arg;
	if (in < 0 || out < 0 || st == SWAP_STAGE_COUNT || swap_stage_final(st)) {
		log_msg(LOG_WARNING, "swap %" PRId64 ": slot %d or %d or stage %s unknown now; ended",
			r->id, r->slot_in, r->slot_out, r->stage);
		end_unplaced(&copy);
		return;
	}
	/* Two unfinished swaps on one slot: the older was ended in memory when
	 * its transition could not be recorded (its doors were locked), and
	 * the slot went to a newer one. The older ends now. */
	for (int k = 0; k < SWAP_MAX_CONCURRENT; k++) {
		struct swap *o = &swap_m.swaps[k];
		if (!o->used || (o->in != in && o->in != out && o->out != in && o->out != out))
			continue;
		log_msg(LOG_WARNING, "swap %" PRId64 " shares a slot with the newer swap %" PRId64 "; it ends",
			o->rec.id, r->id);
		end_unplaced(&o->rec);
		swap_unhold(o->in, o->rec.id);
		swap_unhold(o->out, o->rec.id);
		o->used = false;
	}
	struct swap *s = take_up(r, in, out, st);
	if (s)
		s->recovering = true;
	else
		end_unplaced(&copy);
}

static enum sw_err subscribe(char *why, size_t whylen)
{
	for (size_t k = 0; k < sizeof heard / sizeof heard[0]; k++) {
		enum sw_err e = event_subscribe(heard[k], on_event, NULL);
		if (e != SW_OK) {
			snprintf(why, whylen, "cannot subscribe to %s", event_name(heard[k]));
			unsubscribe();
			return e;
		}
	}
	return SW_OK;
}

enum sw_err swap_start(const struct config *cfg, struct store *st, const char *boot, char *why,
		       size_t whylen)
{
	memset(&swap_m, 0, sizeof swap_m);
	memset(swap_m.door, -1, sizeof swap_m.door);
	swap_m.cfg = cfg->swap;
	swap_m.store = st;
	swap_m.poll_ms = cfg->rack.poll_interval_ms > 0 ? cfg->rack.poll_interval_ms : 100;
	/* The stop is pressed now if slots.c said so before we listened. */
	swap_m.estop = health_get("estop") == HEALTH_FAILED;
	snprintf(swap_m.boot, sizeof swap_m.boot, "%s", boot);
	enum sw_err e = swap_cmd_start(why, whylen);
	if (e == SW_OK)
		e = subscribe(why, whylen);
	if (e != SW_OK)
		return e;
	swap_m.running = true;
	swap_door_start();
	swap_health();
	/* Without a rack there is nothing to swap: S tokens are only verified
	 * and recorded, as access.c does for a kind nobody claims. */
	if (!slots_count())
		return SW_OK;
	access_set_claim(TOKEN_SWAP, &(struct access_claim){ claim_check, claim_record, claim_done,
							     NULL });
	e = store_swaps_each(st, true, SWAP_MAX_CONCURRENT, load_one, NULL);
	if (e != SW_OK) {
		snprintf(why, whylen, "cannot read the unfinished swaps: %s", store_errmsg(st));
		return e;
	}
	int64_t wait = (int64_t)RECOVER_CYCLES * swap_m.poll_ms;
	recover_until = loop_now() + (wait > RECOVER_MIN_MS ? wait : RECOVER_MIN_MS);
	loop_timer_init(&recover_timer, recover, NULL);
	if (active())
		loop_timer_arm(&recover_timer, 0);
	swap_health();
	return SW_OK;
}

void swap_reconfigure(const struct config *cfg)
{
	/* Running waits keep their timers; the next ones take the new values. */
	swap_m.cfg = cfg->swap;
}

void swap_stop(void)
{
	if (!swap_m.running) {
		unsubscribe();
		return;
	}
	swap_m.running = false;
	access_set_claim(TOKEN_SWAP, NULL);
	unsubscribe();
	loop_timer_cancel(&recover_timer);
	swap_door_stop();
	/* Every stage is on disk already; the doors are locked by the rack's
	 * stop, which comes after this. The next start takes each swap up. */
	for (int k = 0; k < SWAP_MAX_CONCURRENT; k++) {
		struct swap *s = &swap_m.swaps[k];
		if (!s->used)
			continue;
		log_msg(LOG_NOTICE, "swap %" PRId64 ": stopping at stage %s; the next start takes it up",
			s->rec.id, s->rec.stage);
		loop_timer_cancel(&s->timer);
		swap_unhold(s->in, s->rec.id);
		swap_unhold(s->out, s->rec.id);
		s->used = false;
	}
}
