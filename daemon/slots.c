#include "daemon/slots.h"
#include "daemon/slots_priv.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "daemon/control.h"
#include "daemon/event.h"
#include "daemon/health.h"
#include "daemon/log.h"
#include "daemon/loop.h"
#include "drivers/gpio.h"
#include "drivers/rack.h"

/* A copy: a reload frees the config struct, and the rack section cannot
 * change without a restart anyway (config_check_reload). */
struct rack_config slots_rc;
bool slots_have_gpio;
static bool estop;           /* the emergency stop is pressed */
static bool stopping;        /* slots_stop: locking up, no more commands */
static struct store *store;
static enum slot_state states[RACK_MAX_SLOTS];
/* What this slot's events last said, so that each change is published
 * once; the first reading is the baseline, not a change. */
static struct {
	signed char door, lock;  /* -1: not known yet */
	bool battery_known;
	uint64_t battery;        /* 0: none */
} seen[RACK_MAX_SLOTS];
static struct loop_timer telemetry_timer;
/* Why a slot is quarantined: out of service, or the battery it holds
 * (looked up in the ledger when another is read) is quarantined. */
static struct {
	bool out;
	uint64_t battery;        /* the battery `held` is about */
	bool held;
} quarantine[RACK_MAX_SLOTS];

static const char *const state_names[] = {
	[SLOT_EMPTY] = "empty", [SLOT_IDLE] = "idle", [SLOT_CHARGING] = "charging",
	[SLOT_CHARGED] = "charged", [SLOT_FAULT] = "fault", [SLOT_QUARANTINED] = "quarantined",
	[SLOT_OFFLINE] = "offline",
};


/* The clean stop waits this long at most for every door to read back
 * locked: well inside the 2 s that systemd and the docs promise. */
#define STOP_LOCK_MS 800
#define STOP_MAX_MS 1500

/* Below this a battery is not taking charge, whatever the charger says. */
#define CHARGING_MIN_A 0.2

const char *slots_state_name(enum slot_state st)
{
	return st <= SLOT_OFFLINE ? state_names[st] : "?";
}

enum slot_state slots_state(int i)
{
	return states[i];
}

static enum slot_state derive(int i, const struct rack_reading *r, enum slot_state was)
{
	if (!r->online)
		return SLOT_OFFLINE;
	/* A battery just arrived: say nothing about it until its health is
	 * read, rather than call it idle and then charged a moment later. */
	if (r->present && r->health_pending && !r->fault_bits)
		return was;
	if (r->fault_bits)
		return SLOT_FAULT;
	if (quarantine[i].out || quarantine[i].held)
		return SLOT_QUARANTINED;
	if (!r->present)
		return SLOT_EMPTY;
	if (r->current >= CHARGING_MIN_A)
		return SLOT_CHARGING;
	if (r->have[RF_SOC] && r->soc >= slots_rc.charged_soc)
		return SLOT_CHARGED;
	return SLOT_IDLE;
}

static void publish(enum event_type type, int i, uint64_t battery, bool on)
{
	struct event ev = { .type = type, .slot = i, .slot_no = i >= 0 ? slots_rc.slots[i].slot : 0,
			    .battery = battery, .on = on };

	event_publish(&ev);
}

static struct { const char *owner; int64_t ref; } holds[RACK_MAX_SLOTS];

enum sw_err slots_hold(int i, const char *owner, int64_t ref)
{
	if (i < 0 || i >= slots_rc.nslots || !owner)
		return SW_EINVAL;
	if (holds[i].owner)
		return SW_EBUSY;
	holds[i].owner = owner;
	holds[i].ref = ref;
	return SW_OK;
}

void slots_unhold(int i)
{
	if (i >= 0 && i < slots_rc.nslots)
		holds[i].owner = NULL;
}

const char *slots_holder(int i, int64_t *ref)
{
	if (i < 0 || i >= slots_rc.nslots)
		return NULL;
	if (ref)
		*ref = holds[i].ref;
	return holds[i].owner;
}

int slots_number(int i)
{
	return i >= 0 && i < slots_rc.nslots ? slots_rc.slots[i].slot : 0;
}

int slots_count(void)
{
	return slots_rc.enabled ? slots_rc.nslots : 0;
}

int slots_index(int n)
{
	for (int i = 0; slots_rc.enabled && i < slots_rc.nslots; i++)
		if (slots_rc.slots[i].slot == n)
			return i;
	return -1;
}

/* The door, lock and battery events a reading implies. Where GPIO has the
 * door sensor or drives the lock, it speaks for them (on_gpio_input,
 * slot_write), not the controller. A battery counts once its id is read. */
static void reading_events(int i, const struct rack_reading *r)
{
	bool v;

	if (!r->online)
		return; /* its last values are not news */
	if (r->have[RF_DOOR] && !(slots_have_gpio && gpio_get(GPIO_DOOR, slots_rc.slots[i].slot, &v) == SW_OK)) {
		if (seen[i].door >= 0 && seen[i].door != r->door_open)
			publish(r->door_open ? EV_DOOR_OPENED : EV_DOOR_CLOSED, i, 0, false);
		seen[i].door = r->door_open;
	}
	if (r->have[RF_LOCK] && !slots_rc.slots[i].lock_gpio) {
		if (seen[i].lock >= 0 && seen[i].lock != r->locked)
			publish(EV_LOCK_CHANGED, i, 0, r->locked);
		seen[i].lock = r->locked;
	}
	if (r->present && (r->health_pending || !r->have[RF_BATTERY_ID]))
		return;
	uint64_t id = r->present ? r->battery_id : 0;
	if (seen[i].battery_known && seen[i].battery != id) {
		if (seen[i].battery)
			publish(EV_BATTERY_REMOVED, i, seen[i].battery, false);
		if (id)
			publish(EV_BATTERY_INSERTED, i, id, false);
	}
	seen[i].battery_known = true;
	seen[i].battery = id;
}

bool slots_battery(int i, uint64_t *id)
{
	if (i < 0 || i >= slots_rc.nslots || !seen[i].battery_known)
		return false;
	*id = seen[i].battery;
	return true;
}

/* Whether the battery read in slot i is quarantined: asked of the ledger
 * once per battery that comes, then kept up by on_battery_flag. */
static void check_quarantine(int i, const struct rack_reading *r)
{
	struct store_battery b;
	bool found;

	if (!r->online || (r->present && (r->health_pending || !r->have[RF_BATTERY_ID])))
		return;
	uint64_t id = r->present ? r->battery_id : 0;
	if (id == quarantine[i].battery)
		return;
	quarantine[i].battery = id;
	quarantine[i].held = id && store_battery_get(store, id, &b, &found) == SW_OK && found &&
			     b.quarantined;
}

static void update_state(int i)
{
	enum slot_state st = derive(i, rack_reading(i), states[i]);

	if (st != states[i]) {
		log_msg(st == SLOT_FAULT || st == SLOT_OFFLINE ? LOG_WARNING : LOG_INFO,
			"slot %d: %s -> %s", slots_rc.slots[i].slot, slots_state_name(states[i]),
			slots_state_name(st));
		struct event sev = { .type = EV_SLOT_STATE, .slot = i, .slot_no = slots_rc.slots[i].slot,
				     .from = (int)states[i], .to = (int)st };
		states[i] = st;
		event_publish(&sev);
	}
}

/* The rack's raw events: the slot's state and its own events are derived
 * here, where the reading is given its meaning. */
static void on_rack_event(const struct event *ev, void *arg)
{
	(void)arg;
	check_quarantine(ev->slot, rack_reading(ev->slot));
	update_state(ev->slot);
	reading_events(ev->slot, rack_reading(ev->slot));
	slots_lock_reading(ev->slot);
}

static void on_battery_flag(const struct event *ev, void *arg)
{
	(void)arg;
	for (int i = 0; i < slots_rc.nslots; i++)
		if (ev->battery && quarantine[i].battery == ev->battery) {
			quarantine[i].held = ev->type == EV_BATTERY_QUARANTINED;
			update_state(i);
		}
}

void slots_set_service(int i, bool out)
{
	if (i < 0 || i >= slots_rc.nslots)
		return;
	quarantine[i].out = out;
	update_state(i);
}

static void mark_out(int slot, const char *reason, void *arg)
{
	int i = slots_index(slot);

	(void)arg;
	if (i >= 0)
		quarantine[i].out = true;
	log_msg(LOG_NOTICE, "slot %d: out of service: %s", slot, reason);
}

static void take_samples(void *arg)
{
	struct store_sample s[RACK_MAX_SLOTS];

	(void)arg;
	for (int i = 0; i < slots_rc.nslots; i++) {
		const struct rack_reading *r = rack_reading(i);
		s[i] = (struct store_sample){
			.slot = slots_rc.slots[i].slot, .state = slots_state_name(states[i]),
			.soc = r->soc, .soh = r->soh, .v = r->voltage, .i = r->current,
			.t = r->temperature, .door_open = r->door_open, .locked = r->locked,
			.fault_bits = r->fault_bits, .read_at = r->fast_at,
		};
		slots_battery_name(r, s[i].battery, sizeof s[i].battery);
	}
	/* A failure here is the store's health; the ring just misses a row. */
	store_telemetry_add(store, s, (size_t)slots_rc.nslots, slots_rc.telemetry_rows, NULL);
	loop_timer_arm(&telemetry_timer, slots_rc.telemetry_interval_ms);
}

/* The slot index for args.slot, or -1 with *err set to the reply. */
static int slot_arg(const struct control_req *req, json_object **err)
{
	int n = (int)control_arg_int(req, "slot", 0);

	for (int i = 0; i < slots_rc.nslots; i++)
		if (slots_rc.slots[i].slot == n)
			return i;
	*err = control_error("unknown_slot", "no slot %d", n);
	return -1;
}

struct write_ctx {
	struct control_pending *pending;
	int slot;
	char what[32];
};

static void write_done(enum sw_err e, void *arg)
{
	struct write_ctx *w = arg;
	json_object *r;

	if (e == SW_OK) {
		r = json_object_new_object();
		json_object_object_add(r, "slot", json_object_new_int(w->slot));
		json_object_object_add(r, "done", json_object_new_string(w->what));
		r = control_ok(r);
	} else {
		r = control_error("slot_error", "slot %d did not take \"%s\": %s", w->slot, w->what,
				  sw_strerror(e));
	}
	control_finish(w->pending, r);
	free(w);
}

/* The engineer commands: recorded in the audit trail first (a door that
 * opens does so on a durable decision), then written to the controller;
 * the reply comes when the controller took it. */
static json_object *slot_write(const struct control_req *req, enum rack_field f, double value,
			       const char *what)
{
	json_object *err;
	int i = slot_arg(req, &err);
	char detail[64];

	if (i < 0)
		return err;
	if (stopping)
		return control_error("stopping", "swapd is stopping; every door is being locked");
	if (estop && f == RF_CHARGE_ENABLE && value != 0)
		return control_error("estop", "the emergency stop is pressed");
	snprintf(detail, sizeof detail, "slot %d %s", slots_rc.slots[i].slot, what);
	if (store_audit(store, req->who, what, detail, NULL) != SW_OK)
		return control_error("store_failed", "cannot record the command; not sending it");
	struct write_ctx *w = calloc(1, sizeof *w);
	if (!w || !(w->pending = control_defer(req))) {
		free(w);
		return control_error("internal", "out of memory");
	}
	w->slot = slots_rc.slots[i].slot;
	snprintf(w->what, sizeof w->what, "%s", what);
	enum sw_err e = f == RF_LOCK_CMD ? slots_set_lock(i, value != 0, write_done, w)
					 : rack_write(i, f, value, write_done, w);
	if (e != SW_OK) {
		control_finish(w->pending, control_error("slot_error", "cannot queue \"%s\" for slot %d: %s",
							  what, w->slot, sw_strerror(e)));
		free(w);
	}
	return NULL;
}

/* A GPIO relay switches at once; its outcome is still given from the loop,
 * never from inside slots_set_lock, as the controller's is. */
#define GPIO_DONE_MAX 64
static struct { rack_done_fn fn; void *arg; enum sw_err err; } gpio_done[GPIO_DONE_MAX];
static int ngpio_done;
static struct loop_timer gpio_done_timer;

static void gpio_done_fire(void *arg)
{
	int n = ngpio_done;

	(void)arg;
	ngpio_done = 0;
	for (int k = 0; k < n; k++)
		if (gpio_done[k].fn)
			gpio_done[k].fn(gpio_done[k].err, gpio_done[k].arg);
}

enum sw_err slots_set_lock(int i, bool lock, rack_done_fn done, void *arg)
{
	if (i < 0 || i >= slots_rc.nslots)
		return SW_EINVAL;
	if (stopping && !lock)
		return SW_ECANCELED;
	if (!slots_rc.slots[i].lock_gpio)
		return slots_lock_controller(i, lock, done, arg);
	if (ngpio_done == GPIO_DONE_MAX)
		return SW_EBUSY;
	enum sw_err e = gpio_set_lock(slots_rc.slots[i].slot, lock);
	if (e == SW_OK)
		publish(EV_LOCK_CHANGED, i, 0, lock);
	gpio_done[ngpio_done++] = (typeof(gpio_done[0])){ done, arg, e };
	loop_timer_arm(&gpio_done_timer, 0);
	return SW_OK;
}

static json_object *cmd_lock(const struct control_req *req)
{
	return slot_write(req, RF_LOCK_CMD, 1, "lock");
}

static json_object *cmd_unlock(const struct control_req *req)
{
	return slot_write(req, RF_LOCK_CMD, 0, "unlock");
}

static json_object *cmd_charge(const struct control_req *req)
{
	bool on = control_arg_bool(req, "on", false);

	return slot_write(req, RF_CHARGE_ENABLE, on, on ? "charge on" : "charge off");
}

/* Slot numbers are 1..999 (config.c); one outside gets bad_request, one
 * inside that the rack lacks gets unknown_slot. */
#define SLOT_ARG { "slot", ARG_INT, .required = true, .min = 1, .max = 999 }

static const struct command slots_commands[] = {
	{ .name = "slots", .level = LEVEL_VIEWER, .fn = slots_cmd_slots,
	  .help = "every slot: state, battery, door, lock, faults" },
};

/* Registered only when the station has a rack. */
static const struct command rack_commands[] = {
	{ .name = "rack", .level = LEVEL_VIEWER, .fn = slots_cmd_rack,
	  .help = "the bus: device, profile, counters" },
	{ .name = "lock", .level = LEVEL_ADMIN, .fn = cmd_lock,
	  .help = "lock a slot's door (audited)",
	  .args = { SLOT_ARG } },
	{ .name = "unlock", .level = LEVEL_ADMIN, .fn = cmd_unlock,
	  .help = "unlock a slot's door (audited)",
	  .args = { SLOT_ARG } },
	{ .name = "charge", .level = LEVEL_ADMIN, .fn = cmd_charge,
	  .help = "turn a slot's charging on or off (audited)",
	  .args = { SLOT_ARG, { "on", ARG_ONOFF, .required = true } } },
};

/* GPIO inputs. The emergency stop turns charging off on every slot and
 * keeps it off while pressed (the controllers' own cut-offs stand anyway).
 * That is done here, before the event: no subscriber can delay it. */
static void on_gpio_input(enum gpio_role role, int slot, bool active, void *arg)
{
	(void)arg;
	if (role == GPIO_DOOR) {
		log_msg(LOG_INFO, "slot %d: door %s (sensor)", slot, active ? "open" : "closed");
		struct event ev = { .type = active ? EV_DOOR_OPENED : EV_DOOR_CLOSED,
				    .slot = slots_index(slot), .slot_no = slot };
		event_publish(&ev);
		return;
	}
	if (role == GPIO_POWER) {
		publish(EV_MAINS_CHANGED, -1, 0, active);
		return;
	}
	if (role != GPIO_ESTOP || active == estop)
		return;
	estop = active;
	if (!estop) {
		log_msg(LOG_NOTICE, "emergency stop released");
		health_set("estop", HEALTH_OK, "released");
		if (slots_rc.enabled)
			rack_hold_charging_off(false);
		publish(EV_ESTOP_RELEASED, -1, 0, false);
		return;
	}
	log_msg(LOG_CRIT, "emergency stop pressed: charging off on every slot");
	health_set("estop", HEALTH_FAILED, "emergency stop pressed");
	/* Charging goes off first; the record follows, and does not hold the
	 * stop back when the store cannot write. */
	if (slots_rc.enabled)
		rack_hold_charging_off(true);
	store_audit(store, "gpio", "estop", "pressed", NULL);
	publish(EV_ESTOP_PRESSED, -1, 0, true);
}

static const struct { enum event_type type; event_fn fn; } subs[] = {
	{ EV_SLOT_READING, on_rack_event }, { EV_SLOT_ONLINE, on_rack_event },
	{ EV_SLOT_OFFLINE, on_rack_event }, { EV_BATTERY_QUARANTINED, on_battery_flag },
	{ EV_BATTERY_RELEASED, on_battery_flag },
};

static void unsubscribe(void)
{
	for (size_t k = 0; k < sizeof subs / sizeof subs[0]; k++)
		event_unsubscribe(subs[k].type, subs[k].fn, NULL);
}

static enum sw_err subscribe(char *why, size_t whylen)
{
	for (size_t k = 0; k < sizeof subs / sizeof subs[0]; k++) {
		enum sw_err e = event_subscribe(subs[k].type, subs[k].fn, NULL);
		if (e != SW_OK) {
			snprintf(why, whylen, "cannot subscribe to %s", event_name(subs[k].type));
			unsubscribe();
			return e;
		}
	}
	return SW_OK;
}

/* An emergency stop already pressed at start counts as pressed now. The
 * "estop" health entry is this module's alone: the "gpio" entry is the
 * driver's, about its lines, and a line that works again must not say
 * that a pressed stop is fine. */
static void check_estop(void)
{
	bool pressed;

	if (!slots_have_gpio || gpio_get(GPIO_ESTOP, 0, &pressed) != SW_OK)
		return;
	if (pressed)
		on_gpio_input(GPIO_ESTOP, 0, true, NULL);
	else
		health_set("estop", HEALTH_OK, "released");
}

enum sw_err slots_start(const struct config *cfg, struct store *st, char *why, size_t whylen)
{
	slots_rc = cfg->rack;
	store = st;
	enum sw_err re = command_register(slots_commands, COMMAND_ROWS(slots_commands), why, whylen);
	if (re == SW_OK && slots_rc.enabled)
		re = command_register(rack_commands, COMMAND_ROWS(rack_commands), why, whylen);
	if (re != SW_OK)
		return re;
	if (cfg->gpio.enabled) {
		enum sw_err e = gpio_open(&cfg->gpio, on_gpio_input, NULL, why, whylen);
		if (e != SW_OK)
			return e;
		slots_have_gpio = true;
	}
	if (!slots_rc.enabled) {
		rack_absent();
		check_estop();
		return SW_OK;
	}
	memset(seen, 0, sizeof seen);
	memset(holds, 0, sizeof holds);
	memset(quarantine, 0, sizeof quarantine);
	for (int i = 0; i < slots_rc.nslots; i++) {
		states[i] = SLOT_OFFLINE;
		seen[i].door = seen[i].lock = -1;
	}
	enum sw_err e = store_slots_out(store, mark_out, NULL);
	if (e != SW_OK) {
		snprintf(why, whylen, "cannot read the slots out of service: %s", store_errmsg(store));
		return e;
	}
	e = subscribe(why, whylen);
	if (e == SW_OK && (e = rack_open(&cfg->rack, why, whylen)) != SW_OK)
		unsubscribe();
	if (e != SW_OK)
		return e;
	loop_timer_init(&telemetry_timer, take_samples, NULL);
	loop_timer_init(&gpio_done_timer, gpio_done_fire, NULL);
	ngpio_done = 0;
	loop_timer_arm(&telemetry_timer, slots_rc.telemetry_interval_ms);
	check_estop();
	return SW_OK;
}

static bool all_locked(void *arg)
{
	(void)arg;
	return rack_all_locked();
}

void slots_stop(void)
{
	stopping = true;
	slots_lock_stop(); /* their callers are gone or going */
	if (slots_have_gpio)
		gpio_close(); /* it locks every lock first */
	slots_have_gpio = false;
	if (!slots_rc.enabled)
		return;
	loop_timer_cancel(&telemetry_timer);
	/* Every controller-driven door is locked and read back before the bus
	 * closes, so a cabinet without a master watchdog is not left open. A
	 * slot that does not answer in time got the broadcast lock at least. */
	rack_lock_all();
	/* The job with the worker ends first: give it its timeout, within
	 * the stop's own bound. */
	int64_t budget = STOP_LOCK_MS + slots_rc.response_timeout_ms;
	if (!loop_run_until(all_locked, NULL, budget < STOP_MAX_MS ? budget : STOP_MAX_MS))
		log_msg(LOG_WARNING, "rack: not every door confirmed locked at stop");
	rack_close();
	unsubscribe();
	stopping = false;
}
