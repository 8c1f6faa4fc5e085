#include "tests/unit/station_sim.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "daemon/access.h"
#include "daemon/command.h"
#include "daemon/control.h"
#include "daemon/health.h"
#include "daemon/ledger.h"
#include "daemon/loop.h"
#include "daemon/slots.h"
#include "daemon/staff.h"
#include "daemon/token.h"
#include "drivers/rack.h"
#include "drivers/rack_bus.h"

/* token.md's test key k1: bytes 0x00 .. 0x1f */
#define K1 "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="

struct config station_cfg;
struct store *station_store;
struct event station_heard[64];
int station_nheard;

static char dir[64], path[128], keys[128];

static void record(const struct event *ev, void *arg)
{
	(void)arg;
	if (station_nheard < (int)(sizeof station_heard / sizeof station_heard[0]))
		station_heard[station_nheard++] = *ev;
}

static const enum event_type watched[] = {
	EV_BATTERY_QUARANTINED, EV_BATTERY_RELEASED, EV_SLOT_STATE,
};

void station_start(void)
{
	char why[256];

	assert_int_equal(store_open(path, 1000, &station_store, why, sizeof why), SW_OK);
	assert_int_equal(slots_start(&station_cfg, station_store, why, sizeof why), SW_OK);
	if (access_start(&station_cfg, station_store, "boot-1", why, sizeof why) != SW_OK)
		fail_msg("access: %s", why);
	assert_int_equal(ledger_start(&station_cfg, station_store, "boot-1", why, sizeof why), SW_OK);
	assert_int_equal(staff_start(&station_cfg, station_store, why, sizeof why), SW_OK);
}

void station_stop(void)
{
	staff_stop();
	ledger_stop();
	access_stop();
	slots_stop();
	command_forget();
	store_close(station_store);
	station_store = NULL;
}

static void write_keys(void)
{
	FILE *f;

	snprintf(keys, sizeof keys, "%s/keys.json", dir);
	assert_non_null(f = fopen(keys, "w"));
	fprintf(f, "{\"keys\": [{\"kid\": \"k1\", \"secret\": \"%s\"}]}\n", K1);
	fclose(f);
	assert_int_equal(chmod(keys, 0600), 0);
}

int station_setup(bool tokens)
{
	struct rack_config *rc = &station_cfg.rack;

	snprintf(dir, sizeof dir, "/tmp/swapd-station-XXXXXX");
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof path, "%s/swapd.db", dir);
	config_defaults(&station_cfg);
	snprintf(station_cfg.station.id, sizeof station_cfg.station.id, "ST-TEST-1");
	if (tokens) {
		write_keys();
		station_cfg.tokens.enabled = true;
		snprintf(station_cfg.tokens.keys, sizeof station_cfg.tokens.keys, "%s", keys);
	}
	rc->enabled = true;
	snprintf(rc->device, sizeof rc->device, "sim:4");
	snprintf(rc->profile, sizeof rc->profile, "config/profiles/swapd-slot-v1.json");
	rc->parity = 'N';
	rc->poll_interval_ms = 250;
	rc->slow_every = 4;
	/* no telemetry rows in these tests */
	rc->telemetry_interval_ms = 3600 * 1000;
	rc->telemetry_rows = 100;
	rc->nslots = 4;
	for (int i = 0; i < 4; i++)
		rc->slots[i] = (struct rack_slot_config){ .slot = i + 1, .unit = i + 1 };
	loop_set_clock(true);
	station_nheard = 0;
	for (size_t k = 0; k < sizeof watched / sizeof watched[0]; k++)
		assert_int_equal(event_subscribe(watched[k], record, NULL), SW_OK);
	station_start();
	return 0;
}

int station_teardown(void **state)
{
	static const char *const files[] = { "swapd.db", "swapd.db-wal", "swapd.db-shm", "keys.json" };
	char p[160];

	(void)state;
	station_stop();
	for (size_t k = 0; k < sizeof watched / sizeof watched[0]; k++)
		event_unsubscribe(watched[k], record, NULL);
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

void station_sim(const char *fmt, ...)
{
	char verb[256], why[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(verb, sizeof verb, fmt, ap);
	va_end(ap);
	json_object *r = rack_bus_sim_exec(verb, why, sizeof why);
	if (!r)
		fail_msg("%s: %s", verb, why);
	json_object_put(r);
}

static bool never(void *arg)
{
	(void)arg;
	return false;
}

void station_run_ms(int64_t ms)
{
	loop_run_until(never, NULL, ms);
}

static bool all_locked(void *arg)
{
	(void)arg;
	for (int i = 0; i < station_cfg.rack.nslots; i++)
		if (!rack_reading(i)->online || rack_safe_pending(i))
			return false;
	return true;
}

void station_ready(void)
{
	assert_true(loop_run_until(all_locked, NULL, 5000));
}

static void lock_done(enum sw_err e, void *arg)
{
	*(enum sw_err *)arg = e;
}

static bool lock_finished(void *arg)
{
	return *(enum sw_err *)arg != SW_EBUSY;
}

struct lock_want {
	int i;
	bool locked;
};

static bool bolt_read(void *arg)
{
	const struct lock_want *w = arg;

	return rack_reading(w->i)->locked == w->locked;
}

bool station_wait_bolt(int i, bool locked, int64_t timeout_ms)
{
	struct lock_want w = { i, locked };

	return loop_run_until(bolt_read, &w, timeout_ms);
}

void station_set_lock(int i, bool lock)
{
	enum sw_err result = SW_EBUSY;

	assert_int_equal(slots_set_lock(i, lock, lock_done, &result), SW_OK);
	assert_true(loop_run_until(lock_finished, &result, 5000));
	assert_int_equal(result, SW_OK);
	assert_true(station_wait_bolt(i, lock, 5000));
}

struct store_battery station_row(uint64_t id)
{
	struct store_battery b;
	bool found;

	assert_int_equal(store_battery_get(station_store, id, &b, &found), SW_OK);
	if (!found)
		fail_msg("BAT-%05llu is not in the ledger", (unsigned long long)id);
	return b;
}

struct place_want {
	uint64_t id;
	const char *place;
	int slot;
};

static bool at_place(void *arg)
{
	const struct place_want *w = arg;
	struct store_battery b;
	bool found;

	return store_battery_get(station_store, w->id, &b, &found) == SW_OK && found &&
	       strcmp(b.place, w->place) == 0 && b.slot == w->slot;
}

void station_wait_place(uint64_t id, const char *place, int slot)
{
	struct place_want w = { id, place, slot };

	if (!loop_run_until(at_place, &w, 10000))
		fail_msg("BAT-%05llu never got to %s %d", (unsigned long long)id, place, slot);
}

void station_put_in(int n, uint64_t id, int soh)
{
	station_set_lock(n - 1, false);
	station_sim("{\"op\": \"open\", \"slot\": %d}", n);
	station_sim("{\"op\": \"insert\", \"slot\": %d, \"battery\": %llu, \"soc\": 60, \"soh\": %d}",
		    n, (unsigned long long)id, soh);
	station_sim("{\"op\": \"close\", \"slot\": %d}", n);
	station_set_lock(n - 1, true);
	station_wait_place(id, "slot", n);
}

const char *station_sql(const char *query)
{
	static char out[1024];
	sqlite3 *db;
	sqlite3_stmt *s;

	out[0] = '\0';
	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, query, -1, &s, NULL), SQLITE_OK);
	if (sqlite3_step(s) == SQLITE_ROW && sqlite3_column_text(s, 0))
		snprintf(out, sizeof out, "%s", (const char *)sqlite3_column_text(s, 0));
	sqlite3_finalize(s);
	sqlite3_close(db);
	return out;
}

int station_heard_count(enum event_type type, uint64_t battery)
{
	int n = 0;

	for (int k = 0; k < station_nheard; k++)
		n += station_heard[k].type == type && station_heard[k].battery == battery;
	return n;
}

json_object *station_command(const char *name, const char *args)
{
	const struct command *c = command_find(name, strlen(name));
	struct control_req req = { .level = LEVEL_ADMIN };
	char msg[160];

	assert_non_null(c);
	snprintf(req.who, sizeof req.who, "uid 0 pid 1");
	req.args = json_tokener_parse(args);
	if (!command_check(c, req.args, msg, sizeof msg))
		fail_msg("%s %s: %s", name, args, msg);
	json_object *reply = c->fn(&req);
	json_object_put(req.args);
	return reply;
}

const char *station_error(json_object *reply)
{
	static char code[64];
	json_object *v;

	code[0] = '\0';
	if (json_object_object_get_ex(reply, "error", &v))
		snprintf(code, sizeof code, "%s", json_object_get_string(v));
	json_object_put(reply);
	return code;
}

const char *station_scan_badge(const char *id, const char *role)
{
	struct token_keyring ring;
	struct token t = { .kind = TOKEN_BADGE, .station = "*", .kid = "k1" }, parsed;
	char text[TOKEN_TEXT_MAX + 1], err[160];
	static int n;

	assert_int_equal(token_keys_load(keys, &ring, err, sizeof err), 0);
	snprintf(t.subject, sizeof t.subject, "%s", id);
	snprintf(t.arg, sizeof t.arg, "%s", role);
	snprintf(t.nonce, sizeof t.nonce, "badge-%04d", ++n);
	t.exp = (int64_t)time(NULL) + 3600;
	if (token_issue(&t, &ring, (int64_t)time(NULL), text, sizeof text, err, sizeof err) < 0)
		fail_msg("badge: %s", err);
	token_keyring_clear(&ring);
	return access_scan(text, strlen(text), "scanner", &parsed);
}
