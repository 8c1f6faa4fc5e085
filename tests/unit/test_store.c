/* The store: migrations, run bookkeeping and its events, refusal of corrupt
 * or newer databases, a full disk reported as an error with nothing lost, a
 * database file removed or replaced at run time failing every change, the
 * typed binder, and a failed change taking its events with it. */
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "daemon/health.h"
#include "daemon/loop.h"
#include "daemon/store.h"
#include "daemon/store_priv.h"
#include "daemon/store_transport.h"
#include "daemon/store_swaps.h"
#include "daemon/store_queue.h"
#include "daemon/store_cmd.h"
#include "daemon/store_history.h"

static char dir[64];
static char path[128];

static int setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof dir, "/tmp/swapd-test-store-XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	snprintf(path, sizeof path, "%s/s.db", dir);
	return 0;
}

static int teardown(void **state)
{
	char cmd[160];

	(void)state;
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	return system(cmd);
}

static int64_t sql_int(const char *sql)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	int64_t v = -1;

	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return v;
}

/* Starts run boot with a station.started event, as main.c does (the store
 * does not read the payload). */
static enum sw_err begin_run(struct store *st, const char *boot, char *reason, size_t len)
{
	json_object *f = json_object_new_object();
	enum sw_err e = store_run_begin(st, boot, "1.0", reason, len,
					&(struct store_event){ "station.started", boot, f });

	json_object_put(f);
	return e;
}

static enum sw_err end_run(struct store *st, const char *boot)
{
	json_object *f = json_object_new_object();
	enum sw_err e = store_run_end(st, boot, &(struct store_event){ "station.stopping", boot, f });

	json_object_put(f);
	return e;
}

static void test_fresh_runs_and_events(void **state)
{
	struct store *st;
	char why[256], reason[32];
	struct store_stats ss;

	(void)state;
	assert_int_equal(store_open(path, 100, &st, why, sizeof why), SW_OK);
	assert_int_equal(store_stats(st, &ss), SW_OK);
	assert_int_equal(ss.events, 0);
	assert_int_equal(ss.oldest_ms, 0);
	assert_int_equal(begin_run(st, "b1", reason, sizeof reason), SW_OK);
	assert_string_equal(reason, "start");
	assert_int_equal(store_run_alive(st, "b1", NULL), SW_OK);
	assert_int_equal(store_stats(st, &ss), SW_OK);
	assert_int_equal(ss.schema, STORE_SCHEMA_VERSION);
	assert_int_equal(ss.events, 1);
	assert_int_equal(ss.seq_next, 2);
	assert_true(ss.oldest_ms > 0);
	store_close(st);

	/* b1 never ended: the next run knows the last one died */
	assert_int_equal(store_open(path, 100, &st, why, sizeof why), SW_OK);
	assert_int_equal(begin_run(st, "b2", reason, sizeof reason), SW_OK);
	assert_string_equal(reason, "unclean_shutdown");
	assert_int_equal(end_run(st, "b2"), SW_OK);
	assert_int_equal(store_audit(st, "test", "config.reload", "abc", NULL), SW_OK);
	store_close(st);

	assert_int_equal(store_open(path, 100, &st, why, sizeof why), SW_OK);
	assert_int_equal(begin_run(st, "b3", reason, sizeof reason), SW_OK);
	assert_string_equal(reason, "start");
	store_close(st);

	assert_int_equal(sql_int("SELECT count(*) FROM outbox"), 4);
	assert_int_equal(sql_int("SELECT max(seq) - min(seq) + 1 FROM outbox"), 4);
	assert_int_equal(sql_int("SELECT count(*) FROM outbox WHERE type = 'station.stopping'"), 1);
	assert_int_equal(sql_int("SELECT count(*) FROM pragma_journal_mode WHERE journal_mode = 'wal'"), 1);
}

static void test_refuses_newer_schema(void **state)
{
	struct store *st;
	char why[256];

	(void)state;
	assert_int_equal(store_open(path, 100, &st, why, sizeof why), SW_OK);
	store_close(st);
	sql_int("PRAGMA user_version = 99");
	assert_int_equal(store_open(path, 100, &st, why, sizeof why), SW_EINVAL);
	assert_null(st);
	assert_non_null(strstr(why, "schema version 99 is newer"));
	sql_int("PRAGMA user_version = 1");
}

static void test_refuses_garbage_file(void **state)
{
	char garbage[128];
	struct store *st;
	char why[256];
	int fd;

	(void)state;
	snprintf(garbage, sizeof garbage, "%s/garbage.db", dir);
	fd = open(garbage, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	for (int i = 0; i < 64; i++)
		assert_int_equal(write(fd, "this is not a database, it is text.\n", 36), 36);
	close(fd);
	assert_int_equal(store_open(garbage, 100, &st, why, sizeof why), SW_ECORRUPT);
	assert_null(st);
	assert_non_null(strstr(why, garbage));
}

static void test_missing_directory(void **state)
{
	struct store *st;
	char why[256];

	(void)state;
	assert_int_equal(store_open("/nonexistent-dir/s.db", 100, &st, why, sizeof why), SW_EPERM);
	assert_non_null(strstr(why, "/nonexistent-dir/s.db: cannot open the database"));
}

/* A file size limit makes every write past it fail, as a full disk does:
 * the write is refused with an error, earlier data stays, and writing works
 * again once there is room. */
static void test_full_disk(void **state)
{
	struct store *st;
	char why[256], reason[32];
	struct rlimit old, small = { .rlim_cur = 4096, .rlim_max = RLIM_INFINITY };
	int before;

	(void)state;
	signal(SIGXFSZ, SIG_IGN);
	assert_int_equal(store_open(path, 100, &st, why, sizeof why), SW_OK);
	assert_int_equal(begin_run(st, "full", reason, sizeof reason), SW_OK);
	before = (int)sql_int("SELECT count(*) FROM audit");
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &small), 0);
	enum sw_err e = SW_OK;
	char big[3000];
	memset(big, 'x', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	for (int i = 0; i < 50 && e == SW_OK; i++)
		e = store_audit(st, "test", "fill", big, NULL);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
	assert_true(e == SW_ENOSPC || e == SW_EIO);
	assert_true(strlen(store_errmsg(st)) > 0);
	int during = (int)sql_int("SELECT count(*) FROM audit");
	assert_true(during >= before);
	assert_int_equal(store_audit(st, "test", "after", "room again", NULL), SW_OK);
	store_close(st);
	assert_int_equal(sql_int("SELECT count(*) FROM audit WHERE what = 'after'"), 1);
	assert_int_equal(sql_int("SELECT count(*) FROM runs WHERE boot = 'full'"), 1);
}

static void open_begun(struct store **st)
{
	char why[256], reason[32];

	assert_int_equal(store_open(path, 100, st, why, sizeof why), SW_OK);
	assert_int_equal(health_get("store"), HEALTH_OK);
	assert_int_equal(begin_run(*st, "b1", reason, sizeof reason), SW_OK);
	assert_int_equal(store_audit(*st, "test", "before", "x", NULL), SW_OK);
	assert_int_equal(store_check(*st), SW_OK);
}

static void assert_lost(struct store *st)
{
	assert_int_equal(store_audit(st, "test", "unlock", "slot 3", NULL), SW_EIO);
	assert_non_null(strstr(store_errmsg(st), "removed or replaced"));
	assert_int_equal(health_get("store"), HEALTH_FAILED);
	assert_int_equal(store_check(st), SW_EIO);
	assert_int_equal(store_run_alive(st, "b1", NULL), SW_EIO);
}

/* A database unlinked under the running store: the next change is refused,
 * and stays refused; a restart then opens a fresh database at the path. */
static void test_removed_file_fails_until_restart(void **state)
{
	struct store *st;
	char why[256], reason[32];

	(void)state;
	open_begun(&st);
	assert_int_equal(unlink(path), 0);
	assert_lost(st);
	store_close(st);
	assert_int_equal(store_open(path, 100, &st, why, sizeof why), SW_OK);
	assert_int_equal(begin_run(st, "b2", reason, sizeof reason), SW_OK);
	assert_string_equal(reason, "start");
	assert_int_equal(store_audit(st, "test", "after", "x", NULL), SW_OK);
	store_close(st);
	assert_int_equal(sql_int("SELECT count(*) FROM audit"), 1);
	health_reset();
}

/* Another database renamed over the running one: refused too, and nothing
 * of this run lands in the newcomer. */
static void test_replaced_file_fails(void **state)
{
	struct store *st, *other;
	char other_path[160], why[256];

	(void)state;
	snprintf(other_path, sizeof other_path, "%s/other.db", dir);
	assert_int_equal(store_open(other_path, 100, &other, why, sizeof why), SW_OK);
	store_close(other);
	open_begun(&st);
	assert_int_equal(rename(other_path, path), 0);
	assert_lost(st);
	assert_int_equal(sql_int("SELECT count(*) FROM audit"), 0);
	store_close(st);
	assert_int_equal(sql_int("SELECT count(*) FROM audit"), 0);
	health_reset();
}

/* SQLite syncs the WAL at each COMMIT through fdatasync; this one can
 * unlink the database just then, between the store's check at begin and
 * the commit's return. */
static bool unlink_at_sync;

int fdatasync(int fd)
{
	if (unlink_at_sync) {
		unlink_at_sync = false;
		unlink(path);
	}
	return (int)syscall(SYS_fdatasync, fd);
}

/* A record committed to a file unlinked meanwhile is not on disk for the
 * next run: the call fails, so the caller does not act on it. */
static void test_removed_during_commit(void **state)
{
	struct store *st;

	(void)state;
	open_begun(&st);
	unlink_at_sync = true;
	assert_int_equal(store_audit(st, "test", "unlock", "slot 3", NULL), SW_EIO);
	assert_false(unlink_at_sync);
	assert_int_equal(health_get("store"), HEALTH_FAILED);
	store_close(st);
	health_reset();
}

/* Each value type lands as its SQL type, text is copied at bind time, and
 * a NULL text pointer binds NULL just as STORE_NULL does. */
static void test_bind_each_type(void **state)
{
	sqlite3 *db;
	sqlite3_stmt *stmt;
	char text[8] = "abc";

	(void)state;
	assert_int_equal(sqlite3_open(":memory:", &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "SELECT ?, ?, ?, ?, ?", -1, &stmt, NULL), SQLITE_OK);
	assert_int_equal(store_bind(stmt, STORE_VALS(STORE_I(INT64_MIN), STORE_D(-2.5), STORE_T(text),
						      STORE_T(NULL), STORE_NULL)),
			 SQLITE_OK);
	strcpy(text, "xyz");
	assert_int_equal(sqlite3_step(stmt), SQLITE_ROW);
	assert_int_equal(sqlite3_column_type(stmt, 0), SQLITE_INTEGER);
	assert_true(sqlite3_column_int64(stmt, 0) == INT64_MIN);
	assert_int_equal(sqlite3_column_type(stmt, 1), SQLITE_FLOAT);
	assert_true(sqlite3_column_double(stmt, 1) == -2.5);
	assert_int_equal(sqlite3_column_type(stmt, 2), SQLITE_TEXT);
	assert_string_equal((const char *)sqlite3_column_text(stmt, 2), "abc");
	assert_int_equal(sqlite3_column_type(stmt, 3), SQLITE_NULL);
	assert_int_equal(sqlite3_column_type(stmt, 4), SQLITE_NULL);
	sqlite3_finalize(stmt);
	sqlite3_close(db);
}

/* A value too few or too many is refused before anything is bound, so a
 * forgotten value cannot silently become NULL. */
static void test_bind_wrong_count(void **state)
{
	sqlite3 *db;
	sqlite3_stmt *stmt;

	(void)state;
	assert_int_equal(sqlite3_open(":memory:", &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "SELECT ?, ?", -1, &stmt, NULL), SQLITE_OK);
	assert_int_equal(store_bind(stmt, STORE_VALS(STORE_I(1))), SQLITE_RANGE);
	assert_int_equal(store_bind(stmt, STORE_VALS(STORE_I(1), STORE_I(2), STORE_I(3))),
			 SQLITE_RANGE);
	assert_int_equal(sqlite3_step(stmt), SQLITE_ROW);
	assert_int_equal(sqlite3_column_type(stmt, 0), SQLITE_NULL);
	sqlite3_finalize(stmt);
	sqlite3_close(db);
}

static const struct store_scan marked = { .source = "test", .result = "ok", .kind = "S",
					  .subject = "u1", .nonce = "n1", .exp = 99,
					  .mark_used = true };

/* A change refused (here a single-use mark already taken) writes neither
 * itself nor the event it was given; one that succeeds writes both. */
static void test_failed_change_writes_no_event(void **state)
{
	struct store *st;
	char why[256];
	json_object *f = json_object_new_object();
	struct store_event ev = { "token.rejected", "b1", f };

	(void)state;
	json_object_object_add(f, "reason", json_object_new_string("replayed"));
	assert_int_equal(store_open(path, 100, &st, why, sizeof why), SW_OK);
	assert_int_equal(store_scan(st, &marked, 10, NULL), SW_OK);
	assert_int_equal(store_scan(st, &marked, 10, &ev), SW_EEXIST);
	assert_int_equal(sql_int("SELECT count(*) FROM scans"), 1);
	assert_int_equal(sql_int("SELECT count(*) FROM outbox"), 0);
	assert_int_equal(store_audit(st, "test", "replay", "n1", &ev), SW_OK);
	store_close(st);
	json_object_put(f);
	assert_int_equal(sql_int("SELECT count(*) FROM audit"), 1);
	assert_int_equal(sql_int("SELECT count(*) FROM outbox WHERE type = 'token.rejected'"
				 " AND json_extract(payload, '$.reason') = 'replayed' AND boot = 'b1'"), 1);
	health_reset();
}

/* A transaction of several calls: committed, every change and event is
 * there; when one call fails, the later ones are skipped and the commit
 * drops all of it, events included. The store works normally after. */
static void test_failed_transaction_leaves_nothing(void **state)
{
	struct store *st;
	char why[256];
	json_object *f = json_object_new_object();
	struct store_event ev = { "test.event", "b1", f };

	(void)state;
	assert_int_equal(store_open(path, 100, &st, why, sizeof why), SW_OK);
	store_tx_begin(st);
	assert_int_equal(store_scan(st, &marked, 10, NULL), SW_OK);
	assert_int_equal(store_outbox_add(st, &ev), SW_OK);
	assert_int_equal(store_tx_commit(st, "test"), SW_OK);
	assert_int_equal(sql_int("SELECT count(*) FROM outbox"), 1);

	store_tx_begin(st);
	assert_int_equal(store_audit(st, "test", "first", "x", &ev), SW_OK);
	assert_int_equal(store_outbox_add(st, &ev), SW_OK);
	assert_int_equal(store_scan(st, &marked, 10, &ev), SW_EEXIST);
	assert_int_equal(store_audit(st, "test", "after", "x", NULL), SW_EEXIST);
	assert_int_equal(store_tx_commit(st, "test"), SW_EEXIST);
	assert_int_equal(sql_int("SELECT count(*) FROM audit"), 0);
	assert_int_equal(sql_int("SELECT count(*) FROM scans"), 1);
	assert_int_equal(sql_int("SELECT count(*) FROM outbox"), 1);

	assert_int_equal(store_audit(st, "test", "later", "x", &ev), SW_OK);
	store_close(st);
	json_object_put(f);
	assert_int_equal(sql_int("SELECT count(*) FROM audit"), 1);
	assert_int_equal(sql_int("SELECT count(*) FROM outbox"), 2);
	health_reset();
}

struct outbox_seen {
	int64_t seq[8];
	char payload[8][64];
	int n;
	int stop_after;       /* 0: read them all */
};

static int note_row(const struct store_outbox_row *r, void *arg)
{
	struct outbox_seen *s = arg;

	s->seq[s->n] = r->seq;
	snprintf(s->payload[s->n], sizeof s->payload[0], "%s", r->payload);
	assert_string_equal(r->type, "test.event");
	assert_string_equal(r->boot, "b1");
	return ++s->n == s->stop_after;
}

static int added_total;

static void count_added(int added, void *arg)
{
	(void)arg;
	added_total += added;
}

/* The MQTT link's side of the outbox: the oldest events after a seq, in
 * order and bounded; deleting by seq (also a gap in the middle, as an
 * out-of-order PUBACK leaves); the hook hears of committed events only,
 * once per transaction; and an event made while the clock is unsynced
 * carries "clock":"unsynced" for good. */
static void test_outbox_read_delete(void **state)
{
	struct store *st;
	char why[256];
	json_object *f = json_object_new_object();
	struct store_event ev = { "test.event", "b1", f };
	struct outbox_seen s = { 0 };

	(void)state;
	added_total = 0;
	loop_set_clock(true); /* the clock's sync state is the test's */
	loop_set_wall_synced(true);
	assert_int_equal(store_open(path, 100, &st, why, sizeof why), SW_OK);
	store_set_outbox_hook(st, count_added, NULL);
	for (int i = 0; i < 3; i++)
		assert_int_equal(store_outbox_add(st, &ev), SW_OK);
	store_tx_begin(st);
	assert_int_equal(store_outbox_add(st, &ev), SW_OK);
	json_object_object_add(f, "k", json_object_new_int(7));
	assert_int_equal(store_outbox_add(st, &ev), SW_OK);
	assert_int_equal(added_total, 3);
	assert_int_equal(store_tx_commit(st, "test"), SW_OK);
	assert_int_equal(added_total, 5);
	store_tx_begin(st);
	assert_int_equal(store_outbox_add(st, &ev), SW_OK);
	assert_int_equal(store_scan(st, &marked, 10, NULL), SW_OK);
	assert_int_equal(store_scan(st, &marked, 10, NULL), SW_EEXIST);
	assert_int_equal(store_tx_commit(st, "test"), SW_EEXIST);
	assert_int_equal(added_total, 5);

	assert_int_equal(store_outbox_read(st, 0, 3, note_row, &s), SW_OK);
	assert_int_equal(s.n, 3);
	assert_int_equal(s.seq[0], 1);
	assert_int_equal(s.seq[2], 3);
	assert_string_equal(s.payload[0], "{}");
	s = (struct outbox_seen){ .stop_after = 1 };
	assert_int_equal(store_outbox_read(st, 3, 10, note_row, &s), SW_OK);
	assert_int_equal(s.n, 1);
	assert_int_equal(s.seq[0], 4);

	assert_int_equal(store_outbox_delete(st, (int64_t[]){ 1, 3, 99 }, 3), SW_OK);
	s = (struct outbox_seen){ 0 };
	assert_int_equal(store_outbox_read(st, 0, 10, note_row, &s), SW_OK);
	assert_int_equal(s.n, 3);
	assert_int_equal(s.seq[0], 2);
	assert_int_equal(s.seq[1], 4);
	assert_int_equal(s.seq[2], 5);
	assert_string_equal(s.payload[2], "{\"k\":7}");

	loop_set_wall_synced(false);
	assert_int_equal(store_outbox_add(st, &ev), SW_OK);
	json_object_object_del(f, "k");
	assert_int_equal(store_outbox_add(st, &ev), SW_OK);
	loop_set_wall_synced(true);
	assert_int_equal(store_outbox_add(st, &ev), SW_OK);
	s = (struct outbox_seen){ 0 };
	assert_int_equal(store_outbox_read(st, 5, 10, note_row, &s), SW_OK);
	assert_int_equal(s.n, 3);
	assert_int_equal(s.seq[0], 6); /* the failed transaction's took no seq */
	assert_string_equal(s.payload[0], "{\"k\":7,\"clock\":\"unsynced\"}");
	assert_string_equal(s.payload[1], "{\"clock\":\"unsynced\"}");
	assert_string_equal(s.payload[2], "{}");
	assert_int_equal(added_total, 8);
	loop_set_clock(false);
	store_close(st);
	json_object_put(f);
	health_reset();
}

/* The ledger keeps every battery it has seen, where it went and since
 * when; a 64-bit serial with the top bit set comes back whole. */
static void test_battery_ledger(void **state)
{
	struct store *st;
	struct store_battery b;
	char why[256];
	bool found;
	const uint64_t big = 0xF00000000000002AULL;

	(void)state;
	assert_int_equal(store_open(path, 1000, &st, why, sizeof why), SW_OK);
	assert_int_equal(store_battery_get(st, 42, &b, &found), SW_OK);
	assert_false(found);
	assert_int_equal(store_battery_in_slot(st, 42, 3, 55.5, 91.0, 120, 1000, NULL), SW_OK);
	assert_int_equal(store_battery_in_slot(st, big, 4, -1, -1, 0, 0, NULL), SW_OK);
	assert_int_equal(store_battery_get(st, 42, &b, &found), SW_OK);
	assert_true(found);
	assert_string_equal(b.place, "slot");
	assert_int_equal(b.slot, 3);
	assert_true(b.soc == 55.5);
	assert_int_equal(b.read_at, 1000);
	assert_int_equal(store_battery_left(st, 42, "rider", 7, "u-1", NULL), SW_OK);
	assert_int_equal(store_battery_get(st, 42, &b, &found), SW_OK);
	assert_string_equal(b.place, "rider");
	assert_int_equal(b.slot, 3);      /* the last slot stays */
	assert_int_equal(b.swap, 7);
	assert_string_equal(b.holder, "u-1");
	assert_true(b.soc == 55.5);       /* and the last values */
	assert_int_equal(store_battery_quarantine(st, big, true, "soh 70.0 < 75", NULL), SW_OK);
	assert_int_equal(store_battery_get(st, big, &b, &found), SW_OK);
	assert_true(found);
	assert_int_equal(b.id, big);
	assert_true(b.quarantined);
	assert_string_equal(b.reason, "soh 70.0 < 75");
	assert_int_equal(b.read_at, 0);   /* never read: no values */
	json_object *all = store_batteries_json(st);
	assert_int_equal(json_object_array_length(all), 2);
	json_object_put(all);
	assert_int_equal(store_slot_service(st, 5, "door stuck", "admin", NULL), SW_OK);
	assert_int_equal(store_slot_service(st, 6, "unknown battery", "swap", NULL), SW_OK);
	assert_int_equal(store_slot_service(st, 5, NULL, "admin", NULL), SW_OK);
	assert_int_equal(sql_int("SELECT group_concat(slot) FROM slot_service"), 6);
	store_close(st);
}

/* A transport job: new terms while only announced, none once started;
 * moves are net; its end; an announced job past its exp is closed. */
static void test_transport_jobs(void **state)
{
	struct store *st;
	struct store_transport_job j = { .pickup = 2, .npickup_ids = 2, .pickup_ids = { 42, 43 },
					 .dropoff = 1, .exp = 2000 }, got;
	struct store_transport_slot slot = { .slot = 3, .role = "pickup", .battery = 42 };
	uint64_t ids[4];
	char why[256];
	bool found;
	int n;

	(void)state;
	snprintf(j.job, sizeof j.job, "job-1");
	assert_int_equal(store_open(path, 1000, &st, why, sizeof why), SW_OK);
	assert_int_equal(store_transport_announce(st, &j, NULL), SW_OK);
	j.dropoff = 3;
	assert_int_equal(store_transport_announce(st, &j, NULL), SW_OK);
	assert_int_equal(store_transport_get(st, "job-1", &got, &found), SW_OK);
	assert_true(found);
	assert_int_equal(got.dropoff, 3);
	assert_int_equal(got.npickup_ids, 2);
	assert_int_equal(got.pickup_ids[1], 43);
	assert_string_equal(got.state, "announced");
	assert_int_equal(store_transport_start(st, got.id, "nonce-1", 1, 1, &slot, 1, NULL), SW_OK);
	assert_int_equal(store_transport_start(st, got.id, "nonce-2", 1, 1, &slot, 1, NULL), SW_EEXIST);
	assert_int_equal(store_transport_announce(st, &j, NULL), SW_EEXIST);
	assert_int_equal(store_transport_move(st, got.id, 42, false, 3, NULL), SW_OK);
	assert_int_equal(store_transport_move(st, got.id, 7, true, 3, NULL), SW_OK);
	assert_int_equal(store_transport_move(st, got.id, 8, true, 4, NULL), SW_OK);
	assert_int_equal(store_transport_move(st, got.id, 8, false, 4, NULL), SW_OK); /* taken again */
	assert_int_equal(store_transport_moved(st, got.id, false, ids, 4, &n), SW_OK);
	assert_int_equal(n, 1);
	assert_int_equal(ids[0], 42);
	assert_int_equal(store_transport_moved(st, got.id, true, ids, 4, &n), SW_OK);
	assert_int_equal(n, 1);
	assert_int_equal(ids[0], 7);
	assert_int_equal(store_transport_end(st, got.id, "closed", NULL), SW_OK);
	assert_int_equal(store_transport_get(st, "job-1", &got, &found), SW_OK);
	assert_string_equal(got.state, "completed");

	snprintf(j.job, sizeof j.job, "job-2");
	assert_int_equal(store_transport_announce(st, &j, NULL), SW_OK);
	int64_t exp;
	assert_int_equal(store_transport_next_exp(st, &exp), SW_OK);
	assert_int_equal(exp, 2000);
	assert_int_equal(store_transport_expire(st, 2000, NULL), SW_OK); /* not before it */
	assert_int_equal(store_transport_get(st, "job-2", &got, &found), SW_OK);
	assert_string_equal(got.state, "announced");
	assert_int_equal(store_transport_expire(st, 2001, NULL), SW_OK);
	assert_int_equal(store_transport_get(st, "job-2", &got, &found), SW_OK);
	assert_string_equal(got.state, "expired");
	assert_int_equal(store_transport_next_exp(st, &exp), SW_OK);
	assert_int_equal(exp, 0);
	json_object *all = store_transport_json(st, 10);
	assert_int_equal(json_object_array_length(all), 2);
	json_object_put(all);
	store_close(st);
	health_reset();
}

static void count_swap(const struct store_swap *s, void *arg)
{
	int64_t *ids = arg;

	ids[++ids[0]] = s->id;
}

/* A swap's row: made with its id, updated at every stage, found while
 * unfinished and among the ended once it ended; an update of a swap that
 * is not there records nothing. */
static void test_swaps(void **state)
{
	struct store *st;
	char why[256];
	struct store_swap s = { .slot_in = 2, .slot_out = 5, .stage = "unlock_in",
				.started_at = 1000, .stage_at = 1000, .battery_out = 0xF00000000000002AULL,
				.soc_out = 98.5 }, got;
	int64_t ids[8] = { 0 };
	bool found;

	(void)state;
	snprintf(s.nonce, sizeof s.nonce, "n0nce1");
	snprintf(s.user, sizeof s.user, "u-1");
	assert_int_equal(store_open(path, 1000, &st, why, sizeof why), SW_OK);
	assert_int_equal(store_swap_start(st, &s, NULL), SW_OK);
	assert_int_equal(s.id, 1);
	assert_int_equal(store_swap_start(st, &(struct store_swap){ .stage = "unlock_in" }, NULL), SW_OK);
	snprintf(s.stage, sizeof s.stage, "lock_in");
	s.battery_in = 42;
	s.soc_in = 12.5;
	s.soh_in = 91;
	assert_int_equal(store_swap_update(st, &s, NULL), SW_OK);
	assert_int_equal(store_swaps_each(st, true, 10, count_swap, ids), SW_OK);
	assert_int_equal(ids[0], 2);
	snprintf(s.stage, sizeof s.stage, "aborted");
	snprintf(s.result, sizeof s.result, "aborted");
	snprintf(s.reason, sizeof s.reason, "insert_timeout");
	s.ended_at = 5000;
	assert_int_equal(store_swap_update(st, &s, NULL), SW_OK);
	ids[0] = 0;
	assert_int_equal(store_swaps_each(st, true, 10, count_swap, ids), SW_OK);
	assert_int_equal(ids[0], 1);
	assert_int_equal(ids[1], 2);
	ids[0] = 0;
	assert_int_equal(store_swaps_each(st, false, 10, count_swap, ids), SW_OK);
	assert_int_equal(ids[0], 1);
	assert_int_equal(ids[1], 1);
	assert_int_equal(store_swap_get(st, 1, &got, &found), SW_OK);
	assert_true(found);
	assert_string_equal(got.user, "u-1");
	assert_string_equal(got.reason, "insert_timeout");
	assert_int_equal(got.battery_in, 42);
	assert_int_equal(got.battery_out, 0xF00000000000002AULL);
	assert_true(got.soc_out == 98.5);
	assert_int_equal(got.ended_at, 5000);
	s.id = 99;
	assert_int_equal(store_swap_update(st, &s, NULL), SW_EIO);
	assert_int_equal(store_swap_get(st, 99, &got, &found), SW_OK);
	assert_false(found);
	store_close(st);
	health_reset();
}

/* A slot read empty, or with another battery, than its rows say: the rows
 * go to "unknown" with their last slot, except the battery kept and,
 * when asked, one its sensor lost (flagged unseen, believed inside). Seen
 * again, or gone, a battery is no longer unseen. */
static void test_battery_vacate_and_unseen(void **state)
{
	struct store *st;
	struct store_battery b;
	char why[256];
	bool found;
	int moved;

	(void)state;
	assert_int_equal(store_open(path, 1000, &st, why, sizeof why), SW_OK);
	assert_int_equal(store_battery_in_slot(st, 1, 3, 50, 90, 1, 1000, NULL), SW_OK);
	assert_int_equal(store_battery_in_slot(st, 2, 3, 50, 90, 1, 1000, NULL), SW_OK);
	assert_int_equal(store_battery_in_slot(st, 3, 4, 50, 90, 1, 1000, NULL), SW_OK);
	assert_int_equal(store_battery_unseen(st, 2, 5000, NULL), SW_OK);
	assert_int_equal(store_battery_get(st, 2, &b, &found), SW_OK);
	assert_int_equal(b.unseen_since, 5000);
	json_object *all = store_batteries_json(st), *v;
	json_object *row = json_object_array_get_idx(all, 0);
	assert_true(json_object_object_get_ex(row, "unseen_since", &v));
	assert_true(json_object_object_get_ex(row, "read_at", &v));
	assert_string_equal(json_object_get_string(v), "1970-01-01T00:00:01.000Z");
	json_object_put(all);

	assert_int_equal(store_battery_vacate(st, 3, 0, true, &moved, NULL), SW_OK);
	assert_int_equal(moved, 1);
	assert_int_equal(store_battery_get(st, 1, &b, &found), SW_OK);
	assert_string_equal(b.place, "unknown");
	assert_int_equal(b.slot, 3);
	assert_int_equal(store_battery_get(st, 2, &b, &found), SW_OK);
	assert_string_equal(b.place, "slot");
	assert_int_equal(store_battery_vacate(st, 3, 0, false, &moved, NULL), SW_OK);
	assert_int_equal(moved, 1);
	assert_int_equal(store_battery_get(st, 2, &b, &found), SW_OK);
	assert_string_equal(b.place, "unknown");
	assert_int_equal(b.unseen_since, 0);
	assert_int_equal(store_battery_vacate(st, 4, 3, false, &moved, NULL), SW_OK);
	assert_int_equal(moved, 0);
	assert_int_equal(store_battery_unseen(st, 3, 6000, NULL), SW_OK);
	assert_int_equal(store_battery_in_slot(st, 3, 4, -1, -1, 0, 0, NULL), SW_OK);
	assert_int_equal(store_battery_get(st, 3, &b, &found), SW_OK);
	assert_int_equal(b.unseen_since, 0);
	store_close(st);
}

static void count_waiting(const struct store_queue_entry *e, void *arg)
{
	(void)e;
	(*(int *)arg)++;
}

/* Queue rows: tickets never given twice, a nonce waiting once at a time,
 * a row that left kept with its reason and its event written with it. */
struct history_seen {
	int n, stop_after;
	int64_t id[8], ts[8];
	char payload[8][16];
};

static int note_history(const struct store_history_row *r, void *arg)
{
	struct history_seen *s = arg;

	s->id[s->n] = r->id;
	s->ts[s->n] = r->ts;
	snprintf(s->payload[s->n], sizeof s->payload[0], "%s", r->payload);
	return ++s->n == s->stop_after;
}

/* Kept telemetry: bounded (the oldest go), read oldest first after an id,
 * deleted by id; its event, when given, goes in the same transaction. */
static void test_telemetry_history(void **state)
{
	struct store *st;
	char why[256], text[16];
	struct history_seen s = { 0 };
	int64_t n = -1;
	json_object *f = json_object_new_object();
	struct store_event ev = { "test.event", "b1", f };

	(void)state;
	assert_int_equal(store_open(path, 100, &st, why, sizeof why), SW_OK);
	for (int i = 1; i <= 5; i++) {
		snprintf(text, sizeof text, "{\"n\":%d}", i);
		assert_int_equal(store_history_add(st, 1000 * i, text, 3, i == 5 ? &ev : NULL), SW_OK);
	}
	assert_int_equal(store_history_count(st, &n), SW_OK);
	assert_int_equal(n, 3);
	assert_int_equal(sql_int("SELECT count(*) FROM outbox WHERE type = 'test.event'"), 1);
	assert_int_equal(store_history_read(st, 0, 10, note_history, &s), SW_OK);
	assert_int_equal(s.n, 3);
	assert_int_equal(s.id[0], 3);
	assert_int_equal(s.ts[0], 3000);
	assert_string_equal(s.payload[0], "{\"n\":3}");
	assert_int_equal(s.id[2], 5);
	s = (struct history_seen){ .stop_after = 1 };
	assert_int_equal(store_history_read(st, 3, 10, note_history, &s), SW_OK);
	assert_int_equal(s.n, 1);
	assert_int_equal(s.id[0], 4);
	s = (struct history_seen){ 0 };
	assert_int_equal(store_history_read(st, 3, 1, note_history, &s), SW_OK);
	assert_int_equal(s.n, 1);

	assert_int_equal(store_history_delete(st, (int64_t[]){ 3, 5, 99 }, 3), SW_OK);
	s = (struct history_seen){ 0 };
	assert_int_equal(store_history_read(st, 0, 10, note_history, &s), SW_OK);
	assert_int_equal(s.n, 1);
	assert_int_equal(s.id[0], 4);
	/* ids are never reused, so a sample added now sorts after the rest */
	assert_int_equal(store_history_add(st, 500, "{}", 3, NULL), SW_OK);
	s = (struct history_seen){ 0 };
	assert_int_equal(store_history_read(st, 0, 10, note_history, &s), SW_OK);
	assert_int_equal(s.n, 2);
	assert_int_equal(s.id[1], 6);
	store_close(st);
	json_object_put(f);
}

static void test_queue_rows(void **state)
{
	struct store *st;
	struct store_queue_entry e = { .user = "u-1", .nonce = "nonce-1", .source = "fleet",
				       .joined_at = 1000, .eta_at = 61000, .exp = 99, .eta_s = 60,
				       .arrival = "en_route", .distance_m = -1 };
	char why[256];
	int64_t t1, t2, t3;
	int waiting = 0;

	(void)state;
	assert_int_equal(store_open(path, 1000, &st, why, sizeof why), SW_OK);
	assert_int_equal(store_queue_add(st, &e, &t1, NULL), SW_OK);
	assert_int_equal(store_queue_add(st, &e, &t2, NULL), SW_EEXIST);
	json_object *f = json_object_new_object();
	assert_int_equal(store_queue_leave(st, t1, "cancelled",
					   &(struct store_event){ "queue.left", "b1", f }), SW_OK);
	json_object_put(f);
	assert_int_equal(store_queue_add(st, &e, &t2, NULL), SW_OK);
	assert_true(t2 > t1);
	assert_int_equal(store_queue_leave(st, t2, "served", NULL), SW_OK);
	assert_int_equal(store_queue_add(st, &e, &t3, NULL), SW_OK);
	assert_true(t3 > t2); /* the last ticket left, and is still not given again */
	assert_int_equal(store_queue_arrival(st, t3, "arrived", 120, 5000, NULL), SW_OK);
	assert_int_equal(store_queue_load(st, count_waiting, &waiting), SW_OK);
	assert_int_equal(waiting, 1);
	assert_int_equal(store_queue_in_swaps(st, NULL, NULL), SW_OK); /* no swaps */
	json_object *left = store_queue_left_json(st, 10);
	assert_int_equal(json_object_array_length(left), 2);
	json_object_put(left);
	store_close(st);
	assert_int_equal(sql_int("SELECT count(*) FROM outbox WHERE type = 'queue.left'"), 1);
	assert_int_equal(sql_int("SELECT distance_m FROM queue WHERE left_at IS NULL"), 120);
}

static bool never(void *arg)
{
	(void)arg;
	return false;
}

/* The fleet commands' replies: kept with the request and the event of
 * their transaction, found again after a reopen, unique per id, purged by
 * age. */
static void test_cmd_replies(void **state)
{
	struct store *st;
	char why[256], *req, *reply;
	bool found;
	json_object *f = json_object_new_object();
	struct store_event ev = { "cmd.rejected", "b1", f };

	(void)state;
	loop_set_clock(true);
	assert_int_equal(store_open(path, 100, &st, why, sizeof why), SW_OK);
	assert_int_equal(store_cmd_get(st, "c-1", &found, &req, &reply), SW_OK);
	assert_false(found);
	assert_null(req);
	assert_int_equal(store_cmd_put(st, "c-1", "{\"cmd\":\"rebirth\"}", "{\"id\":\"c-1\",\"ok\":true}",
				       &ev), SW_OK);
	assert_int_equal(sql_int("SELECT count(*) FROM outbox WHERE type = 'cmd.rejected'"), 1);
	/* an id is run once: a second put under it fails and records nothing */
	assert_int_not_equal(store_cmd_put(st, "c-1", "{}", "{}", &ev), SW_OK);
	assert_int_equal(sql_int("SELECT count(*) FROM outbox WHERE type = 'cmd.rejected'"), 1);
	store_close(st);

	assert_int_equal(store_open(path, 100, &st, why, sizeof why), SW_OK);
	assert_int_equal(store_cmd_get(st, "c-1", &found, &req, &reply), SW_OK);
	assert_true(found);
	assert_string_equal(req, "{\"cmd\":\"rebirth\"}");
	assert_string_equal(reply, "{\"id\":\"c-1\",\"ok\":true}");
	free(req);
	free(reply);
	assert_int_equal(store_cmd_purge(st, loop_wall_ms()), SW_OK);
	assert_int_equal(store_cmd_get(st, "c-1", &found, &req, &reply), SW_OK);
	assert_true(found); /* not older than the cut */
	free(req);
	free(reply);
	loop_run_until(never, NULL, 10); /* the simulated clock moves on */
	assert_int_equal(store_cmd_purge(st, loop_wall_ms()), SW_OK);
	assert_int_equal(store_cmd_get(st, "c-1", &found, &req, &reply), SW_OK);
	assert_false(found);
	store_close(st);
	json_object_put(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_fresh_runs_and_events, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refuses_newer_schema, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refuses_garbage_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_missing_directory, setup, teardown),
		cmocka_unit_test_setup_teardown(test_full_disk, setup, teardown),
		cmocka_unit_test_setup_teardown(test_removed_file_fails_until_restart, setup, teardown),
		cmocka_unit_test_setup_teardown(test_replaced_file_fails, setup, teardown),
		cmocka_unit_test_setup_teardown(test_removed_during_commit, setup, teardown),
		cmocka_unit_test(test_bind_each_type),
		cmocka_unit_test_setup_teardown(test_battery_ledger, setup, teardown),
		cmocka_unit_test_setup_teardown(test_transport_jobs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_battery_vacate_and_unseen, setup, teardown),
		cmocka_unit_test_setup_teardown(test_swaps, setup, teardown),
		cmocka_unit_test_setup_teardown(test_queue_rows, setup, teardown),
		cmocka_unit_test_setup_teardown(test_telemetry_history, setup, teardown),
		cmocka_unit_test(test_bind_wrong_count),
		cmocka_unit_test_setup_teardown(test_failed_change_writes_no_event, setup, teardown),
		cmocka_unit_test_setup_teardown(test_failed_transaction_leaves_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_outbox_read_delete, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cmd_replies, setup, teardown),
	};
	return cmocka_run_group_tests_name("store", tests, NULL, NULL);
}
