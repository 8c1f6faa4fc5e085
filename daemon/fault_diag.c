/* The diagnosis's interface and its built-in heuristics (fault_diag.h).
 * Every threshold is a named constant here and is documented, with the
 * rules, in daemon/FAULTS.md "Level 2: diagnosis". */
#include "daemon/fault_diag.h"

#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "drivers/rack.h"

#define DAY_MS (86400LL * 1000)
/* Past faults counted as priors: the last 30 days. */
#define FD_PRIOR_MS (30 * DAY_MS)
/* Recurring: the same (code, slot) or (code, battery) this often in 7 days
 * (this raise included) needs a person. */
#define FD_RECUR_MS (7 * DAY_MS)
#define FD_RECUR_N 3
/* One episode: another code of the family at the same slot with the same
 * battery raised this close to this fault (the warning with the critical
 * over-temperature, a rise with them) is the same event, not a prior. */
#define FD_EPISODE_MS (10 * 60 * 1000)
/* Bus: communication faults on this many slots within 10 minutes. */
#define FD_BUS_MS (10 * 60 * 1000)
#define FD_BUS_SLOTS 3
/* A slot blamed: the same family of fault there with this many other
 * batteries in 30 days. */
#define FD_SLOT_BATTERIES 2
/* A battery blamed: the same family of fault with it in this many other
 * slots in 30 days. */
#define FD_BATTERY_SLOTS 1
/* A reading counts as current this long. */
#define FD_FRESH_MS 120000
/* Peers (other slots holding a battery, read within FD_FRESH_MS) needed
 * to compare with them. */
#define FD_PEERS_MIN 2
/* An anomaly against the peers: this far above their median. */
#define FD_PEER_DELTA_C 10.0
#define FD_PEER_DELTA_MV 50.0
/* A peer this close to the slot's temperature, or above it, is hot like
 * it; more than half of them hot: the site is hot. */
#define FD_PEER_HOT_MARGIN_C 5.0
/* An anomaly against the slot's own 30 minutes: this far above its mean,
 * once it has a minute of samples (fewer say little of a trend). */
#define FD_OWN_DELTA_C 10.0
#define FD_OWN_MIN_SAMPLES (60 / FAULT_DIAG_SAMPLE_S)
/* A jump: this much between two samples of the last minute. */
#define FD_JUMP_C 5.0
#define FD_JUMP_SAMPLES (60 / FAULT_DIAG_SAMPLE_S)
/* likelihood = min(FD_MAX, FD_BASE + FD_PER_PRIOR * priors
 *                  + FD_ANOMALY * anomaly), times FD_SITE_FACTOR when the
 * site is to blame; at FD_LEVEL3 or above a person must act. */
#define FD_BASE 0.2
#define FD_PER_PRIOR 0.2
#define FD_ANOMALY 0.2
#define FD_MAX 0.95
#define FD_SITE_FACTOR 0.5
#define FD_LEVEL3 0.8

/* Families of codes: faults of one family are priors of each other. */
enum fam { F_OTHER, F_TEMP, F_CELL, F_BMS, F_SOH, F_CHARGE, F_DOOR, F_COMM, F_IDENT, F_STATION };

/* Per family: the cause when the slot is blamed (NULL: never), and
 * whether the battery can be. */
static const struct {
	const char *slot_cause;
	bool battery;
} fams[] = {
	[F_OTHER] = { "slot_controller", false }, [F_TEMP] = { "slot_charger", true },
	[F_CELL] = { "slot_sensor", true },       [F_BMS] = { "slot_sensor", true },
	[F_SOH] = { NULL, true },                 [F_CHARGE] = { "slot_charger", true },
	[F_DOOR] = { "slot_lock", false },        [F_COMM] = { "slot_controller", false },
	[F_IDENT] = { "slot_sensor", false },     [F_STATION] = { NULL, false },
};

/* Per code: its family; a station code's fixed cause and action. */
static const struct {
	enum fam fam;
	const char *cause, *action;
} kinds[FAULT_CODE_COUNT] = {
	[FAULT_SLOT_OFFLINE] = { F_COMM, NULL, NULL },
	[FAULT_BUS_ERRORS] = { F_COMM, NULL, NULL },
	[FAULT_OVER_TEMP_WARN] = { F_TEMP, NULL, NULL },
	[FAULT_OVER_TEMP] = { F_TEMP, NULL, NULL },
	[FAULT_TEMP_RISE] = { F_TEMP, NULL, NULL },
	[FAULT_CELL_IMBALANCE] = { F_CELL, NULL, NULL },
	[FAULT_CELL_OVER_VOLTAGE] = { F_CELL, NULL, NULL },
	[FAULT_CHARGER] = { F_CHARGE, NULL, NULL },
	[FAULT_CURRENT_MISMATCH] = { F_CHARGE, NULL, NULL },
	[FAULT_DOOR_UNEXPECTED] = { F_DOOR, NULL, NULL },
	[FAULT_LOCK_STUCK] = { F_DOOR, NULL, NULL },
	[FAULT_DOOR_LEFT_OPEN] = { F_DOOR, NULL, NULL },
	[FAULT_LOW_SOH] = { F_SOH, NULL, NULL },
	[FAULT_BMS_IMPLAUSIBLE] = { F_BMS, NULL, NULL },
	[FAULT_ESTOP] = { F_STATION, "site", "inspect_site" },
	[FAULT_POWER_LOST] = { F_STATION, "site", "inspect_site" },
	[FAULT_SERIAL_LOST] = { F_STATION, "bus", "inspect_bus" },
	[FAULT_STORE] = { F_STATION, "site", "inspect_site" },
	[FAULT_OUTBOX_FULL] = { F_STATION, "site", "watch" },
	[FAULT_BROKER_UNREACHABLE] = { F_STATION, "site", "watch" },
	[FAULT_CLOCK_UNSYNCED] = { F_STATION, "site", "watch" },
	[FAULT_UNKNOWN_BATTERY] = { F_IDENT, NULL, NULL },
};

/* What the past says of this fault. */
struct counts {
	int priors;     /* same family, at this slot or with this battery, 30 days */
	int recur;      /* the most of (code, slot), (code, battery) in 7 days, this one too */
	int batt_slots; /* other slots where this battery had this family, 30 days */
	int slot_batts; /* other batteries (each raise without one) with it here, 30 days */
	int bus_slots;  /* slots with a communication fault in 10 minutes, this one too */
};

/* Adds v to the distinct values in set (n of them, room for max). */
static void add_distinct(uint64_t *set, int *n, int max, uint64_t v)
{
	for (int k = 0; k < *n; k++)
		if (set[k] == v)
			return;
	if (*n < max)
		set[(*n)++] = v;
}

static void count(const struct fault_diag_input *in, const struct fault_diag_history *h,
		  struct counts *c)
{
	enum fam fam = kinds[in->code].fam;
	uint64_t bslots[RACK_MAX_SLOTS], sbatts[64], bus[RACK_MAX_SLOTS];
	int nb = 0, ns = 0, nbus = 0, by_slot = 1, by_batt = 1;

	memset(c, 0, sizeof *c);
	if (in->slot_no)
		add_distinct(bus, &nbus, RACK_MAX_SLOTS, (uint64_t)in->slot_no);
	for (int k = 0; k < h->npast; k++) {
		const struct fault_diag_past *p = &h->past[k];
		int64_t age = h->now - p->at;
		/* a station-wide fault's place is the station: slot 0 */
		bool here = p->slot_no == in->slot_no;
		bool mine = in->battery && p->battery == in->battery;
		if (age > FD_PRIOR_MS || (p->at == in->raised_at && p->code == in->code &&
					  p->slot_no == in->slot_no && p->battery == in->battery))
			continue;
		if (kinds[p->code].fam == F_COMM && p->slot_no && age <= FD_BUS_MS)
			add_distinct(bus, &nbus, RACK_MAX_SLOTS, (uint64_t)p->slot_no);
		if (kinds[p->code].fam != fam || (!here && !mine))
			continue;
		if (here && p->battery == in->battery && p->code != in->code &&
		    llabs(p->at - (in->raised_at ? in->raised_at : h->now)) <= FD_EPISODE_MS)
			continue;
		c->priors++;
		if (p->code == in->code && age <= FD_RECUR_MS) {
			by_slot += here;
			by_batt += mine;
		}
		if (mine && p->slot_no && !here)
			add_distinct(bslots, &nb, RACK_MAX_SLOTS, (uint64_t)p->slot_no);
		if (here && !mine) {
			if (p->battery)
				add_distinct(sbatts, &ns, 64, p->battery);
			else
				c->slot_batts++;
		}
	}
	c->recur = by_slot > by_batt ? by_slot : by_batt;
	c->batt_slots = nb;
	c->slot_batts += ns;
	c->bus_slots = nbus;
}

/* Appends "; " and the formatted words to out->detail. */
static void say(struct fault_diag *out, const char *fmt, ...)
{
	size_t len = strlen(out->detail);
	va_list ap;

	if (len && len + 2 < sizeof out->detail)
		len += (size_t)snprintf(out->detail + len, sizeof out->detail - len, "; ");
	va_start(ap, fmt);
	if (len < sizeof out->detail)
		vsnprintf(out->detail + len, sizeof out->detail - len, fmt, ap);
	va_end(ap);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* The other slots with a current battery reading: how many, the median of
 * their temperature (temp) or cell spread (!temp), and how many are within
 * FD_PEER_HOT_MARGIN_C of mine or above. */
static int peers(const struct fault_diag_input *in, const struct fault_diag_history *h, bool temp,
		 double mine, double *median, int *hot)
{
	double v[RACK_MAX_SLOTS];
	int n = 0;

	*hot = 0;
	for (int i = 0; i < h->nslots && n < RACK_MAX_SLOTS; i++) {
		const struct fault_diag_slot *s = &h->slots[i];
		double x = temp ? s->now.temp_c : s->now.spread_mv;
		if (s->slot_no == in->slot_no || !s->online || !s->present || !s->now.at ||
		    h->now - s->now.at > FD_FRESH_MS || isnan(x))
			continue;
		v[n++] = x;
		*hot += temp && x >= mine - FD_PEER_HOT_MARGIN_C;
	}
	if (n) {
		qsort(v, (size_t)n, sizeof v[0], cmp_double);
		*median = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
	}
	return n;
}

/* The slot's temperature against its own last 30 minutes: an anomaly when
 * FD_OWN_DELTA_C above their mean, said as a jump or a trend. */
static bool own_history(const struct fault_diag_slot *s, double t, struct fault_diag *out)
{
	double sum = 0, jump = 0;
	int n = 0;

	for (int k = 0; k < s->n; k++) {
		const struct fault_diag_sample *a =
			&s->ring[(s->next - 1 - k + 2 * FAULT_DIAG_SAMPLES) % FAULT_DIAG_SAMPLES];
		if (isnan(a->temp_c))
			continue;
		sum += a->temp_c;
		n++;
		if (k + 1 < s->n && k < FD_JUMP_SAMPLES) {
			const struct fault_diag_sample *b =
				&s->ring[(s->next - 2 - k + 2 * FAULT_DIAG_SAMPLES) % FAULT_DIAG_SAMPLES];
			if (!isnan(b->temp_c) && a->temp_c - b->temp_c > jump)
				jump = a->temp_c - b->temp_c;
		}
	}
	if (n < FD_OWN_MIN_SAMPLES || t - sum / n < FD_OWN_DELTA_C)
		return false;
	say(out, "%.1f C above its %d-min mean of %.1f C (%s)", t - sum / n,
	    n * FAULT_DIAG_SAMPLE_S / 60, sum / n, jump >= FD_JUMP_C ? "a jump" : "a trend");
	return true;
}

static const struct fault_diag_slot *slot_of(const struct fault_diag_history *h, int slot_no)
{
	for (int i = 0; slot_no && i < h->nslots; i++)
		if (h->slots[i].slot_no == slot_no)
			return &h->slots[i];
	return NULL;
}

/* The slot's readings against its peers and its own history, for the
 * temperature and cell families: whether they are an anomaly; *site when
 * most peers are as hot. */
static bool readings(const struct fault_diag_input *in, const struct fault_diag_history *h,
		     enum fam fam, struct fault_diag *out, bool *site)
{
	const struct fault_diag_slot *s = slot_of(h, in->slot_no);
	bool temp = fam == F_TEMP, anomaly = false;
	double median = 0;
	int hot;

	*site = false;
	if (!s || !s->now.at || h->now - s->now.at > FD_FRESH_MS || (fam != F_TEMP && fam != F_CELL))
		return false;
	double mine = temp ? s->now.temp_c : s->now.spread_mv;
	if (isnan(mine))
		return false;
	int n = peers(in, h, temp, mine, &median, &hot);
	if (n >= FD_PEERS_MIN && temp && hot * 2 > n) {
		say(out, "%d of %d other slots as hot (median %.1f C, this one %.1f C)", hot, n,
		    median, mine);
		*site = true;
		return false;
	}
	if (n >= FD_PEERS_MIN && mine - median >= (temp ? FD_PEER_DELTA_C : FD_PEER_DELTA_MV)) {
		say(out, temp ? "%.1f C against the median %.1f C of %d other slots"
			      : "cells %.0f mV apart against the median %.0f mV of %d other slots",
		    mine, median, n);
		anomaly = true;
	}
	if (temp && own_history(s, mine, out))
		anomaly = true;
	return anomaly;
}

/* The cause and action from the evidence, in order: station rule, bus,
 * site, slot, battery, first time, then the slot when its priors are
 * with other batteries (or it has no battery), else the battery. */
static void decide(const struct fault_diag_input *in, const struct counts *c, bool anomaly,
		   bool site, const char **cause, const char **action)
{
	enum fam fam = kinds[in->code].fam;
	bool battery = fams[fam].battery && in->battery;

	if (fam == F_STATION) {
		*cause = kinds[in->code].cause;
		*action = kinds[in->code].action;
	} else if (fam == F_COMM && c->bus_slots >= FD_BUS_SLOTS) {
		*cause = "bus";
		*action = "inspect_bus";
	} else if (site) {
		*cause = "site";
		*action = "inspect_site";
	} else if (fams[fam].slot_cause && c->slot_batts >= FD_SLOT_BATTERIES) {
		*cause = fams[fam].slot_cause;
		*action = "inspect_slot";
	} else if (battery && c->batt_slots >= FD_BATTERY_SLOTS) {
		*cause = "battery";
		*action = "retire_battery";
	} else if (!c->priors && !anomaly) {
		*cause = "transient";
		*action = "watch";
	} else if (fams[fam].slot_cause && (c->slot_batts || !battery)) {
		*cause = fams[fam].slot_cause; /* under FD_SLOT_BATTERIES yet */
		*action = "watch";
	} else {
		*cause = "battery";
		*action = c->priors ? "inspect_battery" : "watch";
	}
}

static bool heuristic(const struct fault_diag_input *in, const struct fault_diag_history *h,
		      struct fault_diag *out)
{
	struct counts c;
	bool site = false, anomaly = false;
	const char *cause, *action;

	count(in, h, &c);
	if (kinds[in->code].fam != F_STATION)
		anomaly = readings(in, h, kinds[in->code].fam, out, &site);
	decide(in, &c, anomaly, site, &cause, &action);
	if (!strcmp(cause, "bus")) {
		anomaly = kinds[in->code].fam == F_COMM;
		if (anomaly)
			say(out, "%d slots lost the bus within 10 min", c.bus_slots);
	}
	if (c.batt_slots)
		say(out, "this battery had it in %d other slot%s in 30 days", c.batt_slots,
		    c.batt_slots > 1 ? "s" : "");
	if (c.slot_batts && in->slot_no && in->battery)
		say(out, "this slot had it with %d other batter%s in 30 days", c.slot_batts,
		    c.slot_batts > 1 ? "ies" : "y");
	else if (c.slot_batts && in->slot_no)
		say(out, "this slot had it %d time%s before in 30 days", c.slot_batts,
		    c.slot_batts > 1 ? "s" : "");
	if (c.recur > 1)
		say(out, "raised %d times in 7 days", c.recur);
	if (kinds[in->code].fam == F_STATION)
		say(out, "a station-wide condition, %d like it in 30 days", c.priors);
	else if (!out->detail[0])
		say(out, c.priors ? "%d like it here or with this battery in 30 days"
				  : "first time in 30 days, readings in line", c.priors);
	double l = FD_BASE + FD_PER_PRIOR * c.priors + (anomaly ? FD_ANOMALY : 0);
	l = (l > FD_MAX ? FD_MAX : l) * (site ? FD_SITE_FACTOR : 1);
	out->likelihood = round(l * 100) / 100;
	snprintf(out->cause, sizeof out->cause, "%s", cause);
	snprintf(out->action, sizeof out->action, "%s", action);
	if (c.recur >= FD_RECUR_N || out->likelihood >= FD_LEVEL3)
		out->level = 3;
	else
		out->level = strcmp(cause, "transient") && kinds[in->code].fam != F_STATION ? 2 : 1;
	return true;
}

const struct fault_diagnoser fault_diag_heuristic = { "heuristic", heuristic };

static const struct fault_diagnoser *chosen = &fault_diag_heuristic;

void fault_diag_set(const struct fault_diagnoser *d)
{
	chosen = d ? d : &fault_diag_heuristic;
}

void fault_diag_with(const struct fault_diag_input *in, const struct fault_diag_history *h,
		     struct fault_diag *out)
{
	if (chosen != &fault_diag_heuristic) {
		memset(out, 0, sizeof *out);
		if (chosen->diagnose(in, h, out)) {
			/* a model's answer kept within what the record can say */
			out->cause[sizeof out->cause - 1] = out->detail[sizeof out->detail - 1] = '\0';
			out->action[sizeof out->action - 1] = '\0';
			out->likelihood = out->likelihood < 0 ? 0 : out->likelihood > 1 ? 1 : out->likelihood;
			out->level = out->level < 1 ? 1 : out->level > 3 ? 3 : out->level;
			out->by = chosen->name;
			return;
		}
	}
	memset(out, 0, sizeof *out);
	fault_diag_heuristic.diagnose(in, h, out);
	out->by = fault_diag_heuristic.name;
}

void fault_diag_run(const struct fault_diag_input *in, struct fault_diag *out)
{
	struct fault_diag_history h;

	fault_diag_history(&h);
	fault_diag_with(in, &h, out);
}

static void copy_field(json_object *o, const char *key, char *buf, size_t len)
{
	json_object *v;

	snprintf(buf, len, "%s", json_object_object_get_ex(o, key, &v) ? json_object_get_string(v) : "");
}

bool fault_diag_parse(const char *json, struct fault_diag *out)
{
	json_object *o = json ? json_tokener_parse(json) : NULL, *v;
	char by[32];

	memset(out, 0, sizeof *out);
	if (!json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		return false;
	}
	if (json_object_object_get_ex(o, "likelihood", &v))
		out->likelihood = json_object_get_double(v);
	if (json_object_object_get_ex(o, "level", &v))
		out->level = json_object_get_int(v);
	copy_field(o, "cause", out->cause, sizeof out->cause);
	copy_field(o, "detail", out->detail, sizeof out->detail);
	copy_field(o, "action", out->action, sizeof out->action);
	copy_field(o, "by", by, sizeof by);
	out->by = !strcmp(by, chosen->name) ? chosen->name
		  : !strcmp(by, fault_diag_heuristic.name) ? fault_diag_heuristic.name : "stored";
	json_object_put(o);
	return true;
}

json_object *fault_diag_json(const struct fault_diag *d)
{
	json_object *o = json_object_new_object();
	char l[8];

	snprintf(l, sizeof l, "%.2f", d->likelihood);
	json_object_object_add(o, "likelihood", json_object_new_double_s(d->likelihood, l));
	json_object_object_add(o, "cause", json_object_new_string(d->cause));
	json_object_object_add(o, "detail", json_object_new_string(d->detail));
	json_object_object_add(o, "action", json_object_new_string(d->action));
	json_object_object_add(o, "by", json_object_new_string(d->by ? d->by : ""));
	json_object_object_add(o, "level", json_object_new_int(d->level));
	return o;
}
