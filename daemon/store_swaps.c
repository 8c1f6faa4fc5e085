/* Swaps (store_swaps.h): one row per swap, its stage and what it learned
 * (the returned battery, the one handed out) written at each transition,
 * in the transaction that carries the transition's fleet event. */
#include "daemon/store_swaps.h"
#include "daemon/store_priv.h"

#include <stdio.h>
#include <string.h>

/* SQLite integers are signed: a 64-bit serial is kept as its bit pattern. */
#define ID(x) STORE_I((int64_t)(x))
#define OPT_ID(x) ((x) ? ID(x) : STORE_NULL)
#define OPT_T(s) ((s)[0] ? STORE_T(s) : STORE_NULL)

enum sw_err store_swap_start(struct store *st, struct store_swap *s, const struct store_event *ev)
{
	int rc = store_begin(st);

	if (rc == SQLITE_OK)
		rc = store_exec(st,
				"INSERT INTO swaps (nonce, user, ticket, slot_in, slot_out, stage, started_at,"
				" stage_at, battery_out, soc_out) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
				STORE_VALS(STORE_T(s->nonce), STORE_T(s->user),
					   s->ticket ? STORE_I(s->ticket) : STORE_NULL, STORE_I(s->slot_in),
					   STORE_I(s->slot_out), STORE_T(s->stage), STORE_I(s->started_at),
					   STORE_I(s->stage_at), ID(s->battery_out), STORE_D(s->soc_out)));
	if (rc == SQLITE_OK)
		s->id = sqlite3_last_insert_rowid(st->db);
	return store_finish(st, rc, ev, "recording a new swap");
}

enum sw_err store_swap_update(struct store *st, const struct store_swap *s,
			      const struct store_event *ev)
{
	int rc = store_begin(st);

	if (rc == SQLITE_OK)
		rc = store_exec(st,
				"UPDATE swaps SET stage = ?, stage_at = ?, ended_at = ?, reopens = ?,"
				" battery_in = ?, soc_in = ?, soh_in = ?, slot_out = ?, battery_out = ?,"
				" soc_out = ?, result = ?, reason = ?, abort_stage = ?, note = ? WHERE id = ?",
				STORE_VALS(STORE_T(s->stage), STORE_I(s->stage_at),
					   s->ended_at ? STORE_I(s->ended_at) : STORE_NULL,
					   STORE_I(s->reopens), OPT_ID(s->battery_in),
					   s->battery_in ? STORE_D(s->soc_in) : STORE_NULL,
					   s->battery_in ? STORE_D(s->soh_in) : STORE_NULL,
					   STORE_I(s->slot_out), ID(s->battery_out), STORE_D(s->soc_out),
					   OPT_T(s->result), OPT_T(s->reason), OPT_T(s->abort_stage),
					   OPT_T(s->note), STORE_I(s->id)));
	if (rc == SQLITE_OK && sqlite3_changes(st->db) != 1)
		rc = SQLITE_NOTFOUND; /* no such swap: nothing may act as if recorded */
	return store_finish(st, rc, ev, "recording a swap's stage");
}

static void text(sqlite3_stmt *q, int col, char *buf, size_t len)
{
	const unsigned char *t = sqlite3_column_text(q, col);

	snprintf(buf, len, "%s", t ? (const char *)t : "");
}

#define COLUMNS "id, nonce, user, ticket, slot_in, slot_out, stage, started_at, stage_at," \
	" ended_at, reopens, battery_in, soc_in, soh_in, battery_out, soc_out, result, reason," \
	" abort_stage, note"

static void row(sqlite3_stmt *q, struct store_swap *s)
{
	memset(s, 0, sizeof *s);
	s->id = sqlite3_column_int64(q, 0);
	text(q, 1, s->nonce, sizeof s->nonce);
	text(q, 2, s->user, sizeof s->user);
	s->ticket = sqlite3_column_int64(q, 3);
	s->slot_in = sqlite3_column_int(q, 4);
	s->slot_out = sqlite3_column_int(q, 5);
	text(q, 6, s->stage, sizeof s->stage);
	s->started_at = sqlite3_column_int64(q, 7);
	s->stage_at = sqlite3_column_int64(q, 8);
	s->ended_at = sqlite3_column_int64(q, 9);
	s->reopens = sqlite3_column_int(q, 10);
	s->battery_in = (uint64_t)sqlite3_column_int64(q, 11);
	s->soc_in = sqlite3_column_double(q, 12);
	s->soh_in = sqlite3_column_double(q, 13);
	s->battery_out = (uint64_t)sqlite3_column_int64(q, 14);
	s->soc_out = sqlite3_column_double(q, 15);
	text(q, 16, s->result, sizeof s->result);
	text(q, 17, s->reason, sizeof s->reason);
	text(q, 18, s->abort_stage, sizeof s->abort_stage);
	text(q, 19, s->note, sizeof s->note);
}

enum sw_err store_swaps_each(struct store *st, bool open, int limit,
			     void (*fn)(const struct store_swap *s, void *arg), void *arg)
{
	struct store_swap s;
	sqlite3_stmt *q;
	int rc = open ? store_stmt(st, "SELECT " COLUMNS " FROM swaps WHERE ended_at IS NULL"
				   " ORDER BY id LIMIT ?", &q)
		      : store_stmt(st, "SELECT " COLUMNS " FROM swaps WHERE ended_at IS NOT NULL"
				   " ORDER BY id DESC LIMIT ?", &q);

	if (rc == SQLITE_OK)
		rc = store_bind(q, STORE_VALS(STORE_I(limit)));
	while (rc == SQLITE_OK && (rc = sqlite3_step(q)) == SQLITE_ROW) {
		row(q, &s);
		fn(&s, arg);
		rc = SQLITE_OK;
	}
	if (q)
		store_done(q);
	return rc == SQLITE_DONE || rc == SQLITE_OK ? SW_OK : store_fail(st, rc, "reading swaps");
}

enum sw_err store_swap_get(struct store *st, int64_t id, struct store_swap *out, bool *found)
{
	sqlite3_stmt *q;
	int rc = store_stmt(st, "SELECT " COLUMNS " FROM swaps WHERE id = ?", &q);

	*found = false;
	if (rc == SQLITE_OK)
		rc = store_bind(q, STORE_VALS(STORE_I(id)));
	if (rc == SQLITE_OK) {
		rc = sqlite3_step(q);
		if (rc == SQLITE_ROW) {
			row(q, out);
			*found = true;
		}
	}
	if (q)
		store_done(q);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? SW_OK : store_fail(st, rc, "reading a swap");
}
