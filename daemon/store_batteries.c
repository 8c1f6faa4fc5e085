/* The battery ledger: where every battery the station has seen is now (in
 * a slot, with a rider, with a transporter, or unknown: taken by nobody the
 * station knows of), since when, and its last values with their read time.
 * Rows are never deleted, so a battery never vanishes from it. And the
 * slots taken out of service. */
#include "daemon/store.h"
#include "daemon/store_priv.h"
#include "daemon/text.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

/* SQLite integers are signed: a 64-bit serial is kept as its bit pattern. */
#define ID(x) STORE_I((int64_t)(x))

/* Makes battery id's row if it has none, in place "unknown". */
static int ensure(struct store *st, uint64_t id, int64_t t)
{
	return store_exec(st,
			  "INSERT OR IGNORE INTO batteries (id, place, since, first_seen)"
			  " VALUES (?, 'unknown', ?, ?)",
			  STORE_VALS(ID(id), STORE_I(t), STORE_I(t)));
}

enum sw_err store_battery_in_slot(struct store *st, uint64_t id, int slot, double soc, double soh,
				  int64_t cycles, int64_t read_at, const struct store_event *ev)
{
	int64_t t = store_now_ms();
	int rc = store_begin(st);

	if (rc == SQLITE_OK)
		rc = ensure(st, id, t);
	/* since moves only when the place does: seen again where it was is
	 * no move */
	if (rc == SQLITE_OK)
		rc = store_exec(st,
				"UPDATE batteries SET since = CASE WHEN place = 'slot' AND slot = ?1"
				" THEN since ELSE ?2 END, place = 'slot', slot = ?1, swap = NULL,"
				" holder = NULL, unseen_since = NULL WHERE id = ?3",
				STORE_VALS(STORE_I(slot), STORE_I(t), ID(id)));
	if (rc == SQLITE_OK && soc >= 0 && soh >= 0)
		rc = store_exec(st,
				"UPDATE batteries SET soc = ?, soh = ?, cycles = ?, read_at = ? WHERE id = ?",
				STORE_VALS(STORE_D(soc), STORE_D(soh), STORE_I(cycles), STORE_I(read_at),
					   ID(id)));
	return store_finish(st, rc, ev, "recording a battery's slot");
}

enum sw_err store_battery_left(struct store *st, uint64_t id, const char *place, int64_t swap,
			       const char *holder, const struct store_event *ev)
{
	int64_t t = store_now_ms();
	int rc = store_begin(st);

	if (rc == SQLITE_OK)
		rc = ensure(st, id, t);
	if (rc == SQLITE_OK)
		rc = store_exec(st,
				"UPDATE batteries SET place = ?, swap = ?, holder = ?, since = ?,"
				" unseen_since = NULL WHERE id = ?",
				STORE_VALS(STORE_T(place), swap ? STORE_I(swap) : STORE_NULL,
					   STORE_T(holder), STORE_I(t), ID(id)));
	return store_finish(st, rc, ev, "recording where a battery went");
}

enum sw_err store_battery_unseen(struct store *st, uint64_t id, int64_t since,
				 const struct store_event *ev)
{
	int rc = store_begin(st);

	if (rc == SQLITE_OK)
		rc = store_exec(st, "UPDATE batteries SET unseen_since = ? WHERE id = ?",
				STORE_VALS(STORE_I(since), ID(id)));
	return store_finish(st, rc, ev, "flagging a battery its sensor lost");
}

enum sw_err store_battery_vacate(struct store *st, int slot, uint64_t keep, bool keep_unseen,
				 int *moved, const struct store_event *ev)
{
	int rc = store_begin(st);

	if (moved)
		*moved = 0;
	if (rc == SQLITE_OK)
		rc = store_exec(st,
				"UPDATE batteries SET place = 'unknown', since = ?, unseen_since = NULL"
				" WHERE place = 'slot' AND slot = ? AND id != ?"
				" AND NOT (? AND unseen_since IS NOT NULL)",
				STORE_VALS(STORE_I(store_now_ms()), STORE_I(slot), ID(keep),
					   STORE_I(keep_unseen)));
	if (rc == SQLITE_OK && moved)
		*moved = sqlite3_changes(st->db);
	return store_finish(st, rc, ev, "recording batteries gone from a slot");
}

enum sw_err store_battery_quarantine(struct store *st, uint64_t id, bool on, const char *reason,
				     const struct store_event *ev)
{
	int rc = store_begin(st);

	if (rc == SQLITE_OK)
		rc = ensure(st, id, store_now_ms());
	if (rc == SQLITE_OK)
		rc = store_exec(st, "UPDATE batteries SET quarantined = ?, reason = ? WHERE id = ?",
				STORE_VALS(STORE_I(on), STORE_T(reason), ID(id)));
	return store_finish(st, rc, ev, on ? "quarantining a battery" : "releasing a battery");
}

#define COLUMNS "id, place, slot, swap, holder, since, soc, soh, cycles, read_at, quarantined," \
	" reason, unseen_since"

static void row(sqlite3_stmt *s, struct store_battery *b)
{
	const unsigned char *t;

	memset(b, 0, sizeof *b);
	b->id = (uint64_t)sqlite3_column_int64(s, 0);
	snprintf(b->place, sizeof b->place, "%s", (const char *)sqlite3_column_text(s, 1));
	b->slot = sqlite3_column_int(s, 2);
	b->swap = sqlite3_column_int64(s, 3);
	if ((t = sqlite3_column_text(s, 4)))
		snprintf(b->holder, sizeof b->holder, "%s", (const char *)t);
	b->since = sqlite3_column_int64(s, 5);
	b->soc = sqlite3_column_double(s, 6);
	b->soh = sqlite3_column_double(s, 7);
	b->cycles = sqlite3_column_int64(s, 8);
	b->read_at = sqlite3_column_int64(s, 9);
	b->quarantined = sqlite3_column_int(s, 10) != 0;
	if ((t = sqlite3_column_text(s, 11)))
		snprintf(b->reason, sizeof b->reason, "%s", (const char *)t);
	b->unseen_since = sqlite3_column_int64(s, 12);
}

enum sw_err store_battery_get(struct store *st, uint64_t id, struct store_battery *out,
			      bool *found)
{
	sqlite3_stmt *s;
	int rc = store_stmt(st, "SELECT " COLUMNS " FROM batteries WHERE id = ?", &s);

	*found = false;
	if (rc == SQLITE_OK)
		rc = store_bind(s, STORE_VALS(ID(id)));
	if (rc == SQLITE_OK) {
		rc = sqlite3_step(s);
		if (rc == SQLITE_ROW) {
			row(s, out);
			*found = true;
			rc = SQLITE_OK;
		} else if (rc == SQLITE_DONE) {
			rc = SQLITE_OK;
		}
	}
	store_done(s);
	return rc == SQLITE_OK ? SW_OK : store_fail(st, rc, "reading the battery ledger");
}

static json_object *time_json(int64_t ms)
{
	char buf[TEXT_TIME_LEN];

	return ms ? json_object_new_string(text_time(ms, buf, sizeof buf)) : NULL;
}

/* A percentage at 0.1, the ledger's resolution, not as the double nearest
 * to a register's value ("soh": 90.100000000000009). */
static json_object *percent_json(double v)
{
	char text[32];

	snprintf(text, sizeof text, "%.1f", v);
	return json_object_new_double_s(strtod(text, NULL), text);
}

static json_object *battery_json(const struct store_battery *b)
{
	json_object *o = json_object_new_object();
	char id[32];

	snprintf(id, sizeof id, "BAT-%05" PRIu64, b->id);
	json_object_object_add(o, "battery", json_object_new_string(id));
	json_object_object_add(o, "place", json_object_new_string(b->place));
	json_object_object_add(o, "slot", b->slot ? json_object_new_int(b->slot) : NULL);
	json_object_object_add(o, "swap", b->swap ? json_object_new_int64(b->swap) : NULL);
	json_object_object_add(o, "holder", b->holder[0] ? json_object_new_string(b->holder) : NULL);
	json_object_object_add(o, "since", time_json(b->since));
	/* values never read are left out, never shown as 0 */
	if (b->read_at) {
		json_object_object_add(o, "soc", percent_json(b->soc));
		json_object_object_add(o, "soh", percent_json(b->soh));
		json_object_object_add(o, "cycles", json_object_new_int64(b->cycles));
	}
	json_object_object_add(o, "read_at", time_json(b->read_at));
	json_object_object_add(o, "quarantined", json_object_new_boolean(b->quarantined));
	json_object_object_add(o, "reason", b->reason[0] ? json_object_new_string(b->reason) : NULL);
	json_object_object_add(o, "unseen_since", time_json(b->unseen_since));
	return o;
}

json_object *store_batteries_json(struct store *st)
{
	json_object *arr = json_object_new_array();
	struct store_battery b;
	sqlite3_stmt *s;

	if (store_stmt(st, "SELECT " COLUMNS " FROM batteries ORDER BY since DESC, id", &s) != SQLITE_OK)
		return arr;
	while (sqlite3_step(s) == SQLITE_ROW) {
		row(s, &b);
		json_object_array_add(arr, battery_json(&b));
	}
	store_done(s);
	return arr;
}

enum sw_err store_slot_service(struct store *st, int slot, const char *reason, const char *by,
			       const struct store_event *ev)
{
	int rc = store_begin(st);

	if (rc == SQLITE_OK && reason)
		rc = store_exec(st,
				"INSERT OR REPLACE INTO slot_service (slot, reason, by, since)"
				" VALUES (?, ?, ?, ?)",
				STORE_VALS(STORE_I(slot), STORE_T(reason), STORE_T(by),
					   STORE_I(store_now_ms())));
	else if (rc == SQLITE_OK)
		rc = store_exec(st, "DELETE FROM slot_service WHERE slot = ?", STORE_VALS(STORE_I(slot)));
	return store_finish(st, rc, ev, reason ? "taking a slot out of service" : "returning a slot to service");
}

enum sw_err store_slots_out(struct store *st, void (*fn)(int slot, const char *reason, void *arg),
			    void *arg)
{
	sqlite3_stmt *s;
	int rc = store_stmt(st, "SELECT slot, reason FROM slot_service ORDER BY slot", &s);

	if (rc != SQLITE_OK)
		return store_fail(st, rc, "reading the slots out of service");
	while ((rc = sqlite3_step(s)) == SQLITE_ROW)
		fn(sqlite3_column_int(s, 0), (const char *)sqlite3_column_text(s, 1), arg);
	store_done(s);
	return rc == SQLITE_DONE ? SW_OK : store_fail(st, rc, "reading the slots out of service");
}
