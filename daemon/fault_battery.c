#include "daemon/fault_battery.h"

#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/charge.h"
#include "daemon/event.h"
#include "daemon/fault.h"
#include "daemon/ledger.h"
#include "daemon/log.h"
#include "daemon/loop.h"
#include "daemon/slots.h"
#include "drivers/rack.h"

/* The detectors of this module, each one fault code. */
enum det { D_WARN, D_CRIT, D_RISE, D_CELL_OV, D_IMBALANCE, D_BMS, D_COUNT };

static const enum fault_code det_code[D_COUNT] = {
	[D_WARN] = FAULT_OVER_TEMP_WARN, [D_CRIT] = FAULT_OVER_TEMP, [D_RISE] = FAULT_TEMP_RISE,
	[D_CELL_OV] = FAULT_CELL_OVER_VOLTAGE, [D_IMBALANCE] = FAULT_CELL_IMBALANCE,
	[D_BMS] = FAULT_BMS_IMPLAUSIBLE,
};

/* Temperatures of one battery, one per health reading, for the rise. */
#define RISE_SAMPLES 32

/* What this module knows of one slot: the battery its open faults are
 * about, which of them are open, and the recent temperatures. */
static struct watch {
	uint64_t battery;
	bool on[D_COUNT];
	int64_t id[D_COUNT];
	bool limited;          /* the warning's current limit written since charging began */
	int64_t slow_at;       /* the health reading last judged */
	int64_t t_at[RISE_SAMPLES];
	double t_c[RISE_SAMPLES];
	int nt;
} w[RACK_MAX_SLOTS];

static struct config_faults fc;
static double charge_a;
static double full_soc; /* FB_FULL_SOC, or rack.charged_soc when lower */
static bool running;

/* The slot controller's state while its charger output is on
 * (firmware/REGISTERS.md, register state). */
#define STATE_CHARGER_ON 2

/* What the charger of a slot shows against its readings. */
enum mismatch { MM_NONE, MM_DEAD, MM_WELDED };

/* The charger's faults are the slot's (raised with battery 0): they stay
 * with the slot when its battery goes. charger_fault, per slot: */
static struct charger {
	bool fault_on;
	int64_t fault_id;
	int tries;             /* latch resets written */
	int64_t reset_at;      /* loop time of the next reset, 0: none due */
	bool verifying;        /* a reset went out: the next fast read says */
	int64_t verify_after;  /* ... a read newer than this fast_at */
} ch[RACK_MAX_SLOTS];

/* current_mismatch, per slot. */
static struct current {
	enum mismatch seen, open;
	int64_t seen_since;    /* the health read (slow_at) that first showed it */
	int64_t judged_at;     /* the health read last judged */
	uint64_t open_battery; /* the battery a dead charger was found with */
} cur[RACK_MAX_SLOTS];

/* One action under way, until its command reads back. */
struct pending {
	int64_t id;
	const char *action;
};

static void record(int64_t id, const char *action, enum sw_err e)
{
	char out[96];

	if (!id)
		return;
	snprintf(out, sizeof out, e == SW_OK ? "ok" : "failed: %s", sw_strerror(e));
	fault_action(id, action, out);
}

static void done(enum sw_err e, void *arg)
{
	struct pending *p = arg;

	record(p->id, p->action, e);
	free(p);
}

/* Writes f = value on slot index i, recording action on fault id once it
 * reads back (or at once when it cannot be queued). */
static void command(int i, enum rack_field f, double value, int64_t id, const char *action)
{
	struct pending *p = malloc(sizeof *p);

	if (!p) {
		record(id, action, SW_ENOMEM);
		return;
	}
	*p = (struct pending){ id, action };
	enum sw_err e = rack_write(i, f, value, done, p);
	if (e != SW_OK) {
		free(p);
		record(id, action, e);
		log_msg(LOG_ERR, "battery faults: slot %d: %s: %s", slots_number(i), action,
			sw_strerror(e));
	}
}

static void quarantine(uint64_t battery, int64_t id, const char *reason)
{
	enum sw_err e = ledger_battery_quarantine(battery, true, reason, "fault");

	record(id, "quarantine the battery", e == SW_EEXIST ? SW_OK : e);
}

/* The level-1 actions of detector d on slot index i, fault id. */
static void act(enum det d, int i, uint64_t battery, int64_t id)
{
	const struct rack_reading *r = rack_reading(i);

	switch (d) {
	case D_WARN:
		if (slots_state(i) == SLOT_CHARGING) {
			command(i, RF_CURRENT_LIMIT, charge_a * FB_WARN_CURRENT_FRACTION, id,
				"reduce the charging current");
			w[i].limited = true;
		}
		return;
	case D_CRIT:
		/* Charging off first: the queue puts the write ahead of every
		 * read, so it is on the controller within this poll cycle. */
		command(i, RF_CHARGE_ENABLE, 0, id, "stop charging");
		if (!r->locked && !r->door_open && !slots_holder(i, NULL)) {
			struct pending *p = malloc(sizeof *p);
			if (p) {
				*p = (struct pending){ id, "lock the door" };
				enum sw_err e = slots_set_lock(i, true, done, p);
				if (e != SW_OK)
					done(e, p);
			}
		}
		quarantine(battery, id, "over_temperature");
		return;
	case D_RISE:
		command(i, RF_CHARGE_ENABLE, 0, id, "stop charging");
		return;
	case D_CELL_OV:
	case D_IMBALANCE:
		command(i, RF_CHARGE_ENABLE, 0, id, "stop charging");
		quarantine(battery, id, d == D_CELL_OV ? "cell_over_voltage" : "cell_imbalance");
		return;
	case D_BMS:
		quarantine(battery, id, "bms_implausible");
		return;
	case D_COUNT:
		return;
	}
}

static const char *const det_action[D_COUNT] = {
	[D_WARN] = "reduce the charging current",
	[D_CRIT] = "stop charging, lock the door, quarantine the battery",
	[D_RISE] = "stop charging",
	[D_CELL_OV] = "stop charging, quarantine the battery",
	[D_IMBALANCE] = "stop charging, quarantine the battery",
	[D_BMS] = "quarantine the battery",
};

/* Detector d's condition on slot index i: raised (with its actions) when
 * it begins, said gone when it ends. */
static void judge(enum det d, int i, bool holds, const char *detail)
{
	struct watch *s = &w[i];
	int n = slots_number(i);

	if (holds && !s->on[d]) {
		s->on[d] = true;
		log_msg(LOG_WARNING, "battery faults: slot %d: %s", n, detail);
		s->id[d] = fault_raise(det_code[d], n, s->battery, detail, det_action[d]);
		act(d, i, s->battery, s->id[d]);
	} else if (!holds && s->on[d]) {
		s->on[d] = false;
		fault_gone(det_code[d], n, s->battery);
		if (d == D_WARN && s->limited) {
			command(i, RF_CURRENT_LIMIT, charge_a, 0, NULL);
			s->limited = false;
		}
	}
}

/* The battery of slot index i changed: its faults here are gone with it. */
static void forget(int i, uint64_t battery)
{
	for (int d = 0; d < D_COUNT; d++)
		judge((enum det)d, i, false, NULL);
	w[i] = (struct watch){ .battery = battery };
}

static bool bit(const struct rack_reading *r, enum rack_fault f)
{
	int b = rack_profile()->fault_bit[f];

	return b >= 0 && (r->fault_bits >> b & 1);
}

/* How fast the temperature rose over the window, in °C a minute, from the
 * oldest sample inside it; 0 without one a half window old. */
static double rise(struct watch *s, int64_t at, double t)
{
	/* Samples kept this far apart span twice the window. */
	bool keep = !s->nt || at - s->t_at[s->nt - 1] >= (int64_t)FB_RISE_WINDOW_S * 2000 / RISE_SAMPLES;

	if (keep && s->nt == RISE_SAMPLES) {
		memmove(s->t_at, s->t_at + 1, sizeof s->t_at - sizeof s->t_at[0]);
		memmove(s->t_c, s->t_c + 1, sizeof s->t_c - sizeof s->t_c[0]);
		s->nt--;
	}
	if (keep) {
		s->t_at[s->nt] = at;
		s->t_c[s->nt++] = t;
	}
	for (int k = 0; k < s->nt; k++) {
		int64_t age = at - s->t_at[k];
		if (age > (int64_t)FB_RISE_WINDOW_S * 1000)
			continue;
		if (age < (int64_t)FB_RISE_WINDOW_S * 500)
			return 0;
		return (t - s->t_c[k]) * 60000.0 / (double)age;
	}
	return 0;
}

/* BMS values no battery can have: why, or NULL. */
static const char *implausible(const struct rack_reading *r)
{
	if (bit(r, RFLT_BMS_INVALID))
		return "the controller says the BMS is invalid";
	if (r->have[RF_SOC] && (r->soc < 0 || r->soc > 100))
		return "SOC outside 0..100 %";
	if (r->have[RF_TEMPERATURE] && (r->temperature < -40 || r->temperature > 150))
		return "temperature outside -40..150 C";
	if (r->have[RF_CELL_MIN] && r->have[RF_CELL_MAX] && r->cell_min > r->cell_max)
		return "cell minimum above cell maximum";
	if (r->have[RF_VOLTAGE] && r->voltage <= 0)
		return "pack voltage 0";
	return NULL;
}

static void judge_temperature(int i, const struct rack_reading *r, bool fresh)
{
	struct watch *s = &w[i];
	char d[128];
	double t = r->temperature;

	if (!r->have[RF_TEMPERATURE] || s->on[D_BMS])
		return;
	bool crit = bit(r, RFLT_OVER_TEMP) || t >= fc.crit_temp_c ||
		    (s->on[D_CRIT] && t >= fc.crit_temp_c - FB_TEMP_HYST_C);
	bool warn = crit || t >= fc.warn_temp_c ||
		    (s->on[D_WARN] && t >= fc.warn_temp_c - FB_TEMP_HYST_C);
	snprintf(d, sizeof d, "battery at %.1f C (critical %d C)", t, fc.crit_temp_c);
	judge(D_CRIT, i, crit, d);
	snprintf(d, sizeof d, "battery at %.1f C (warning %d C)", t, fc.warn_temp_c);
	judge(D_WARN, i, warn, d);
	if (s->on[D_WARN] && !s->limited && slots_state(i) == SLOT_CHARGING) {
		command(i, RF_CURRENT_LIMIT, charge_a * FB_WARN_CURRENT_FRACTION, s->id[D_WARN],
			"reduce the charging current");
		s->limited = true;
	} else if (slots_state(i) != SLOT_CHARGING) {
		s->limited = false; /* charging starts again at charge.current_a */
	}
	if (!fresh)
		return;
	double per_min = rise(s, r->slow_at, t);
	snprintf(d, sizeof d, "temperature rising %.1f C/min (limit %.1f)", per_min,
		 FB_RISE_C_PER_MIN);
	judge(D_RISE, i, per_min > FB_RISE_C_PER_MIN, d);
}

static void judge_cells(int i, const struct rack_reading *r)
{
	char d[128];

	if (!r->have[RF_CELL_MIN] || !r->have[RF_CELL_MAX] || w[i].on[D_BMS])
		return;
	snprintf(d, sizeof d, "a cell at %.3f V (limit %.3f V)", r->cell_max, FB_CELL_OV_V);
	judge(D_CELL_OV, i, bit(r, RFLT_CELL_OV) || r->cell_max >= FB_CELL_OV_V, d);
	double spread = r->cell_max - r->cell_min;
	snprintf(d, sizeof d, "cells %.0f mV apart (limit %.0f mV)", spread * 1000,
		 FB_IMBALANCE_V * 1000);
	judge(D_IMBALANCE, i, spread > FB_IMBALANCE_V, d);
}

/* The next latch reset after a failed one, or the end of trying: the
 * fault stays open for a person (the registry's escalate_after_s). */
static void next_reset(int i)
{
	struct charger *c = &ch[i];

	if (c->tries < FB_RESET_TRIES) {
		c->reset_at = loop_now() + ((int64_t)FB_RESET_FIRST_S * 1000 << c->tries);
		return;
	}
	c->reset_at = 0;
	log_msg(LOG_ERR, "battery faults: slot %d: the charger's fault stays after %d resets: "
		"left to a person", slots_number(i), FB_RESET_TRIES);
	if (c->fault_id)
		fault_action(c->fault_id, "escalate", "the latch stays set after the resets");
}

static void reset_action(int i, char *buf, size_t len)
{
	snprintf(buf, len, "reset the latch (%d of %d)", ch[i].tries, FB_RESET_TRIES);
}

/* The reset register reads 0 by design (a command, REGISTERS.md), so the
 * rack's read-back says SW_EREADBACK for a write the controller took: the
 * outcome is the fault bit on the next fast read. */
static void reset_written(enum sw_err e, void *arg)
{
	int i = (int)(intptr_t)arg;
	struct charger *c = &ch[i];
	char what[64];

	if (!c->fault_on)
		return;
	if (e == SW_OK || e == SW_EREADBACK) {
		c->verifying = true;
		c->verify_after = rack_reading(i)->fast_at;
		return;
	}
	reset_action(i, what, sizeof what);
	record(c->fault_id, what, e);
	next_reset(i);
}

static void reset_latch(int i)
{
	struct charger *c = &ch[i];

	c->tries++;
	c->reset_at = 0;
	enum sw_err e = rack_write(i, RF_FAULT_RESET, 1, reset_written, (void *)(intptr_t)i);
	if (e != SW_OK)
		reset_written(e, (void *)(intptr_t)i);
}

/* charger_fault: the controller's latched CHARGER bit. Charging off at
 * once, then the latch reset 10, 20 and 40 s apart until it reads gone. */
static void judge_charger(int i, const struct rack_reading *r)
{
	struct charger *c = &ch[i];
	int n = slots_number(i);
	bool set = bit(r, RFLT_CHARGER);
	char what[64];

	if (set && !c->fault_on) {
		*c = (struct charger){ .fault_on = true,
				       .reset_at = loop_now() + (int64_t)FB_RESET_FIRST_S * 1000 };
		log_msg(LOG_WARNING, "battery faults: slot %d: the charger reports a fault", n);
		c->fault_id = fault_raise(FAULT_CHARGER, n, 0, "the charger reports a fault",
					  "stop charging, reset the latch");
		command(i, RF_CHARGE_ENABLE, 0, c->fault_id, "stop charging");
		return;
	}
	if (!c->fault_on)
		return;
	if (c->verifying) {
		if (r->fast_at == c->verify_after)
			return;
		c->verifying = false;
		reset_action(i, what, sizeof what);
		if (c->fault_id)
			fault_action(c->fault_id, what, set ? "failed: still set" : "ok");
		if (set)
			next_reset(i);
	}
	if (!set) {
		c->fault_on = false;
		c->reset_at = 0;
		fault_gone(FAULT_CHARGER, n, 0);
	} else if (c->reset_at && loop_now() >= c->reset_at) {
		reset_latch(i);
	}
}

static enum mismatch mismatch(const struct rack_reading *r)
{
	if (!r->present || !r->have[RF_STATE] || !r->have[RF_CURRENT])
		return MM_NONE;
	double a = fabs(r->current);
	if (r->state == STATE_CHARGER_ON)
		return a < FB_DEAD_CURRENT_A && r->have[RF_SOC] && r->soc < full_soc ? MM_DEAD
										: MM_NONE;
	return a > FB_WELDED_CURRENT_A ? MM_WELDED : MM_NONE;
}

/* Whether an open current_mismatch is gone. A dead charger is not tried
 * again while its fault holds charging off (the veto), so it stays until
 * its battery leaves or charging is seen delivering current; current
 * flowing with the charger off is seen to stop. */
static bool mismatch_gone(const struct current *c, const struct rack_reading *r, uint64_t battery,
			  enum mismatch m)
{
	if (c->open == MM_WELDED)
		return m != MM_WELDED;
	return battery != c->open_battery ||
	       (r->state == STATE_CHARGER_ON && fabs(r->current) >= FB_DEAD_CURRENT_A);
}

/* current_mismatch: none while the charger reads back on, or current while
 * it reads back off, for long enough that a reading of the health group
 * lagging the charger's switch is not one. The time is the health reads'
 * own: a current not read again (a noisy bus failing the health block
 * while the state still gets through) is old news, not a longer mismatch. */
static void judge_current(int i, const struct rack_reading *r, uint64_t battery)
{
	struct current *c = &cur[i];
	int64_t now = r->slow_at;
	int n = slots_number(i);
	char d[128];

	if (now == c->judged_at)
		return;
	c->judged_at = now;
	enum mismatch m = mismatch(r);
	if (m != c->seen) {
		c->seen = m;
		c->seen_since = now;
	}
	if (c->open != MM_NONE) {
		if (mismatch_gone(c, r, battery, m)) {
			c->open = MM_NONE;
			fault_gone(FAULT_CURRENT_MISMATCH, n, 0);
		}
		return;
	}
	if (m == MM_NONE || now - c->seen_since < (m == MM_DEAD ? FB_DEAD_S : FB_WELDED_S) * 1000LL)
		return;
	if (m == MM_DEAD)
		snprintf(d, sizeof d, "no current (%.2f A) with the charger on for %d s at %.1f %%",
			 r->current, FB_DEAD_S, r->soc);
	else
		snprintf(d, sizeof d, "%.2f A flowing with the charger off for %d s", r->current,
			 FB_WELDED_S);
	c->open = m;
	c->open_battery = battery;
	log_msg(LOG_WARNING, "battery faults: slot %d: %s", n, d);
	command(i, RF_CHARGE_ENABLE, 0, fault_raise(FAULT_CURRENT_MISMATCH, n, 0, d, "stop charging"),
		"stop charging");
}

static void on_reading(const struct event *ev, void *arg)
{
	(void)arg;
	int i = ev->slot;
	if (!running || i < 0 || i >= RACK_MAX_SLOTS)
		return;
	const struct rack_reading *r = rack_reading(i);
	uint64_t id;
	/* Only what was read since the last miss speaks of the battery now;
	 * an offline slot's faults are the slot's, another detector's. */
	if (!r->online)
		return;
	judge_charger(i, r);
	if (!slots_battery(i, &id))
		return;
	/* a BMS talking nonsense says nothing of the current either */
	if (!r->health_pending && !implausible(r))
		judge_current(i, r, id);
	if (id != w[i].battery)
		forget(i, id);
	if (!id || r->health_pending)
		return;
	bool fresh = r->slow_at != w[i].slow_at;
	w[i].slow_at = r->slow_at;
	const char *why = implausible(r);
	judge(D_BMS, i, why != NULL, why ? why : "");
	judge_temperature(i, r, fresh);
	judge_cells(i, r);
}

/* The ledger's quarantine rule is the one low-SOH rule: its quarantine is
 * the fault's detection and its level-1 action at once. */
static void on_quarantine(const struct event *ev, void *arg)
{
	(void)arg;
	if (!running || !ev->what || strcmp(ev->what, "low_soh") != 0)
		return;
	if (ev->type == EV_BATTERY_QUARANTINED) {
		int64_t id = fault_raise(FAULT_LOW_SOH, ev->slot_no, ev->battery,
					 "state of health under ledger.quarantine_soh",
					 "quarantine the battery");
		if (id)
			fault_action(id, "quarantine the battery", "ok");
	}
}

static void on_release(const struct event *ev, void *arg)
{
	(void)arg;
	if (running)
		fault_gone(FAULT_LOW_SOH, ev->slot_no, ev->battery);
}

static const struct {
	enum event_type type;
	event_fn fn;
} subs[] = {
	{ EV_SLOT_READING, on_reading },
	{ EV_BATTERY_QUARANTINED, on_quarantine },
	{ EV_BATTERY_RELEASED, on_release },
};

enum sw_err fault_battery_start(const struct config *cfg, struct store *st, char *why,
				size_t whylen)
{
	(void)st;
	fault_battery_reconfigure(cfg);
	if (!cfg->rack.enabled)
		return SW_OK;
	for (size_t k = 0; k < sizeof subs / sizeof subs[0]; k++) {
		enum sw_err e = event_subscribe(subs[k].type, subs[k].fn, NULL);
		if (e != SW_OK) {
			snprintf(why, whylen, "cannot subscribe to %s", event_name(subs[k].type));
			fault_battery_stop();
			return e;
		}
	}
	memset(w, 0, sizeof w);
	memset(ch, 0, sizeof ch);
	memset(cur, 0, sizeof cur);
	running = true;
	charge_set_veto(fault_blocks_own_slot); /* charging stays off while a fault stopped it */
	return SW_OK;
}

void fault_battery_reconfigure(const struct config *cfg)
{
	fc = cfg->faults;
	charge_a = cfg->charge.current_a;
	full_soc = cfg->rack.charged_soc < FB_FULL_SOC ? cfg->rack.charged_soc : FB_FULL_SOC;
}

void fault_battery_stop(void)
{
	running = false;
	charge_set_veto(NULL);
	for (size_t k = 0; k < sizeof subs / sizeof subs[0]; k++)
		event_unsubscribe(subs[k].type, subs[k].fn, NULL);
}
