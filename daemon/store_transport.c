/* Transport jobs: the fleet's announcements, their start by a T token, the
 * slots each opened and the batteries it moved (store_transport.h). */
#include "daemon/store_transport.h"
#include "daemon/store_priv.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* SQLite integers are signed: a 64-bit serial is kept as its bit pattern. */
#define ID(x) STORE_I((int64_t)(x))

/* The listed ids as "42,43" (NULL: none listed, pick up by count). */
static char *ids_text(const struct store_transport_job *j, char *buf, size_t len)
{
	size_t at = 0;

	if (!j->npickup_ids)
		return NULL;
	buf[0] = '\0';
	for (int k = 0; k < j->npickup_ids && at < len; k++)
		at += (size_t)snprintf(buf + at, len - at, "%s%" PRIu64, k ? "," : "", j->pickup_ids[k]);
	return buf;
}

static void ids_parse(const char *text, struct store_transport_job *j)
{
	j->npickup_ids = 0;
	while (text && *text && j->npickup_ids < STORE_TRANSPORT_MAX) {
		char *end;
		j->pickup_ids[j->npickup_ids++] = strtoull(text, &end, 10);
		text = *end == ',' ? end + 1 : end;
	}
}

/* 99 ids of at most 20 digits and their commas */
#define IDS_TEXT_MAX (STORE_TRANSPORT_MAX * 21 + 1)

enum sw_err store_transport_announce(struct store *st, const struct store_transport_job *j,
				     const struct store_event *ev)
{
	char ids[IDS_TEXT_MAX];
	int rc = store_begin(st);

	/* new terms only while nobody acted on the old ones */
	if (rc == SQLITE_OK)
		rc = store_exec(st,
				"INSERT INTO transport_jobs (job, pickup, pickup_ids, dropoff, exp, state,"
				" announced_at) VALUES (?1, ?2, ?3, ?4, ?5, 'announced', ?6)"
				" ON CONFLICT (job) DO UPDATE SET pickup = ?2, pickup_ids = ?3, dropoff = ?4,"
				" exp = ?5, announced_at = ?6 WHERE state = 'announced'",
				STORE_VALS(STORE_T(j->job), STORE_I(j->pickup), STORE_T(ids_text(j, ids, sizeof ids)),
					   STORE_I(j->dropoff), STORE_I(j->exp), STORE_I(store_now_ms())));
	if (rc == SQLITE_OK && sqlite3_changes(st->db) == 0)
		rc = SQLITE_CONSTRAINT;
	return store_finish(st, rc, ev, "announcing a transport job");
}

#define JOB_COLUMNS "id, job, pickup, pickup_ids, dropoff, exp, state"

static void job_row(sqlite3_stmt *s, struct store_transport_job *j)
{
	memset(j, 0, sizeof *j);
	j->id = sqlite3_column_int64(s, 0);
	snprintf(j->job, sizeof j->job, "%s", (const char *)sqlite3_column_text(s, 1));
	j->pickup = sqlite3_column_int(s, 2);
	ids_parse((const char *)sqlite3_column_text(s, 3), j);
	j->dropoff = sqlite3_column_int(s, 4);
	j->exp = sqlite3_column_int64(s, 5);
	snprintf(j->state, sizeof j->state, "%s", (const char *)sqlite3_column_text(s, 6));
}

enum sw_err store_transport_get(struct store *st, const char *name,
				struct store_transport_job *out, bool *found)
{
	sqlite3_stmt *s;
	int rc = store_stmt(st, "SELECT " JOB_COLUMNS " FROM transport_jobs WHERE job = ?", &s);

	*found = false;
	if (rc == SQLITE_OK)
		rc = store_bind(s, STORE_VALS(STORE_T(name)));
	if (rc == SQLITE_OK) {
		rc = sqlite3_step(s);
		if (rc == SQLITE_ROW) {
			job_row(s, out);
			*found = true;
		}
		rc = rc == SQLITE_ROW || rc == SQLITE_DONE ? SQLITE_OK : rc;
	}
	if (s)
		store_done(s);
	return rc == SQLITE_OK ? SW_OK : store_fail(st, rc, "reading a transport job");
}

enum sw_err store_transport_start(struct store *st, int64_t id, const char *nonce, int pickup,
				  int dropoff, const struct store_transport_slot *slots, int n,
				  const struct store_event *ev)
{
	int rc = store_begin(st);

	if (rc == SQLITE_OK)
		rc = store_exec(st,
				"UPDATE transport_jobs SET state = 'started', started_at = ?, nonce = ?,"
				" token_pickup = ?, token_dropoff = ? WHERE id = ? AND state = 'announced'",
				STORE_VALS(STORE_I(store_now_ms()), STORE_T(nonce), STORE_I(pickup),
					   STORE_I(dropoff), STORE_I(id)));
	if (rc == SQLITE_OK && sqlite3_changes(st->db) == 0)
		rc = SQLITE_CONSTRAINT;
	for (int k = 0; k < n && rc == SQLITE_OK; k++)
		rc = store_exec(st, "INSERT INTO transport_slots (job, slot, role, battery) VALUES (?, ?, ?, ?)",
				STORE_VALS(STORE_I(id), STORE_I(slots[k].slot), STORE_T(slots[k].role),
					   ID(slots[k].battery)));
	return store_finish(st, rc, ev, "starting a transport job");
}

enum sw_err store_transport_move(struct store *st, int64_t id, uint64_t battery, bool in,
				 int slot, const struct store_event *ev)
{
	int rc = store_begin(st);

	/* the opposite move, if there was one, is undone rather than kept */
	if (rc == SQLITE_OK)
		rc = store_exec(st, "DELETE FROM transport_moves WHERE job = ? AND battery = ? AND dir = ?",
				STORE_VALS(STORE_I(id), ID(battery), STORE_T(in ? "out" : "in")));
	if (rc == SQLITE_OK && sqlite3_changes(st->db) == 0)
		rc = store_exec(st,
				"INSERT OR REPLACE INTO transport_moves (job, battery, dir, slot, at)"
				" VALUES (?, ?, ?, ?, ?)",
				STORE_VALS(STORE_I(id), ID(battery), STORE_T(in ? "in" : "out"),
					   STORE_I(slot), STORE_I(store_now_ms())));
	return store_finish(st, rc, ev, "recording a battery a transport job moved");
}

enum sw_err store_transport_moved(struct store *st, int64_t id, bool in, uint64_t *ids, int max,
				  int *n)
{
	sqlite3_stmt *s;
	int rc = store_stmt(st, "SELECT battery FROM transport_moves WHERE job = ? AND dir = ?"
				" ORDER BY battery", &s);

	*n = 0;
	if (rc == SQLITE_OK)
		rc = store_bind(s, STORE_VALS(STORE_I(id), STORE_T(in ? "in" : "out")));
	while (rc == SQLITE_OK && (rc = sqlite3_step(s)) == SQLITE_ROW) {
		if (*n < max)
			ids[(*n)++] = (uint64_t)sqlite3_column_int64(s, 0);
		rc = SQLITE_OK;
	}
	if (s)
		store_done(s);
	return rc == SQLITE_DONE ? SW_OK : store_fail(st, rc, "reading a transport job's moves");
}

enum sw_err store_transport_end(struct store *st, int64_t id, const char *why,
				const struct store_event *ev)
{
	int rc = store_begin(st);

	if (rc == SQLITE_OK)
		rc = store_exec(st,
				"UPDATE transport_jobs SET state = 'completed', ended_at = ?, end_reason = ?"
				" WHERE id = ? AND state = 'started'",
				STORE_VALS(STORE_I(store_now_ms()), STORE_T(why), STORE_I(id)));
	return store_finish(st, rc, ev, "completing a transport job");
}

enum sw_err store_transport_expire(struct store *st, int64_t now_s, const struct store_event *ev)
{
	int rc = store_begin(st);

	if (rc == SQLITE_OK)
		rc = store_exec(st,
				"UPDATE transport_jobs SET state = 'expired', ended_at = ?, end_reason = 'expired'"
				" WHERE state = 'announced' AND exp < ?",
				STORE_VALS(STORE_I(store_now_ms()), STORE_I(now_s)));
	return store_finish(st, rc, ev, "closing expired transport jobs");
}

enum sw_err store_transport_next_exp(struct store *st, int64_t *exp)
{
	int rc = store_query_int(st, "SELECT MIN(exp) FROM transport_jobs WHERE state = 'announced'",
				 NULL, 0, 0, exp);

	return rc == SQLITE_OK ? SW_OK : store_fail(st, rc, "reading the transport jobs");
}

/* The slots job id opened, up to max. */
static int job_slots(struct store *st, int64_t id, struct store_transport_slot *out, int max,
		     int *n)
{
	sqlite3_stmt *s;
	int rc = store_stmt(st, "SELECT slot, role, battery FROM transport_slots WHERE job = ?"
				" ORDER BY slot", &s);

	*n = 0;
	if (rc == SQLITE_OK)
		rc = store_bind(s, STORE_VALS(STORE_I(id)));
	while (rc == SQLITE_OK && (rc = sqlite3_step(s)) == SQLITE_ROW) {
		if (*n < max) {
			struct store_transport_slot *o = &out[(*n)++];
			o->slot = sqlite3_column_int(s, 0);
			snprintf(o->role, sizeof o->role, "%s", (const char *)sqlite3_column_text(s, 1));
			o->battery = (uint64_t)sqlite3_column_int64(s, 2);
		}
		rc = SQLITE_OK;
	}
	if (s)
		store_done(s);
	return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/* A job has at most 99 + 99 slots; a rack far fewer. */
#define SLOTS_MAX (2 * STORE_TRANSPORT_MAX)

enum sw_err store_transport_running(struct store *st,
				    void (*fn)(const struct store_transport_job *j,
					       const struct store_transport_slot *slots, int n,
					       void *arg),
				    void *arg)
{
	struct store_transport_job jobs[8];
	struct store_transport_slot slots[SLOTS_MAX];
	sqlite3_stmt *s;
	int nj = 0, ns, rc;
	bool more = true;

	/* a few at a time, so that fn runs with no statement open */
	for (int64_t after = 0; more;) {
		rc = store_stmt(st, "SELECT " JOB_COLUMNS " FROM transport_jobs WHERE state = 'started'"
				    " AND id > ? ORDER BY id LIMIT 8", &s);
		if (rc == SQLITE_OK)
			rc = store_bind(s, STORE_VALS(STORE_I(after)));
		for (nj = 0; rc == SQLITE_OK && (rc = sqlite3_step(s)) == SQLITE_ROW; rc = SQLITE_OK)
			job_row(s, &jobs[nj++]);
		if (s)
			store_done(s);
		if (rc != SQLITE_DONE)
			return store_fail(st, rc, "reading the running transport jobs");
		more = nj == 8;
		for (int k = 0; k < nj; k++) {
			if ((rc = job_slots(st, jobs[k].id, slots, SLOTS_MAX, &ns)) != SQLITE_OK)
				return store_fail(st, rc, "reading a transport job's slots");
			fn(&jobs[k], slots, ns, arg);
			after = jobs[k].id;
		}
	}
	return SW_OK;
}

static json_object *battery_name(uint64_t id)
{
	char name[32];

	snprintf(name, sizeof name, "BAT-%05" PRIu64, id);
	return json_object_new_string(name);
}

static json_object *moved_json(struct store *st, int64_t id, bool in)
{
	uint64_t ids[SLOTS_MAX];
	int n;
	json_object *a = json_object_new_array();

	if (store_transport_moved(st, id, in, ids, SLOTS_MAX, &n) == SW_OK)
		for (int k = 0; k < n; k++)
			json_object_array_add(a, battery_name(ids[k]));
	return a;
}

static json_object *slots_json(struct store *st, int64_t id)
{
	struct store_transport_slot slots[SLOTS_MAX];
	json_object *a = json_object_new_array();
	int n;

	if (job_slots(st, id, slots, SLOTS_MAX, &n) != SQLITE_OK)
		return a;
	for (int k = 0; k < n; k++) {
		json_object *o = json_object_new_object();
		json_object_object_add(o, "slot", json_object_new_int(slots[k].slot));
		json_object_object_add(o, "role", json_object_new_string(slots[k].role));
		json_object_object_add(o, "battery", slots[k].battery ? battery_name(slots[k].battery) : NULL);
		json_object_array_add(a, o);
	}
	return a;
}

static json_object *opt_int(sqlite3_stmt *s, int col)
{
	return sqlite3_column_type(s, col) == SQLITE_NULL ? NULL
							   : json_object_new_int64(sqlite3_column_int64(s, col));
}

/* One job row of the listing, without its slots and moves. */
static json_object *job_json(sqlite3_stmt *s, int64_t *id)
{
	struct store_transport_job j;
	json_object *o = json_object_new_object(), *pickup;
	const unsigned char *why = sqlite3_column_text(s, 12);

	job_row(s, &j);
	*id = j.id;
	if (j.npickup_ids) {
		pickup = json_object_new_array();
		for (int k = 0; k < j.npickup_ids; k++)
			json_object_array_add(pickup, battery_name(j.pickup_ids[k]));
	} else {
		pickup = json_object_new_int(j.pickup);
	}
	json_object_object_add(o, "id", json_object_new_int64(j.id));
	json_object_object_add(o, "job", json_object_new_string(j.job));
	json_object_object_add(o, "state", json_object_new_string(j.state));
	json_object_object_add(o, "pickup", pickup);
	json_object_object_add(o, "dropoff", json_object_new_int(j.dropoff));
	json_object_object_add(o, "exp", json_object_new_int64(j.exp));
	json_object_object_add(o, "announced_ms", opt_int(s, 7));
	json_object_object_add(o, "started_ms", opt_int(s, 8));
	json_object_object_add(o, "ended_ms", opt_int(s, 9));
	json_object_object_add(o, "token_pickup", opt_int(s, 10));
	json_object_object_add(o, "token_dropoff", opt_int(s, 11));
	json_object_object_add(o, "reason", why ? json_object_new_string((const char *)why) : NULL);
	return o;
}

json_object *store_transport_json(struct store *st, int limit)
{
	json_object *arr = json_object_new_array();
	json_object *rows[100];
	int64_t ids[100];
	int n = 0;
	sqlite3_stmt *s;

	if (limit > 100)
		limit = 100;
	if (store_stmt(st, "SELECT " JOB_COLUMNS ", announced_at, started_at, ended_at, token_pickup,"
			   " token_dropoff, end_reason FROM transport_jobs ORDER BY id DESC LIMIT ?",
		       &s) != SQLITE_OK)
		return arr;
	if (store_bind(s, STORE_VALS(STORE_I(limit))) == SQLITE_OK)
		while (n < limit && sqlite3_step(s) == SQLITE_ROW) {
			rows[n] = job_json(s, &ids[n]);
			n++;
		}
	store_done(s);
	for (int k = 0; k < n; k++) {
		json_object_object_add(rows[k], "slots", slots_json(st, ids[k]));
		json_object_object_add(rows[k], "picked_up", moved_json(st, ids[k], false));
		json_object_object_add(rows[k], "dropped_off", moved_json(st, ids[k], true));
		json_object_array_add(arr, rows[k]);
	}
	return arr;
}
