/* Station faults (fault_station.h, daemon/FAULTS.md "Station detectors"):
 * one condition per (code, slot), judged from events as they come and
 * again by a one-second look, so that a condition present or gone at start
 * (open faults survive a restart) is said once the first look sees it. */
#include "daemon/fault_station.h"

#include <inttypes.h>
#include <libgen.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/statvfs.h>

#include "daemon/event.h"
#include "daemon/fault.h"
#include "daemon/health.h"
#include "daemon/log.h"
#include "daemon/loop.h"
#include "daemon/slots.h"
#include "daemon/sync.h"
#include "drivers/gpio.h"
#include "drivers/rack.h"

#define LOOK_MS 1000
/* A slot that never answered since start is offline after this. */
#define START_GRACE_MS 10000
/* A fault the store could not record is raised again after this. */
#define RETRY_MS 30000
/* The bus device down this long: serial_lost (the bus retries every 2 s). */
#define SERIAL_GRACE_MS 5000
/* bus_errors: more than BUS_ERR_PCT % of at least BUS_MIN_TX transactions
 * of a BUS_WINDOW_MS window were damaged frames. */
#define BUS_WINDOW_MS 60000
#define BUS_MIN_TX 50
#define BUS_ERR_PCT 5
/* An action's outcome is read back this long after its condition went. */
#define SETTLE_MS 10000
/* NTP takes a while after boot: unsynchronised this long after start. */
#define CLOCK_GRACE_MS 300000
/* The disk is looked at this often (statvfs is cheap, the disk slow). */
#define DISK_EVERY_MS 60000
/* slot_offline's power-cycle, where the controller has a supply relay
 * (gpio role slot_power): first CYCLE_FIRST_MS after the raise (the
 * rack's probes had their chance), the supply cut for CUT_MS, the
 * controller given REVIVE_MS to answer; at most CYCLE_TRIES times, the
 * wait doubling after each. */
#define CYCLE_FIRST_MS 30000
#define CUT_MS 3000
#define REVIVE_MS 20000
#define CYCLE_TRIES 3
#define CYCLE_ACTION "power-cycle the controller (its supply relay)"

/* What a detector does at level 1, and how its outcome is known: confirm
 * (may be NULL: recorded by a callback) true means ok. */
struct spec {
	enum fault_code code;
	const char *action;
	bool (*confirm)(int i);
	const char *ok;
};

/* One condition: -1 not judged yet, 0 gone, 1 holds; the open fault's id
 * (0: not recorded) and whether its action's outcome is still to come. */
struct cond {
	signed char state;
	bool pending;
	int64_t id;
	int64_t retry_at;
};

static bool slot_online(int i)
{
	return rack_reading(i)->online;
}

static bool door_shut_locked(int i)
{
	const struct rack_reading *r = rack_reading(i);

	return r->online && !r->door_open && r->locked;
}

static bool charging_held_off(int i)
{
	(void)i;
	for (int k = 0; k < slots_count(); k++)
		if (rack_reading(k)->online && (rack_safe_pending(k) & (1u << RACK_SAFE_CHARGE_OFF)))
			return false;
	return true;
}

static bool bus_up(int i)
{
	struct rack_stats s;

	(void)i;
	rack_stats(&s);
	return s.bus_up;
}

static bool swaps_refused(int i)
{
	(void)i;
	return fault_blocks_station();
}

static bool always(int i)
{
	(void)i;
	return true;
}

static bool broker_up(int i)
{
	(void)i;
	return sync_connected();
}

enum { D_OFFLINE, D_LEFT_OPEN, D_UNEXPECTED, D_SLOT_COUNT };
enum { D_ESTOP, D_SERIAL, D_BUS, D_OUTBOX, D_BROKER, D_CLOCK, D_STORE, D_POWER, D_STATION_COUNT };

static const struct spec slot_specs[D_SLOT_COUNT] = {
	[D_OFFLINE] = { FAULT_SLOT_OFFLINE, "probe with backoff (the rack retries)", slot_online,
			"ok: the slot answers again" },
	[D_LEFT_OPEN] = { FAULT_DOOR_LEFT_OPEN, "lock when closed", door_shut_locked,
			  "ok: closed and locked (read back)" },
	[D_UNEXPECTED] = { FAULT_DOOR_UNEXPECTED, "lock the door", NULL, NULL },
};

static const struct spec station_specs[D_STATION_COUNT] = {
	[D_ESTOP] = { FAULT_ESTOP, "charging held off on every slot (the rack)", charging_held_off,
		      "ok: charging off read back on every online slot" },
	[D_SERIAL] = { FAULT_SERIAL_LOST, "reopen the device with backoff (the rack)", bus_up,
		       "ok: the device is open again" },
	[D_BUS] = { FAULT_BUS_ERRORS, "repeat the request (the rack retries)", NULL, NULL },
	[D_OUTBOX] = { FAULT_OUTBOX_FULL, "refuse new swaps", swaps_refused, "ok: new swaps refused" },
	[D_BROKER] = { FAULT_BROKER_UNREACHABLE, "keep reconnecting with backoff (sync)", broker_up,
		       "ok: connected again" },
	[D_CLOCK] = { FAULT_CLOCK_UNSYNCED, "mark events clock: unsynced (the outbox)", always,
		      "ok: events marked" },
	[D_STORE] = { FAULT_STORE, "refuse new swaps", swaps_refused, "ok: new swaps refused" },
	[D_POWER] = { FAULT_POWER_LOST, "charging held off on every slot (the rack)", charging_held_off,
		      "ok: charging off read back on every online slot" },
};

static struct {
	bool running;
	struct config_faults cfg;
	bool rack, sync;
	char store_dir[PATH_MAX];
	struct cond slot[RACK_MAX_SLOTS][D_SLOT_COUNT];
	bool seen_closed[RACK_MAX_SLOTS]; /* this run saw the door shut */
	struct cycle {             /* slot_offline's power-cycles, loop_now() ms */
		int tries;
		int64_t next_at, restore_at, judge_at;
	} cycle[RACK_MAX_SLOTS];
	struct cond station[D_STATION_COUNT];
	struct loop_timer look;
	int64_t started, serial_down_since, broker_down_since, unsynced_since, disk_at;
	bool disk_low;
	bool power_lost; /* the mains sense reads lost: charging held off */
	char disk_detail[128];
	int64_t bus_at;
	uint64_t bus_tx, bus_err;
} fs;

static void record_outcome(struct cond *c, const char *action, const char *outcome)
{
	c->pending = false;
	if (c->id)
		fault_action(c->id, action, outcome);
}

/* The condition of s holds (detail: what was seen) or is gone, for slot
 * index i (-1: the station). Raises once, retries a raise the store could
 * not take, records the action's outcome when s->confirm says it. */
static void judge(struct cond *c, const struct spec *s, int i, bool holds, const char *detail)
{
	int slot_no = i < 0 ? 0 : slots_number(i);

	if (!holds) {
		if (c->state == 0)
			return;
		fault_gone(s->code, slot_no, 0);
		c->state = 0;
		/* an outcome still to come (the lock after the door closed)
		 * is waited for by settle() */
		c->retry_at = loop_now() + SETTLE_MS;
		if (c->pending && s->confirm && s->confirm(i))
			record_outcome(c, s->action, s->ok);
		return;
	}
	if (c->state == 1 && (c->id || loop_now() < c->retry_at)) {
		if (c->pending && s->confirm && s->confirm(i))
			record_outcome(c, s->action, s->ok);
		return;
	}
	c->state = 1;
	c->id = fault_raise(s->code, slot_no, 0, detail, s->action);
	c->retry_at = loop_now() + RETRY_MS;
	c->pending = c->id != 0;
	if (c->pending && s->confirm && s->confirm(i))
		record_outcome(c, s->action, s->ok);
}

/* A condition gone with its action's outcome not read yet: ok when it
 * reads so, failed after SETTLE_MS. */
static void settle(struct cond *c, const struct spec *s, int i)
{
	if (c->state != 0 || !c->pending || !s->confirm)
		return;
	if (s->confirm(i))
		record_outcome(c, s->action, s->ok);
	else if (loop_now() >= c->retry_at)
		record_outcome(c, s->action, "failed: not read back after the condition went");
}

static void judge_slot(int i, int d, bool holds, const char *detail)
{
	if (i >= 0 && i < slots_count())
		judge(&fs.slot[i][d], &slot_specs[d], i, holds, detail);
}

static void judge_station(int d, bool holds, const char *detail)
{
	judge(&fs.station[d], &station_specs[d], -1, holds, detail);
}

static void lock_done(enum sw_err err, void *arg)
{
	int i = (int)(intptr_t)arg;
	struct cond *c = &fs.slot[i][D_UNEXPECTED];
	char outcome[96];

	if (!fs.running || !c->pending)
		return;
	if (err == SW_OK)
		snprintf(outcome, sizeof outcome, "ok: locked (read back)");
	else
		snprintf(outcome, sizeof outcome, "failed: %s", sw_strerror(err));
	record_outcome(c, slot_specs[D_UNEXPECTED].action, outcome);
}

/* A door opened with no swap, transport job or staff holding its slot:
 * the bolt is thrown so that the door stays shut once it closes. Only an
 * opening this run saw happen counts: a door found open at start belongs
 * to a swap the swap flow has not taken up yet (it holds its slots only
 * once they are read), and locking it would fight the rider. */
static void door_opened(int i)
{
	const char *holder = slots_holder(i, NULL);
	struct cond *c = &fs.slot[i][D_UNEXPECTED];

	if (holder || !fs.seen_closed[i])
		return;
	judge_slot(i, D_UNEXPECTED, true, "door opened with no swap, job or staff on the slot");
	if (!c->pending)
		return;
	enum sw_err e = slots_set_lock(i, true, lock_done, (void *)(intptr_t)i);
	if (e != SW_OK) {
		char outcome[96];

		snprintf(outcome, sizeof outcome, "failed: %s", sw_strerror(e));
		record_outcome(c, slot_specs[D_UNEXPECTED].action, outcome);
	}
}

/* Mains, from the power_sense input when the station has one, as soon as
 * the slots module tells its change (EV_MAINS_CHANGED) and again in each
 * second's look (its state at start, a change missed): lost,
 * charging is held off on every slot by the rack, as for the emergency
 * stop, and the fault blocks new swaps; back, the hold ends unless the
 * stop is pressed, and the charge module starts charging again. */
static void look_power(void)
{
	bool present;

	if (gpio_get(GPIO_POWER, 0, &present) != SW_OK)
		return;
	if (!present && fs.rack)
		rack_hold_charging_off(true);
	else if (present && fs.power_lost && fs.rack && health_get("estop") != HEALTH_FAILED)
		rack_hold_charging_off(false);
	if (present != !fs.power_lost)
		log_msg(present ? LOG_NOTICE : LOG_CRIT, "mains %s", present ? "back: charging may resume"
			: "lost (on the UPS): charging held off on every slot");
	fs.power_lost = !present;
	judge_station(D_POWER, !present, "mains lost: the station runs on its UPS");
}

static void on_event(const struct event *ev, void *arg)
{
	(void)arg;
	switch (ev->type) {
	case EV_SLOT_OFFLINE:
		judge_slot(ev->slot, D_OFFLINE, true, "no answer to its polls");
		break;
	case EV_SLOT_ONLINE:
		judge_slot(ev->slot, D_OFFLINE, false, NULL);
		break;
	case EV_DOOR_ALARM:
		judge_slot(ev->slot, D_LEFT_OPEN, ev->on, "door left open");
		break;
	case EV_DOOR_OPENED:
		if (ev->slot >= 0 && ev->slot < slots_count())
			door_opened(ev->slot);
		break;
	case EV_DOOR_CLOSED:
		if (ev->slot >= 0 && ev->slot < slots_count())
			fs.seen_closed[ev->slot] = true;
		judge_slot(ev->slot, D_UNEXPECTED, false, NULL);
		break;
	case EV_MAINS_CHANGED:
		look_power();
		break;
	case EV_ESTOP_PRESSED:
	case EV_ESTOP_RELEASED:
		/* slots.c has just let charging go with the stop's release:
		 * without mains it is held off again before anything runs */
		if (ev->type == EV_ESTOP_RELEASED && fs.power_lost && fs.rack)
			rack_hold_charging_off(true);
		judge_station(D_ESTOP, ev->type == EV_ESTOP_PRESSED, "emergency stop pressed");
		break;
	default:
		break;
	}
}

static const enum event_type watched[] = {
	EV_SLOT_OFFLINE, EV_SLOT_ONLINE, EV_DOOR_ALARM, EV_DOOR_OPENED, EV_DOOR_CLOSED,
	EV_ESTOP_PRESSED, EV_ESTOP_RELEASED, EV_MAINS_CHANGED,
};

/* The power-cycle of slot index i's controller while it is offline: cut,
 * restored, judged by whether it answers in time, tried again later. */
static void power_cycle(int i, int64_t now)
{
	struct cycle *y = &fs.cycle[i];
	const struct cond *off = &fs.slot[i][D_OFFLINE];
	int slot_no = slots_number(i);

	if (!gpio_has_slot_power(slot_no))
		return;
	if (y->restore_at && now >= y->restore_at) {
		y->restore_at = 0;
		y->judge_at = now + REVIVE_MS;
		if (gpio_cut_slot_power(slot_no, false) != SW_OK && off->id)
			fault_action(off->id, CYCLE_ACTION, "failed: the relay did not restore the supply");
	}
	/* it boots within seconds: asked each second from then, not at the
	 * end of a backoff grown while it was silent */
	if (y->judge_at)
		rack_probe_soon(i);
	if (off->state != 1) {
		if (y->judge_at && off->id)
			fault_action(off->id, CYCLE_ACTION, "ok: the controller answers again");
		if (!y->restore_at)
			*y = (struct cycle){ 0 };
		return;
	}
	if (y->judge_at && now >= y->judge_at) {
		y->judge_at = 0;
		if (off->id)
			fault_action(off->id, CYCLE_ACTION, "failed: still silent");
	}
	if (y->restore_at || y->judge_at || y->tries >= CYCLE_TRIES || !off->id)
		return;
	if (!y->next_at)
		y->next_at = now + CYCLE_FIRST_MS;
	if (now < y->next_at)
		return;
	y->tries++;
	y->next_at = now + CUT_MS + REVIVE_MS + ((int64_t)CYCLE_FIRST_MS << y->tries);
	if (gpio_cut_slot_power(slot_no, true) != SW_OK) {
		fault_action(off->id, CYCLE_ACTION, "failed: the relay did not switch");
		return;
	}
	fault_action(off->id, CYCLE_ACTION, "taken");
	y->restore_at = now + CUT_MS;
}

/* Each slot: offline since start (the rack says offline only of a slot
 * that answered once), its doors' faults gone once its door reads shut,
 * and the outcomes still to come. */
static void look_slots(void)
{
	int64_t now = loop_now();

	for (int i = 0; i < slots_count(); i++) {
		const struct rack_reading *r = rack_reading(i);
		struct cond *off = &fs.slot[i][D_OFFLINE];

		if (r->online)
			judge_slot(i, D_OFFLINE, false, NULL);
		else if (off->state == 1 || (off->state < 0 && now - fs.started >= START_GRACE_MS))
			judge_slot(i, D_OFFLINE, true, "no answer since start");
		if (r->online && !r->door_open) {
			fs.seen_closed[i] = true;
			judge_slot(i, D_UNEXPECTED, false, NULL);
			if (fs.slot[i][D_LEFT_OPEN].state != 1)
				judge_slot(i, D_LEFT_OPEN, false, NULL);
		}
		for (int d = 0; d < D_SLOT_COUNT; d++)
			settle(&fs.slot[i][d], &slot_specs[d], i);
		power_cycle(i, now);
	}
}

/* The bus device, and the share of damaged frames over the last window. */
static void look_bus(void)
{
	struct rack_stats s;
	int64_t now = loop_now();
	char detail[128];

	rack_stats(&s);
	if (s.bus_up)
		fs.serial_down_since = 0;
	else if (!fs.serial_down_since)
		fs.serial_down_since = now;
	judge_station(D_SERIAL, fs.serial_down_since && now - fs.serial_down_since >= SERIAL_GRACE_MS,
		      "the slot bus device cannot be opened");
	if (now - fs.bus_at < BUS_WINDOW_MS)
		return;
	uint64_t tx = s.transactions - fs.bus_tx, err = s.errors - fs.bus_err;
	bool bad = fs.bus_at && tx >= BUS_MIN_TX && err * 100 > tx * BUS_ERR_PCT;

	snprintf(detail, sizeof detail, "%" PRIu64 " damaged frames in %" PRIu64 " transactions in %d s",
		 err, tx, BUS_WINDOW_MS / 1000);
	if (fs.bus_at)
		judge_station(D_BUS, bad, detail);
	fs.bus_at = now;
	fs.bus_tx = s.transactions;
	fs.bus_err = s.errors;
}

static void look_disk(void)
{
	struct statvfs v;
	int64_t now = loop_now();

	if (fs.disk_at && now - fs.disk_at < DISK_EVERY_MS)
		return;
	fs.disk_at = now;
	if (!fs.store_dir[0] || statvfs(fs.store_dir, &v) != 0) {
		fs.disk_low = false;
		return;
	}
	uint64_t free_mb = (uint64_t)v.f_bavail * v.f_frsize / (1024 * 1024);

	fs.disk_low = free_mb < (uint64_t)fs.cfg.disk_min_mb;
	snprintf(fs.disk_detail, sizeof fs.disk_detail, "%" PRIu64 " MB free on the store's disk (under %d MB)",
		 free_mb, fs.cfg.disk_min_mb);
}

/* The outbox, the broker, the clock and the store. */
static void look_station(void)
{
	int64_t now = loop_now();
	char detail[96];

	if (fs.station[D_ESTOP].state < 0 || fs.station[D_ESTOP].state == 1)
		judge_station(D_ESTOP, health_get("estop") == HEALTH_FAILED, "emergency stop pressed");
	judge_station(D_OUTBOX, fs.sync && sync_outbox_full(), "the outbox is at sync.outbox_cap");
	if (!fs.sync || sync_connected())
		fs.broker_down_since = 0;
	else if (!fs.broker_down_since)
		fs.broker_down_since = now;
	snprintf(detail, sizeof detail, "no broker for over %d s", fs.cfg.broker_down_s);
	judge_station(D_BROKER, fs.broker_down_since &&
		      now - fs.broker_down_since >= (int64_t)fs.cfg.broker_down_s * 1000, detail);
	if (loop_wall_synced())
		fs.unsynced_since = 0;
	else if (!fs.unsynced_since)
		fs.unsynced_since = now;
	judge_station(D_CLOCK, fs.unsynced_since && now - fs.unsynced_since >= CLOCK_GRACE_MS,
		      "the system clock is not synchronised");
	look_disk();
	bool failed = health_get("store") == HEALTH_FAILED;

	judge_station(D_STORE, failed || fs.disk_low,
		      failed ? "the database failed (swapctl status)" : fs.disk_detail);
}

static void look(void *arg)
{
	(void)arg;
	if (fs.rack) {
		look_slots();
		look_bus();
	}
	look_power();
	look_station();
	for (int d = 0; d < D_STATION_COUNT; d++)
		settle(&fs.station[d], &station_specs[d], -1);
	loop_timer_arm(&fs.look, LOOK_MS);
}

static void set_store_dir(const char *path)
{
	char copy[PATH_MAX];

	snprintf(copy, sizeof copy, "%s", path);
	snprintf(fs.store_dir, sizeof fs.store_dir, "%s", copy[0] ? dirname(copy) : "");
}

enum sw_err fault_station_start(const struct config *cfg, struct store *st, char *why,
				size_t whylen)
{
	(void)st;
	memset(&fs, 0, sizeof fs);
	fs.cfg = cfg->faults;
	fs.rack = cfg->rack.enabled;
	fs.sync = cfg->sync.enabled;
	set_store_dir(cfg->store.path);
	for (int i = 0; i < RACK_MAX_SLOTS; i++)
		for (int d = 0; d < D_SLOT_COUNT; d++)
			fs.slot[i][d].state = -1;
	for (int d = 0; d < D_STATION_COUNT; d++)
		fs.station[d].state = -1;
	fs.started = loop_now();
	for (size_t k = 0; k < sizeof watched / sizeof watched[0]; k++) {
		enum sw_err e = event_subscribe(watched[k], on_event, NULL);

		if (e != SW_OK) {
			snprintf(why, whylen, "cannot subscribe to %s", event_name(watched[k]));
			fault_station_stop();
			return e;
		}
	}
	fs.running = true;
	loop_timer_init(&fs.look, look, NULL);
	loop_timer_arm(&fs.look, LOOK_MS);
	return SW_OK;
}

void fault_station_reconfigure(const struct config *cfg)
{
	fs.cfg = cfg->faults;
	fs.disk_at = 0;
}

void fault_station_stop(void)
{
	for (size_t k = 0; k < sizeof watched / sizeof watched[0]; k++)
		event_unsubscribe(watched[k], on_event, NULL);
	if (fs.running)
		loop_timer_cancel(&fs.look);
	/* a controller is never left without supply */
	for (int i = 0; i < RACK_MAX_SLOTS; i++)
		if (fs.running && fs.cycle[i].restore_at)
			gpio_cut_slot_power(slots_number(i), false);
	fs.running = false;
}
