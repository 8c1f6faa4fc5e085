/* A station in a unit test: a store in a temporary directory, the
 * simulated rack ("sim:N", the real firmware in this process) and the
 * modules a test asks for, started as main.c starts them, on the
 * simulated clock; and what a rider, a transporter, staff and the tests
 * do to it. */
#ifndef SWAPD_TEST_STATION_SIM_H
#define SWAPD_TEST_STATION_SIM_H

#include <stdbool.h>
#include <stdint.h>

#include <json-c/json.h>

#include "daemon/command.h"
#include "daemon/config.h"
#include "daemon/event.h"
#include "daemon/store.h"
#include "daemon/token.h"

extern struct config station_cfg;
extern struct store *station_store;
/* The temporary directory and the database in it. */
extern char station_dir[64], station_db[128];
/* token.md's test key k1, when the station has tokens. */
extern struct token_keyring station_ring;

/* Every event of the watched types heard since station_setup (or since a
 * test set station_nheard to 0). */
extern struct event station_heard[64];
extern int station_nheard;

/* The modules beyond the rack (slots.c) a test starts; they start in
 * main.c's order and stop in the reverse. */
enum {
	STATION_CHARGE = 1 << 0,
	STATION_ACCESS = 1 << 1,
	STATION_LEDGER = 1 << 2,
	STATION_SWAP = 1 << 3,
	STATION_QUEUE = 1 << 4,
	STATION_TRANSPORT = 1 << 5,
	STATION_STAFF = 1 << 6,
	STATION_KIOSK = 1 << 7,
	STATION_FAULT = 1 << 8,  /* the fault registry; implied by STATION_SWAP */
	STATION_FAULT_BATTERY = 1 << 10, /* the battery fault detectors; they imply STATION_FAULT */
	STATION_FAULT_STATION = 1 << 9, /* station fault detectors; imply STATION_FAULT */
};

/* A station's configuration, nothing started: station id, nslots slots on
 * "sim:nslots" with unit n in slot n, no telemetry rows, tokens with the
 * key k1 when tokens is true, the clock simulated. A test changes
 * station_cfg after this and before station_start. */
void station_init(int nslots, const char *id, bool tokens);

/* The store opened and the rack started (a new boot id) unless they are
 * already, then the modules in the mask, each once. */
void station_start(unsigned modules);

/* Every module down, in the reverse order, and the store closed, as a
 * SIGTERM does; station_start starts them again on the same database. */
void station_stop(void);

/* cmocka setup of the ledger's and the staff tests: four slots, access,
 * the ledger and staff badges (tokens as station_init says), polled
 * every 250 ms, with the watched events heard. */
int station_setup(bool tokens);

/* cmocka teardown: the station down, the clock real, its files gone. */
int station_teardown(void **state);

/* A rack-sim verb (tools/rack-sim/README.md) on the simulated bus; the
 * test fails if the rack refuses it. */
void station_sim(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The same; false when the rack refuses it (a door still locked). */
bool station_sim_try(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* A person's step: the verb, then a second of simulated time for the rack
 * to read its outcome, as a person's steps are that far apart at least. */
void station_step(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Runs simulated time. */
void station_run_ms(int64_t ms);

/* Runs until every slot is online with its safety writes confirmed. */
void station_ready(void);

/* station_ready, and every battery's identity and health read too. */
void station_read(void);

/* Locks or unlocks slot index i, until its bolt reads so. */
void station_set_lock(int i, bool lock);

/* Runs until slot index i's bolt reads locked (or unlocked); false after
 * timeout_ms. */
bool station_wait_bolt(int i, bool locked, int64_t timeout_ms);

/* Battery id's ledger row (the test fails if there is none). */
struct store_battery station_row(uint64_t id);

/* Runs until battery id's row says place and slot. */
void station_wait_place(uint64_t id, const char *place, int slot);

/* A battery put into slot number n the way a transporter does: the door
 * unlocked, opened, the battery in, the door closed and locked again. */
void station_put_in(int n, uint64_t id, int soh);

/* The first column of the first row of query on the database, as text
 * ("" for none). Valid until the next call. */
const char *station_sql(const char *query);

/* How many events of type about battery were heard. */
int station_heard_count(enum event_type type, uint64_t battery);

/* Runs command name with args (JSON) as control.c does, for a peer of
 * level admin; the reply (NULL: deferred). */
json_object *station_command(const char *name, const char *args);

/* The same for a peer of level, who ("uid 1000 pid 1") in the audit. */
json_object *station_command_as(enum command_level level, const char *who, const char *name,
				const char *args);

/* The error code of a reply ("" for ok), which it frees. */
const char *station_error(json_object *reply);

/* A token of kind for subject with arg, for this station (a badge: for
 * any), signed with k1 under nonce (NULL: a fresh one), valid for an hour;
 * its text in text (TOKEN_TEXT_MAX + 1 bytes). */
void station_token(enum token_kind kind, const char *subject, const char *arg, const char *nonce,
		   char *text);

/* A fresh token (station_token) scanned at source ("scanner" or
 * "control"); the scan's result. Its text in text unless that is NULL. */
const char *station_scan(enum token_kind kind, const char *subject, const char *arg,
			 const char *source, char *text);

#endif
