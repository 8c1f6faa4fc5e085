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
#include "daemon/charge.h"
#include "daemon/control.h"
#include "daemon/fault.h"
#include "daemon/fault_battery.h"
#include "daemon/fault_station.h"
#include "daemon/health.h"
#include "daemon/kiosk.h"
#include "daemon/ledger.h"
#include "daemon/loop.h"
#include "daemon/queue.h"
#include "daemon/slots.h"
#include "daemon/staff.h"
#include "daemon/swap.h"
#include "daemon/transport.h"
#include "drivers/rack.h"
#include "drivers/rack_bus.h"

/* token.md's test key k1: bytes 0x00 .. 0x1f */
#define K1 "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="

struct config station_cfg;
struct store *station_store;
char station_dir[64], station_db[128];
struct token_keyring station_ring;
struct event station_heard[64];
int station_nheard;

static char keys[128], boot[24];
static int boots;
static unsigned started;
static bool listening;

static void record(const struct event *ev, void *arg)
{
	(void)arg;
	if (station_nheard < (int)(sizeof station_heard / sizeof station_heard[0]))
		station_heard[station_nheard++] = *ev;
}

static const enum event_type watched[] = {
	EV_BATTERY_QUARANTINED, EV_BATTERY_RELEASED, EV_SLOT_STATE,
};

/* The modules that take no boot id, in the shape of those that do. */
static enum sw_err charge_run(const struct config *c, struct store *st, const char *b, char *why,
			      size_t whylen)
{
	(void)b;
	return charge_start(c, st, why, whylen);
}

static enum sw_err fault_battery_run(const struct config *c, struct store *st, const char *b,
				     char *why, size_t whylen)
{
	(void)b;
	return fault_battery_start(c, st, why, whylen);
}

static enum sw_err staff_run(const struct config *c, struct store *st, const char *b, char *why,
			     size_t whylen)
{
	(void)b;
	return staff_start(c, st, why, whylen);
}

static enum sw_err fault_station_run(const struct config *c, struct store *st, const char *b,
				    char *why, size_t whylen)
{
	(void)b;
	return fault_station_start(c, st, why, whylen);
}

static enum sw_err kiosk_run(const struct config *c, struct store *st, const char *b, char *why,
			     size_t whylen)
{
	(void)b;
	return kiosk_start(c, st, why, whylen);
}

/* main.c's modules[] order, for those a test can ask for. */
static const struct {
	unsigned bit;
	const char *name;
	enum sw_err (*start)(const struct config *, struct store *, const char *, char *, size_t);
	void (*stop)(void);
} modules[] = {
	{ STATION_CHARGE, "charging", charge_run, charge_stop },
	{ STATION_ACCESS, "tokens", access_start, access_stop },
	{ STATION_LEDGER, "ledger", ledger_start, ledger_stop },
	{ STATION_FAULT, "faults", fault_start, fault_stop },
	{ STATION_FAULT_BATTERY, "battery faults", fault_battery_run, fault_battery_stop },
	{ STATION_FAULT_STATION, "station faults", fault_station_run, fault_station_stop },
	{ STATION_SWAP, "swap", swap_start, swap_stop },
	{ STATION_QUEUE, "queue", queue_start, queue_stop },
	{ STATION_TRANSPORT, "transport", transport_start, transport_stop },
	{ STATION_STAFF, "staff", staff_run, staff_stop },
	{ STATION_KIOSK, "kiosk", kiosk_run, kiosk_stop },
};

#define NMODULES (sizeof modules / sizeof modules[0])

void station_start(unsigned wanted)
{
	char why[256];

	if (wanted & (STATION_SWAP | STATION_FAULT_STATION))
		wanted |= STATION_FAULT; /* the swap flow raises its level-3 faults there */
	if (wanted & STATION_FAULT_BATTERY)
		wanted |= STATION_FAULT;
	if (!station_store) {
		snprintf(boot, sizeof boot, "boot-%d", ++boots);
		assert_int_equal(store_open(station_db, 1000, &station_store, why, sizeof why), SW_OK);
		if (slots_start(&station_cfg, station_store, why, sizeof why) != SW_OK)
			fail_msg("rack: %s", why);
	}
	for (size_t k = 0; k < NMODULES; k++) {
		if (!(wanted & modules[k].bit) || (started & modules[k].bit))
			continue;
		if (modules[k].start(&station_cfg, station_store, boot, why, sizeof why) != SW_OK)
			fail_msg("%s: %s", modules[k].name, why);
		started |= modules[k].bit;
	}
}

void station_stop(void)
{
	for (size_t k = NMODULES; k-- > 0;)
		if (started & modules[k].bit)
			modules[k].stop();
	started = 0;
	slots_stop();
	command_forget();
	store_close(station_store);
	station_store = NULL;
}

static void write_keys(void)
{
	FILE *f;
	char err[160];

	snprintf(keys, sizeof keys, "%s/keys.json", station_dir);
	assert_non_null(f = fopen(keys, "w"));
	fprintf(f, "{\"keys\": [{\"kid\": \"k1\", \"secret\": \"%s\"}]}\n", K1);
	fclose(f);
	assert_int_equal(chmod(keys, 0600), 0);
	if (token_keys_load(keys, &station_ring, err, sizeof err) != 0)
		fail_msg("keys: %s", err);
}

void station_init(int nslots, const char *id, bool tokens)
{
	struct rack_config *rc = &station_cfg.rack;

	snprintf(station_dir, sizeof station_dir, "/tmp/swapd-station-XXXXXX");
	assert_non_null(mkdtemp(station_dir));
	snprintf(station_db, sizeof station_db, "%s/swapd.db", station_dir);
	config_defaults(&station_cfg);
	snprintf(station_cfg.station.id, sizeof station_cfg.station.id, "%s", id);
	if (tokens) {
		write_keys();
		station_cfg.tokens.enabled = true;
		snprintf(station_cfg.tokens.keys, sizeof station_cfg.tokens.keys, "%s", keys);
	}
	rc->enabled = true;
	snprintf(rc->device, sizeof rc->device, "sim:%d", nslots);
	snprintf(rc->profile, sizeof rc->profile, "config/profiles/swapd-slot-v1.json");
	rc->parity = 'N';
	rc->telemetry_interval_ms = 24 * 3600 * 1000; /* no telemetry rows in these tests */
	rc->nslots = nslots;
	for (int i = 0; i < nslots; i++)
		rc->slots[i] = (struct rack_slot_config){ .slot = i + 1, .unit = i + 1 };
	boots = 0;
	loop_set_clock(true);
}

int station_setup(bool tokens)
{
	struct rack_config *rc = &station_cfg.rack;

	station_init(4, "ST-TEST-1", tokens);
	rc->poll_interval_ms = 250;
	rc->slow_every = 4;
	rc->telemetry_interval_ms = 3600 * 1000;
	rc->telemetry_rows = 100;
	station_nheard = 0;
	for (size_t k = 0; k < sizeof watched / sizeof watched[0]; k++)
		assert_int_equal(event_subscribe(watched[k], record, NULL), SW_OK);
	listening = true;
	station_start(STATION_ACCESS | STATION_LEDGER | STATION_STAFF);
	return 0;
}

int station_teardown(void **state)
{
	char cmd[160];

	(void)state;
	station_stop();
	if (listening)
		for (size_t k = 0; k < sizeof watched / sizeof watched[0]; k++)
			event_unsubscribe(watched[k], record, NULL);
	listening = false;
	token_keyring_clear(&station_ring);
	loop_set_clock(false);
	loop_free();
	health_reset();
	/* the whole directory: some tests write files of their own there */
	snprintf(cmd, sizeof cmd, "rm -rf %s", station_dir);
	return system(cmd);
}

static bool vsim(bool must, const char *fmt, va_list ap)
{
	char verb[256], why[256];

	vsnprintf(verb, sizeof verb, fmt, ap);
	json_object *r = rack_bus_sim_exec(verb, why, sizeof why);
	if (!r && must)
		fail_msg("%s: %s", verb, why);
	json_object_put(r);
	return r != NULL;
}

void station_sim(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsim(true, fmt, ap);
	va_end(ap);
}

bool station_sim_try(const char *fmt, ...)
{
	va_list ap;
	bool ok;

	va_start(ap, fmt);
	ok = vsim(false, fmt, ap);
	va_end(ap);
	return ok;
}

void station_step(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsim(true, fmt, ap);
	va_end(ap);
	station_run_ms(1000);
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
	assert_true(loop_run_until(all_locked, NULL, 10000));
}

static bool all_read(void *arg)
{
	(void)arg;
	for (int i = 0; i < station_cfg.rack.nslots; i++)
		if (!rack_reading(i)->online || rack_reading(i)->health_pending || rack_safe_pending(i))
			return false;
	return true;
}

void station_read(void)
{
	assert_true(loop_run_until(all_read, NULL, 10000));
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
	assert_int_equal(sqlite3_open_v2(station_db, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
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
	return station_command_as(LEVEL_ADMIN, "uid 0 pid 1", name, args);
}

json_object *station_command_as(enum command_level level, const char *who, const char *name,
				const char *args)
{
	const struct command *c = command_find(name, strlen(name));
	struct control_req req = { .level = level };
	char msg[160];

	assert_non_null(c);
	snprintf(req.who, sizeof req.who, "%s", who);
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

void station_token(enum token_kind kind, const char *subject, const char *arg, const char *nonce,
		   char *text)
{
	struct token t = { .kind = kind, .kid = "k1", .exp = (int64_t)time(NULL) + 3600 };
	char err[160];
	static int serial, badges;

	snprintf(t.station, sizeof t.station, "%s",
		 kind == TOKEN_BADGE ? "*" : station_cfg.station.id);
	snprintf(t.subject, sizeof t.subject, "%s", subject);
	snprintf(t.arg, sizeof t.arg, "%s", arg);
	/* a badge's nonce is named in the staff audit (test_staff reads it) */
	if (nonce)
		snprintf(t.nonce, sizeof t.nonce, "%s", nonce);
	else if (kind == TOKEN_BADGE)
		snprintf(t.nonce, sizeof t.nonce, "badge-%04d", ++badges);
	else
		snprintf(t.nonce, sizeof t.nonce, "nonce%06d", ++serial);
	if (token_issue(&t, &station_ring, (int64_t)time(NULL), text, TOKEN_TEXT_MAX + 1, err,
			sizeof err) != 0)
		fail_msg("issue: %s", err);
}

const char *station_scan(enum token_kind kind, const char *subject, const char *arg,
			 const char *source, char *text)
{
	char buf[TOKEN_TEXT_MAX + 1];
	struct token got;

	station_token(kind, subject, arg, NULL, buf);
	if (text)
		snprintf(text, TOKEN_TEXT_MAX + 1, "%s", buf);
	return access_scan(buf, strlen(buf), source, &got);
}
