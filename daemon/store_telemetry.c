/* Slot telemetry: a ring bounded by rack.telemetry_rows. read_at is when
 * the values were read, which for an offline slot is older than ts: stale
 * values are never stored as fresh. */
#include "daemon/store.h"
#include "daemon/store_priv.h"

/* One sample's row; an empty slot's battery values are NULL, not zero. */
static int add_sample(struct store *st, int64_t t, const struct store_sample *x)
{
	bool b = x->battery[0] != '\0';

	return store_exec(st,
			  "INSERT INTO telemetry (ts, slot, state, battery, soc, soh, v, i, t, door, lock, fault, read_at)"
			  " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
			  STORE_VALS(STORE_I(t), STORE_I(x->slot), STORE_T(x->state),
				     STORE_T(b ? x->battery : NULL), b ? STORE_D(x->soc) : STORE_NULL,
				     b ? STORE_D(x->soh) : STORE_NULL, b ? STORE_D(x->v) : STORE_NULL,
				     b ? STORE_D(x->i) : STORE_NULL, b ? STORE_D(x->t) : STORE_NULL,
				     STORE_T(x->door_open ? "open" : "closed"),
				     STORE_T(x->locked ? "locked" : "unlocked"),
				     STORE_I(x->fault_bits), x->read_at ? STORE_I(x->read_at) : STORE_NULL));
}

enum sw_err store_telemetry_add(struct store *st, const struct store_sample *s, size_t n,
				int64_t keep_rows, const struct store_event *ev)
{
	int64_t t = store_now_ms();
	int rc = store_begin(st);

	for (size_t k = 0; k < n && rc == SQLITE_OK; k++)
		rc = add_sample(st, t, &s[k]);
	if (rc == SQLITE_OK)
		rc = store_exec(st, "DELETE FROM telemetry WHERE id <= (SELECT max(id) FROM telemetry) - ?",
				STORE_VALS(STORE_I(keep_rows)));
	return store_finish(st, rc, ev, "writing telemetry");
}
