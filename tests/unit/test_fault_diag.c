/* Level-2 diagnosis (daemon/fault_diag.c): the heuristics on crafted
 * histories, as a table, and the registry wired to it on a store in
 * simulated time: the diagnosis in fault.raised and the fault's record, a
 * level-3 diagnosis opening the ticket at once (and saying it again after
 * a restart), a diagnoser set with
 * fault_diag_set() used, and the heuristics when it declines. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "daemon/command.h"
#include "daemon/fault.h"
#include "daemon/fault_diag.h"
#include "daemon/health.h"
#include "daemon/loop.h"
#include "daemon/store_faults.h"
#include "tests/unit/station_sim.h"

#define NOW (1800000000000LL)
#define MIN_MS (60LL * 1000)
#define DAY_MS (86400LL * 1000)

/* A crafted slot: number, battery (0: empty), temperature now, and its
 * 30 minutes at base_c (NaN: no ring). */
struct slot_spec {
	int slot_no;
	uint64_t battery;
	double temp_c, base_c;
};

struct diag_case {
	const char *name;
	struct fault_diag_input in;
	struct slot_spec slots[6];
	struct fault_diag_past past[6];
	const char *cause, *action;
	int level;
	double likelihood;
};

static struct fault_diag_slot slots[6];
static struct fault_diag_past past[6];

static void craft(const struct diag_case *c, struct fault_diag_history *h)
{
	memset(slots, 0, sizeof slots);
	*h = (struct fault_diag_history){ .now = NOW, .slots = slots, .past = past };
	for (int i = 0; i < 6 && c->slots[i].slot_no; i++, h->nslots++) {
		const struct slot_spec *sp = &c->slots[i];
		struct fault_diag_slot *s = &slots[i];
		s->slot_no = sp->slot_no;
		s->online = true;
		s->present = sp->battery != 0;
		s->battery = sp->battery;
		if (!s->present)
			continue;
		s->now = (struct fault_diag_sample){ .at = NOW - 5000, .temp_c = (float)sp->temp_c,
						     .spread_mv = 20 };
		for (int k = 0; sp->base_c > 0 && k < FAULT_DIAG_SAMPLES; k++) {
			s->ring[k] = s->now;
			s->ring[k].at = NOW - (FAULT_DIAG_SAMPLES - k) * FAULT_DIAG_SAMPLE_S * 1000;
			if (k < FAULT_DIAG_SAMPLES - 1)
				s->ring[k].temp_c = (float)sp->base_c;
		}
		s->n = sp->base_c > 0 ? FAULT_DIAG_SAMPLES : 0;
	}
	for (int k = 0; k < 6 && c->past[k].at; k++, h->npast++)
		past[k] = c->past[k];
}

static const struct diag_case cases[] = {
	{ "peers as hot: the site",
	  { FAULT_OVER_TEMP, 1, 42, "61 C", 0 },
	  { { 1, 42, 61, 0 }, { 2, 43, 59, 0 }, { 3, 44, 60, 0 }, { 4, 45, 58, 0 } }, { { 0 } },
	  "site", "inspect_site", 2, 0.1 },
	{ "the battery faulted in another slot",
	  { FAULT_OVER_TEMP, 1, 42, "61 C", 0 },
	  { { 1, 42, 61, 0 }, { 2, 43, 30, 0 }, { 3, 44, 31, 0 } },
	  { { FAULT_OVER_TEMP_WARN, 4, 42, NOW - 5 * DAY_MS } },
	  "battery", "retire_battery", 2, 0.6 },
	{ "the slot faulted with two other batteries: recurring",
	  { FAULT_OVER_TEMP, 1, 42, "61 C", 0 },
	  { { 0 } },
	  { { FAULT_OVER_TEMP, 1, 7, NOW - 2 * DAY_MS }, { FAULT_OVER_TEMP, 1, 8, NOW - DAY_MS } },
	  "slot_charger", "inspect_slot", 3, 0.6 },
	{ "first time, readings in line: transient",
	  { FAULT_OVER_TEMP_WARN, 1, 42, "50 C", 0 },
	  { { 1, 42, 50, 48 }, { 2, 43, 42, 0 }, { 3, 44, 43, 0 }, { 4, 45, 41, 0 } },
	  { { FAULT_OVER_TEMP, 2, 43, NOW - 40 * DAY_MS } },
	  "transient", "watch", 1, 0.2 },
	{ "first time, hot against peers and its own mean: watched",
	  { FAULT_OVER_TEMP, 1, 42, "61 C", 0 },
	  { { 1, 42, 61, 30 }, { 2, 43, 30, 0 }, { 3, 44, 31, 0 } }, { { 0 } },
	  "battery", "watch", 2, 0.4 },
	{ "no peers, above its own 30 minutes: watched",
	  { FAULT_TEMP_RISE, 2, 42, "4 C/min", 0 },
	  { { 2, 42, 61, 40 } }, { { 0 } },
	  "battery", "watch", 2, 0.4 },
	{ "communication lost on three slots: the bus",
	  { FAULT_SLOT_OFFLINE, 3, 0, "no answer", 0 },
	  { { 0 } },
	  { { FAULT_BUS_ERRORS, 1, 0, NOW - 2 * MIN_MS }, { FAULT_SLOT_OFFLINE, 2, 0, NOW - MIN_MS } },
	  "bus", "inspect_bus", 2, 0.4 },
	{ "a station code: the fixed rule",
	  { FAULT_STORE, 0, 0, "disk almost full", 0 },
	  { { 0 } }, { { 0 } },
	  "site", "inspect_site", 1, 0.2 },
	{ "the warning with the critical over-temperature: one event",
	  { FAULT_OVER_TEMP, 1, 42, "61 C", NOW },
	  { { 0 } },
	  { { FAULT_OVER_TEMP_WARN, 1, 42, NOW - 1000 }, { FAULT_TEMP_RISE, 1, 42, NOW - 2000 } },
	  "transient", "watch", 1, 0.2 },
	{ "the same lock stuck three times in a week",
	  { FAULT_LOCK_STUCK, 2, 0, "does not lock", 0 },
	  { { 0 } },
	  { { FAULT_LOCK_STUCK, 2, 0, NOW - 3 * DAY_MS }, { FAULT_LOCK_STUCK, 2, 0, NOW - DAY_MS } },
	  "slot_lock", "inspect_slot", 3, 0.6 },
};

static void test_heuristics(void **state)
{
	(void)state;
	for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
		const struct diag_case *c = &cases[k];
		struct fault_diag_history h;
		struct fault_diag d;
		craft(c, &h);
		fault_diag_with(&c->in, &h, &d);
		print_message("%s: %s, %s, level %d, %.2f: %s\n", c->name, d.cause, d.action,
			      d.level, d.likelihood, d.detail);
		assert_string_equal(d.by, "heuristic");
		assert_string_equal(d.cause, c->cause);
		assert_string_equal(d.action, c->action);
		assert_int_equal(d.level, c->level);
		assert_float_equal(d.likelihood, c->likelihood, 0.001);
		assert_true(d.detail[0] != '\0');
	}
}

/* The registry with the history module, on a store. */
static struct config cfg;
static struct store *st;
static char dir[64], path[128];

static bool never(void *arg)
{
	(void)arg;
	return false;
}

static void run_s(int s)
{
	loop_run_until(never, NULL, (int64_t)s * 1000);
}

static void start(void)
{
	char why[256];

	assert_int_equal(fault_start(&cfg, st, "boot-1", why, sizeof why), SW_OK);
	assert_int_equal(fault_diag_start(&cfg, st, why, sizeof why), SW_OK);
}

static void stop(void)
{
	fault_diag_stop();
	fault_stop();
	command_forget();
}

static int setup(void **state)
{
	char why[256];

	(void)state;
	snprintf(dir, sizeof dir, "/tmp/swapd-diag-XXXXXX");
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof path, "%s/swapd.db", dir);
	config_defaults(&cfg);
	loop_set_clock(true);
	assert_int_equal(store_open(path, 1000, &st, why, sizeof why), SW_OK);
	start();
	return 0;
}

static int teardown(void **state)
{
	static const char *const files[] = { "swapd.db", "swapd.db-wal", "swapd.db-shm" };
	char p[160];

	(void)state;
	stop();
	fault_diag_set(NULL);
	store_close(st);
	loop_set_clock(false);
	loop_free();
	health_reset();
	for (size_t k = 0; k < sizeof files / sizeof files[0]; k++) {
		snprintf(p, sizeof p, "%s/%s", dir, files[k]);
		unlink(p);
	}
	rmdir(dir);
	return 0;
}

struct last {
	const char *type;
	int n;
	json_object *payload; /* the newest */
};

static int last_row(const struct store_outbox_row *r, void *arg)
{
	struct last *l = arg;

	if (strcmp(r->type, l->type) == 0) {
		l->n++;
		json_object_put(l->payload);
		l->payload = json_tokener_parse(r->payload);
	}
	return 0;
}

/* How many events of type are in the outbox; *out (put by the caller):
 * the newest one's payload. */
static int events(const char *type, json_object **out)
{
	struct last l = { .type = type };

	assert_int_equal(store_outbox_read(st, 0, 10000, last_row, &l), SW_OK);
	if (out)
		*out = l.payload;
	else
		json_object_put(l.payload);
	return l.n;
}

static const char *str(json_object *o, const char *key)
{
	json_object *v;

	assert_true(json_object_object_get_ex(o, key, &v));
	return json_object_get_string(v);
}

/* The open fault id as fault_open_json() shows it. */
static json_object *shown(int64_t id)
{
	json_object *a = fault_open_json(), *found = NULL;

	for (size_t k = 0; k < json_object_array_length(a); k++) {
		json_object *f = json_object_array_get_idx(a, k), *v;
		if (json_object_object_get_ex(f, "fault", &v) && json_object_get_int64(v) == id)
			found = json_object_get(f);
	}
	json_object_put(a);
	assert_non_null(found);
	return found;
}

static void test_raise_carries_diagnosis(void **state)
{
	json_object *ev, *d;

	(void)state;
	int64_t id = fault_raise(FAULT_CELL_IMBALANCE, 2, 42, "150 mV", "stop charging");
	assert_true(id > 0);
	assert_int_equal(events("fault.raised", &ev), 1);
	assert_true(json_object_object_get_ex(ev, "diagnosis", &d));
	assert_string_equal(str(d, "cause"), "transient");
	assert_string_equal(str(d, "action"), "watch");
	assert_string_equal(str(d, "by"), "heuristic");
	assert_string_equal(str(d, "likelihood"), "0.20");
	assert_string_equal(str(ev, "level"), "1");
	json_object_put(ev);
	json_object *f = shown(id);
	assert_true(json_object_object_get_ex(f, "diagnosis", &d));
	assert_string_equal(str(d, "cause"), "transient");
	assert_string_equal(str(d, "by"), "heuristic");
	json_object_put(f);
	assert_int_equal(events("ticket.opened", NULL), 0);
}

/* The third battery with the same fault at slot 1 within a week: level 3
 * by the diagnosis, the ticket opened with the raise; and the same
 * history read back from the store after a restart. */
static void test_level3_opens_ticket_at_once(void **state)
{
	json_object *ev, *d;

	(void)state;
	fault_raise(FAULT_OVER_TEMP, 1, 7, "61 C", NULL);
	fault_raise(FAULT_OVER_TEMP, 1, 8, "62 C", NULL);
	assert_int_equal(events("ticket.opened", NULL), 0);
	stop();
	start(); /* the history comes back from the store */
	int64_t id = fault_raise(FAULT_OVER_TEMP, 1, 42, "63 C", NULL);
	assert_int_equal(events("fault.raised", &ev), 3);
	assert_string_equal(str(ev, "level"), "3");
	assert_true(json_object_object_get_ex(ev, "diagnosis", &d));
	assert_string_equal(str(d, "cause"), "slot_charger");
	assert_string_equal(str(d, "action"), "inspect_slot");
	json_object_put(ev);
	assert_int_equal(events("ticket.opened", &ev), 1);
	assert_int_equal(json_object_get_int64(json_object_object_get(ev, "fault")), id);
	assert_non_null(strstr(str(ev, "summary"), "recommended: inspect_slot"));
	assert_non_null(strstr(str(ev, "summary"), "2 other batteries"));
	json_object_put(ev);
	json_object *f = shown(id);
	assert_string_equal(str(f, "level"), "3");
	json_object_put(f);
	/* after a restart the re-announced ticket says the same */
	cfg.faults.ticket_reannounce_s = 600; /* before the others escalate */
	stop();
	start();
	run_s(601);
	assert_int_equal(events("ticket.opened", &ev), 2);
	assert_int_equal(json_object_get_int64(json_object_object_get(ev, "fault")), id);
	assert_non_null(strstr(str(ev, "summary"), "recommended: inspect_slot"));
	json_object_put(ev);
}

/* An escalation by time diagnoses again: a fault of the same family at
 * the slot since the raise is a prior by then, and the ticket says so. */
static void test_escalation_diagnoses_again(void **state)
{
	json_object *ev, *d;
	int esc = fault_rule(FAULT_CHARGER)->escalate_after_s;

	(void)state;
	int64_t id = fault_raise(FAULT_CHARGER, 4, 7, "charger bit", NULL);
	assert_int_equal(events("fault.raised", &ev), 1);
	assert_true(json_object_object_get_ex(ev, "diagnosis", &d));
	assert_string_equal(str(d, "cause"), "transient");
	json_object_put(ev);
	run_s(esc / 2);
	fault_raise(FAULT_CURRENT_MISMATCH, 4, 9, "no current", NULL);
	run_s(esc / 2 + 1);
	assert_int_equal(events("ticket.opened", &ev), 1);
	assert_int_equal(json_object_get_int64(json_object_object_get(ev, "fault")), id);
	assert_non_null(strstr(str(ev, "summary"), "Diagnosis: slot_charger"));
	assert_non_null(strstr(str(ev, "summary"), "recommended: watch"));
	json_object_put(ev);
	json_object *f = shown(id);
	assert_true(json_object_object_get_ex(f, "diagnosis", &d));
	assert_string_equal(str(d, "cause"), "slot_charger");
	assert_string_equal(str(f, "level"), "3");
	json_object_put(f);
}

static bool declines;

static bool custom(const struct fault_diag_input *in, const struct fault_diag_history *h,
		   struct fault_diag *out)
{
	(void)h;
	if (declines)
		return false;
	out->likelihood = 0.9;
	snprintf(out->cause, sizeof out->cause, "battery");
	snprintf(out->detail, sizeof out->detail, "model says so for slot %d", in->slot_no);
	snprintf(out->action, sizeof out->action, "retire_battery");
	out->level = 7; /* out of range: kept to 3 */
	return true;
}

static const struct fault_diagnoser model = { "model-x", custom };

static void test_custom_diagnoser_and_fallback(void **state)
{
	json_object *ev, *d;

	(void)state;
	fault_diag_set(&model);
	int64_t id = fault_raise(FAULT_CELL_IMBALANCE, 3, 42, "150 mV", NULL);
	assert_int_equal(events("fault.raised", &ev), 1);
	assert_true(json_object_object_get_ex(ev, "diagnosis", &d));
	assert_string_equal(str(d, "by"), "model-x");
	assert_string_equal(str(d, "detail"), "model says so for slot 3");
	assert_string_equal(str(ev, "level"), "3");
	json_object_put(ev);
	assert_int_equal(events("ticket.opened", NULL), 1);
	json_object *f = shown(id);
	assert_true(json_object_object_get_ex(f, "diagnosis", &d));
	assert_string_equal(str(d, "by"), "model-x");
	json_object_put(f);
	declines = true;
	fault_raise(FAULT_CELL_IMBALANCE, 5, 43, "150 mV", NULL);
	declines = false;
	assert_int_equal(events("fault.raised", &ev), 2);
	assert_true(json_object_object_get_ex(ev, "diagnosis", &d));
	assert_string_equal(str(d, "by"), "heuristic");
	json_object_put(ev);
}

/* The history from the simulated rack: rings filled from the readings,
 * and an over-temperature on one slot judged against the others. */
static int station_up(void **state)
{
	char why[256];

	(void)state;
	station_setup(false);
	station_cfg.faults.warn_temp_c = 50;
	station_cfg.faults.crit_temp_c = 55;
	station_start(STATION_FAULT_BATTERY);
	assert_int_equal(fault_diag_start(&station_cfg, station_store, why, sizeof why), SW_OK);
	station_ready();
	return 0;
}

static int station_down(void **state)
{
	fault_diag_stop();
	return station_teardown(state);
}

static void test_history_from_the_rack(void **state)
{
	struct fault_diag_history h;

	(void)state;
	for (int n = 1; n <= 3; n++)
		station_put_in(n, 1000 + (uint64_t)n, 95);
	station_run_ms(10 * 60 * 1000);
	fault_diag_history(&h);
	assert_int_equal(h.nslots, 4);
	assert_int_equal(h.slots[0].slot_no, 1);
	assert_true(h.slots[0].present);
	assert_int_equal(h.slots[0].battery, 1001);
	assert_in_range(h.slots[0].n, 55, 61); /* one sample every 10 s */
	assert_false(h.slots[3].present);
	assert_int_equal(h.slots[3].n, 0);
	station_sim("{\"op\": \"fault\", \"slot\": 1, \"kind\": \"overtemp\", \"value\": 57}");
	station_run_ms(3000);
	assert_string_equal(station_sql("SELECT json_extract(payload, '$.diagnosis.cause') || ','"
					 " || json_extract(payload, '$.level') FROM outbox"
					 " WHERE type = 'fault.raised' AND"
					 " json_extract(payload, '$.code') = 'over_temperature'"),
			    "battery,2");
	assert_non_null(strstr(station_sql("SELECT json_extract(diagnosis, '$.detail') FROM faults"
					    " WHERE code = 'over_temperature'"),
			       "other slots"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_heuristics),
		cmocka_unit_test_setup_teardown(test_raise_carries_diagnosis, setup, teardown),
		cmocka_unit_test_setup_teardown(test_level3_opens_ticket_at_once, setup, teardown),
		cmocka_unit_test_setup_teardown(test_escalation_diagnoses_again, setup, teardown),
		cmocka_unit_test_setup_teardown(test_custom_diagnoser_and_fallback, setup, teardown),
		cmocka_unit_test_setup_teardown(test_history_from_the_rack, station_up, station_down),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
