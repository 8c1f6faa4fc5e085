/* A station in a unit test: a store in a temporary directory, the
 * simulated rack ("sim:3", the real firmware in this process), access,
 * the ledger and staff badges, started as main.c starts them, on the
 * simulated clock; and what the ledger's and the staff tests do to it. */
#ifndef SWAPD_TEST_STATION_SIM_H
#define SWAPD_TEST_STATION_SIM_H

#include <stdbool.h>
#include <stdint.h>

#include <json-c/json.h>

#include "daemon/config.h"
#include "daemon/event.h"
#include "daemon/store.h"

extern struct config station_cfg;
extern struct store *station_store;

/* Every event of the watched types heard since station_setup (or since a
 * test set station_nheard to 0). */
extern struct event station_heard[64];
extern int station_nheard;

/* cmocka setup and teardown: the station up (with a tokens section and
 * the test key k1 when tokens is true), and down with its files gone. */
int station_setup(bool tokens);
int station_teardown(void **state);

/* The modules down and up again on the same database, as a restart. */
void station_stop(void);
void station_start(void);

/* A rack-sim verb (tools/rack-sim/README.md) on the simulated bus. */
void station_sim(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Runs simulated time. */
void station_run_ms(int64_t ms);

/* Runs until every slot is online with its safety writes confirmed. */
void station_ready(void);

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

/* The error code of a reply ("" for ok), which it frees. */
const char *station_error(json_object *reply);

/* A badge (B token) for staff id with role "staff" or "admin", signed
 * with k1, scanned at the kiosk's scanner; the scan's result. */
const char *station_scan_badge(const char *id, const char *role);

#endif
