/* The station's own record: one row per daemon run (so a restart knows
 * whether the last run ended cleanly, and a power cut's downtime is known)
 * and the local audit trail of who did what. */
#include "daemon/store.h"
#include "daemon/store_priv.h"

#include <stdio.h>

enum sw_err store_run_begin(struct store *st, const char *boot, const char *version,
			    char *reason, size_t reasonlen, const struct store_event *ev)
{
	int64_t unclean = 0;
	int rc = store_begin(st);

	/* Read in the transaction that inserts the new run, so the answer is
	 * about the run just before this one. */
	if (rc == SQLITE_OK)
		rc = store_query_int(st, "SELECT stopped_at IS NULL FROM runs ORDER BY started_at DESC, rowid DESC LIMIT 1",
				     NULL, 0, 0, &unclean);
	snprintf(reason, reasonlen, "%s", unclean ? "unclean_shutdown" : "start");
	if (rc == SQLITE_OK) {
		int64_t t = store_now_ms();
		rc = store_exec(st, "INSERT INTO runs (boot, version, reason, started_at, alive_at) VALUES (?, ?, ?, ?, ?)",
				STORE_VALS(STORE_T(boot), STORE_T(version), STORE_T(reason), STORE_I(t),
					   STORE_I(t)));
	}
	return store_finish(st, rc, ev, "recording the start");
}

enum sw_err store_run_alive(struct store *st, const char *boot, const struct store_event *ev)
{
	int rc = store_begin(st);

	if (rc == SQLITE_OK)
		rc = store_exec(st, "UPDATE runs SET alive_at = ? WHERE boot = ?",
				STORE_VALS(STORE_I(store_now_ms()), STORE_T(boot)));
	return store_finish(st, rc, ev, "recording liveness");
}

enum sw_err store_run_end(struct store *st, const char *boot, const struct store_event *ev)
{
	int rc = store_begin(st);

	if (rc == SQLITE_OK) {
		int64_t t = store_now_ms();
		rc = store_exec(st, "UPDATE runs SET alive_at = ?, stopped_at = ? WHERE boot = ?",
				STORE_VALS(STORE_I(t), STORE_I(t), STORE_T(boot)));
	}
	return store_finish(st, rc, ev, "recording the stop");
}

enum sw_err store_audit(struct store *st, const char *who, const char *what, const char *detail,
			const struct store_event *ev)
{
	int rc = store_begin(st);

	if (rc == SQLITE_OK)
		rc = store_exec(st, "INSERT INTO audit (ts, who, what, detail) VALUES (?, ?, ?, ?)",
				STORE_VALS(STORE_I(store_now_ms()), STORE_T(who), STORE_T(what),
					   STORE_T(detail)));
	return store_finish(st, rc, ev, "writing the audit trail");
}
