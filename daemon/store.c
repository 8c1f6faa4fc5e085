#include "daemon/store.h"
#include "daemon/store_priv.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "daemon/health.h"
#include "daemon/log.h"
#include "daemon/loop.h"

/* Forward migrations: entry i takes the schema from version i to i + 1.
 * Never edit a released entry; add a new one. */
static const char *const migrations[] = {
	/* 0 -> 1: runs, the fleet outbox, the local audit trail. Times are
	 * Unix milliseconds (UTC). seq is AUTOINCREMENT so that a seq is never
	 * reused once its event has been acknowledged and deleted (mqtt.md). */
	"CREATE TABLE runs ("
	"  boot TEXT PRIMARY KEY,"
	"  version TEXT NOT NULL,"
	"  reason TEXT NOT NULL,"
	"  started_at INTEGER NOT NULL,"
	"  alive_at INTEGER NOT NULL,"
	"  stopped_at INTEGER);"
	"CREATE TABLE outbox ("
	"  seq INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  type TEXT NOT NULL,"
	"  ts INTEGER NOT NULL,"
	"  boot TEXT NOT NULL,"
	"  payload TEXT NOT NULL);"
	"CREATE TABLE audit ("
	"  id INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  ts INTEGER NOT NULL,"
	"  who TEXT NOT NULL,"
	"  what TEXT NOT NULL,"
	"  detail TEXT NOT NULL);",
	/* 1 -> 2: slot telemetry, a ring bounded by rack.telemetry_rows.
	 * read_at is when the values were read, which for an offline slot is
	 * older than ts: stale values are never stored as fresh. */
	"CREATE TABLE telemetry ("
	"  id INTEGER PRIMARY KEY,"
	"  ts INTEGER NOT NULL,"
	"  slot INTEGER NOT NULL,"
	"  state TEXT NOT NULL,"
	"  battery TEXT,"
	"  soc REAL, soh REAL, v REAL, i REAL, t REAL,"
	"  door TEXT, lock TEXT,"
	"  fault INTEGER,"
	"  read_at INTEGER);",
	/* 2 -> 3: tokens (token.md). used holds the single-use mark of each
	 * accepted S and T nonce, revoked the fleet's revocation list; both
	 * are purged once the token could no longer verify anyway. scans is
	 * the record of every scan with its result (never the mac), a ring
	 * bounded by tokens.scan_history. */
	"CREATE TABLE token_used ("
	"  nonce TEXT PRIMARY KEY,"
	"  kind TEXT NOT NULL,"
	"  exp INTEGER NOT NULL,"
	"  used_at INTEGER NOT NULL);"
	"CREATE TABLE token_revoked ("
	"  nonce TEXT PRIMARY KEY,"
	"  exp INTEGER NOT NULL,"
	"  added_at INTEGER NOT NULL);"
	"CREATE TABLE scans ("
	"  id INTEGER PRIMARY KEY,"
	"  ts INTEGER NOT NULL,"
	"  source TEXT NOT NULL,"
	"  result TEXT NOT NULL,"
	"  kind TEXT, subject TEXT, nonce TEXT, exp INTEGER);",
	/* 3 -> 4: the battery ledger (store_batteries.c): every battery the
	 * station has seen and where it is now, with the time it got there
	 * and its last values with the time they were read. A row is never
	 * deleted. id is the BMS serial's 64 bits as SQLite's signed integer.
	 * slot_service: slots taken out of service (a door that does not
	 * work, an unknown battery locked in), until someone releases them. */
	"CREATE TABLE batteries ("
	"  id INTEGER PRIMARY KEY,"
	"  place TEXT NOT NULL,"
	"  slot INTEGER,"
	"  swap INTEGER,"
	"  holder TEXT,"
	"  since INTEGER NOT NULL,"
	"  soc REAL, soh REAL, cycles INTEGER, read_at INTEGER,"
	"  quarantined INTEGER NOT NULL DEFAULT 0,"
	"  reason TEXT,"
	"  first_seen INTEGER NOT NULL);"
	"CREATE TABLE slot_service ("
	"  slot INTEGER PRIMARY KEY,"
	"  reason TEXT NOT NULL,"
	"  by TEXT NOT NULL,"
	"  since INTEGER NOT NULL);",
	/* 4 -> 5: transport jobs (store_transport.c). A job is announced by
	 * the fleet (pickup: a count, or the listed battery ids as decimal
	 * text "42,43"), started by its T token, and ends completed or
	 * expired; rows are kept. transport_slots: the slots a started job
	 * opened, each with the battery it held then (0: it was empty), so a
	 * restart can tell what moved. transport_moves: what the job moved,
	 * net: a battery taken and put back again has no row. */
	"CREATE TABLE transport_jobs ("
	"  id INTEGER PRIMARY KEY,"
	"  job TEXT NOT NULL UNIQUE,"
	"  pickup INTEGER NOT NULL,"
	"  pickup_ids TEXT,"
	"  dropoff INTEGER NOT NULL,"
	"  exp INTEGER NOT NULL,"
	"  state TEXT NOT NULL,"
	"  announced_at INTEGER NOT NULL,"
	"  started_at INTEGER, ended_at INTEGER,"
	"  nonce TEXT, token_pickup INTEGER, token_dropoff INTEGER,"
	"  end_reason TEXT);"
	"CREATE TABLE transport_slots ("
	"  job INTEGER NOT NULL REFERENCES transport_jobs(id),"
	"  slot INTEGER NOT NULL,"
	"  role TEXT NOT NULL,"
	"  battery INTEGER NOT NULL,"
	"  PRIMARY KEY (job, slot));"
	"CREATE TABLE transport_moves ("
	"  job INTEGER NOT NULL REFERENCES transport_jobs(id),"
	"  battery INTEGER NOT NULL,"
	"  dir TEXT NOT NULL,"
	"  slot INTEGER NOT NULL,"
	"  at INTEGER NOT NULL,"
	"  PRIMARY KEY (job, battery));",
	/* 5 -> 6: a battery whose slot's presence sensor stopped seeing it
	 * while the door stayed shut is believed still inside: unseen_since
	 * is when the sensor lost it (NULL: seen, or no longer in a slot). */
	"ALTER TABLE batteries ADD COLUMN unseen_since INTEGER;",
	/* 6 -> 7: swaps (store_swaps.c), one row per swap, its stage written
	 * before each door moves; ended_at is NULL while it runs, which is
	 * what a start looks for. id is AUTOINCREMENT: never reused, as the
	 * fleet's events name it. Battery ids as in batteries. */
	"CREATE TABLE swaps ("
	"  id INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  nonce TEXT NOT NULL,"
	"  user TEXT NOT NULL,"
	"  ticket INTEGER,"
	"  slot_in INTEGER NOT NULL,"
	"  slot_out INTEGER NOT NULL,"
	"  stage TEXT NOT NULL,"
	"  started_at INTEGER NOT NULL,"
	"  stage_at INTEGER NOT NULL,"
	"  ended_at INTEGER,"
	"  reopens INTEGER NOT NULL DEFAULT 0,"
	"  battery_in INTEGER, soc_in REAL, soh_in REAL,"
	"  battery_out INTEGER NOT NULL, soc_out REAL,"
	"  result TEXT, reason TEXT, abort_stage TEXT, note TEXT);"
	"CREATE INDEX swaps_unfinished ON swaps (id) WHERE ended_at IS NULL;",
	/* 7 -> 8: the queue (store_queue.c): one row per reservation or
	 * walk-in. A row that left keeps its reason and time (the newest
	 * STORE_QUEUE_HISTORY of them), so waits can be set beside the ETAs
	 * given. ticket is AUTOINCREMENT: a ticket named in a swap is never
	 * given again. A nonce waits at most once at a time. */
	"CREATE TABLE queue ("
	"  ticket INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  user TEXT NOT NULL,"
	"  nonce TEXT NOT NULL,"
	"  source TEXT NOT NULL,"
	"  joined_at INTEGER NOT NULL,"
	"  eta_at INTEGER NOT NULL,"
	"  exp INTEGER NOT NULL,"
	"  eta_s INTEGER NOT NULL,"
	"  arrival TEXT NOT NULL,"
	"  distance_m INTEGER,"
	"  arrival_at INTEGER,"
	"  left_at INTEGER,"
	"  reason TEXT);"
	"CREATE UNIQUE INDEX queue_waiting_nonce ON queue (nonce) WHERE left_at IS NULL;",
	/* 8 -> 9: the fleet commands that ran, with their replies, for 24 h
	 * (mqtt.md "Commands": idempotent by id; store_cmd.c). */
	"CREATE TABLE cmd_replies ("
	"  id TEXT PRIMARY KEY,"
	"  request TEXT NOT NULL,"
	"  reply TEXT NOT NULL,"
	"  at INTEGER NOT NULL);"
	"CREATE INDEX cmd_replies_at ON cmd_replies (at);",
	/* 9 -> 10: the fleet's telemetry kept while the broker is unreachable
	 * (store_history.c, mqtt.md "Telemetry"): one row per sample, its
	 * payload the telemetry message as it would have gone out, bounded by
	 * sync.offline_telemetry_max (the oldest go first). id is the order. */
	"CREATE TABLE telemetry_history ("
	"  id INTEGER PRIMARY KEY AUTOINCREMENT,"
	"  ts INTEGER NOT NULL,"
	"  payload TEXT NOT NULL);",
	STORE_FAULTS_MIGRATIONS, /* 10 -> 11 -> 12: the fault registry, its diagnosis (store_faults.h) */
};

_Static_assert(sizeof migrations / sizeof migrations[0] == STORE_SCHEMA_VERSION,
	       "one migration per schema version");

static enum sw_err map_rc(int rc)
{
	switch (rc & 0xff) {
	case SQLITE_OK:
	case SQLITE_DONE:
	case SQLITE_ROW:
		return SW_OK;
	case SQLITE_FULL:
		return SW_ENOSPC;
	case SQLITE_CORRUPT:
	case SQLITE_NOTADB:
		return SW_ECORRUPT;
	case SQLITE_READONLY:
	case SQLITE_PERM:
	case SQLITE_AUTH:
	case SQLITE_CANTOPEN:
		return SW_EPERM;
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return SW_EBUSY;
	case SQLITE_NOMEM:
		return SW_ENOMEM;
	case SQLITE_CONSTRAINT:
		return SW_EEXIST;
	default:
		return SW_EIO;
	}
}

enum sw_err store_fail(struct store *st, int rc, const char *what)
{
	snprintf(st->errmsg, sizeof st->errmsg, "%s: %s", what,
		 st->db ? sqlite3_errmsg(st->db) : sqlite3_errstr(rc));
	return map_rc(rc);
}

int64_t store_now_ms(void)
{
	return loop_wall_ms(); /* the loop's wall clock, which tests drive */
}

int store_bind(sqlite3_stmt *stmt, const struct store_val *v, size_t n)
{
	int rc = SQLITE_OK;

	if (n != (size_t)sqlite3_bind_parameter_count(stmt))
		return SQLITE_RANGE;
	for (size_t k = 0; k < n && rc == SQLITE_OK; k++) {
		int at = (int)k + 1;
		switch (v[k].type) {
		case STORE_VAL_INT:
			rc = sqlite3_bind_int64(stmt, at, v[k].i);
			break;
		case STORE_VAL_REAL:
			rc = sqlite3_bind_double(stmt, at, v[k].d);
			break;
		case STORE_VAL_TEXT:
			rc = sqlite3_bind_text(stmt, at, v[k].t, -1, SQLITE_TRANSIENT);
			break;
		default:
			rc = sqlite3_bind_null(stmt, at);
			break;
		}
	}
	return rc;
}

int store_stmt(struct store *st, const char *sql, sqlite3_stmt **out)
{
	for (int k = 0; k < st->nstmts; k++) {
		if (strcmp(sqlite3_sql(st->stmts[k]), sql) == 0) {
			*out = st->stmts[k];
			return SQLITE_OK;
		}
	}
	*out = NULL;
	if (st->nstmts == STORE_STMT_MAX) {
		log_msg(LOG_ERR, "store: more than %d statements; raise STORE_STMT_MAX", STORE_STMT_MAX);
		return SQLITE_MISUSE;
	}
	int rc = sqlite3_prepare_v3(st->db, sql, -1, SQLITE_PREPARE_PERSISTENT, out, NULL);
	if (rc == SQLITE_OK)
		st->stmts[st->nstmts++] = *out;
	return rc;
}

void store_done(sqlite3_stmt *stmt)
{
	sqlite3_reset(stmt);
	sqlite3_clear_bindings(stmt);
}

int store_exec(struct store *st, const char *sql, const struct store_val *v, size_t n)
{
	sqlite3_stmt *stmt;
	int rc = store_stmt(st, sql, &stmt);

	if (rc == SQLITE_OK)
		rc = store_bind(stmt, v, n);
	if (rc == SQLITE_OK)
		while ((rc = sqlite3_step(stmt)) == SQLITE_ROW)
			;
	if (stmt)
		store_done(stmt);
	return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

int store_query_int(struct store *st, const char *sql, const struct store_val *v, size_t n,
		    int64_t def, int64_t *out)
{
	sqlite3_stmt *stmt;
	int rc = store_stmt(st, sql, &stmt);

	*out = def;
	if (rc == SQLITE_OK)
		rc = store_bind(stmt, v, n);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW && sqlite3_column_type(stmt, 0) != SQLITE_NULL)
		*out = sqlite3_column_int64(stmt, 0);
	if (stmt)
		store_done(stmt);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/* Whether the file SQLite writes is still the database at st->path: not
 * unlinked (what is written to it vanishes with this process) and not
 * replaced by another file (which a restart would open instead, and which
 * meanwhile shares our WAL). The file is held open through st->fd, so its
 * inode number cannot be reused while it is compared. A check that cannot
 * be made counts as a failed one. */
static bool file_is_ours(const struct store *st)
{
	struct stat open_sb, path_sb;

	if (fstat(st->fd, &open_sb) < 0 || open_sb.st_nlink == 0)
		return false;
	if (stat(st->path, &path_sb) < 0)
		return false;
	return path_sb.st_dev == open_sb.st_dev && path_sb.st_ino == open_sb.st_ino;
}

/* Fails the store for the rest of this run. Nothing short of a restart
 * heals it: the unlinked file cannot come back, and a file now at the path
 * lacks what this run wrote (audit rows, single-use marks), so neither may
 * take decisions. A restart opens whatever is at the path as at any start. */
static enum sw_err lose(struct store *st)
{
	if (!st->lost) {
		st->lost = true;
		snprintf(st->errmsg, sizeof st->errmsg,
			 "database file was removed or replaced; restart swapd");
		log_msg(LOG_CRIT, "store: %s was removed or replaced while swapd ran; every change is refused until swapd restarts",
			st->path);
		/* Our WAL stays at path-wal, where a file now at the path
		 * looks for its own: move it into our own file and empty it,
		 * so that the newcomer is not read (or recovered after a
		 * crash) through our pages. */
		sqlite3_wal_checkpoint_v2(st->db, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL);
		health_set("store", HEALTH_FAILED,
			   "database file was removed or replaced; changes refused until swapd restarts (%s)",
			   st->path);
	}
	return SW_EIO;
}

int store_begin(struct store *st)
{
	if (st->depth++ > 0)
		return st->tx_rc;
	if (st->lost || !file_is_ours(st)) {
		lose(st);
		st->tx_rc = SQLITE_IOERR;
	} else {
		/* IMMEDIATE takes the write lock now, so a busy database
		 * fails here (bounded by busy_timeout) rather than halfway
		 * through. */
		st->tx_rc = sqlite3_exec(st->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
	}
	return st->tx_rc;
}

static void rollback(struct store *st)
{
	if (!sqlite3_get_autocommit(st->db))
		sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
}

/* A failure at run time (full disk, I/O error) turns the store's health to
 * failed and is logged once; the next write that succeeds heals both. A
 * database file found removed or replaced, at store_begin() or after the
 * COMMIT, fails the store until a restart. The caller gets the error and
 * must not act as if the change were recorded. */
enum sw_err store_finish(struct store *st, int rc, const struct store_event *ev, const char *what)
{
	if (rc == SQLITE_OK && ev)
		rc = store_outbox_put(st, ev);
	if (st->tx_rc == SQLITE_OK)
		st->tx_rc = rc;
	if (--st->depth > 0) /* the outermost call commits or rolls back */
		return st->lost ? SW_EIO : map_rc(rc);
	rc = st->tx_rc;
	int added = st->tx_events;
	st->tx_events = 0;
	if (st->lost) {
		rollback(st);
		return SW_EIO;
	}
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(st->db, "COMMIT", NULL, NULL, NULL);
	/* Committed, but to the file a restart will open? A file unlinked
	 * between store_begin() and here took the record with it. */
	if (rc == SQLITE_OK && !file_is_ours(st))
		return lose(st);
	if (rc == SQLITE_OK) {
		if (log_cond(&st->cond, 0, LOG_NOTICE, "store: writing again"))
			health_set("store", HEALTH_OK, "%s", st->path);
		if (added && st->outbox_fn)
			st->outbox_fn(added, st->outbox_arg);
		return SW_OK;
	}
	enum sw_err e = store_fail(st, rc, what);
	rollback(st);
	log_cond(&st->cond, (int)e, LOG_ERR, "store: %s failed: %s (%s)", what, sw_strerror(e),
		 st->errmsg);
	health_set("store", HEALTH_FAILED, "%s: %s", what, sw_strerror(e));
	return e;
}

static enum sw_err migrate(struct store *st, char *why, size_t whylen)
{
	int64_t version;
	int rc = store_query_int(st, "PRAGMA user_version", NULL, 0, 0, &version);

	if (rc != SQLITE_OK) {
		enum sw_err e = store_fail(st, rc, "reading the schema version");
		snprintf(why, whylen, "%s: %s", st->path, st->errmsg);
		return e;
	}
	if (version > STORE_SCHEMA_VERSION) {
		snprintf(why, whylen, "%s: schema version %lld is newer than this swapd's %d; refusing to downgrade it",
			 st->path, (long long)version, STORE_SCHEMA_VERSION);
		return SW_EINVAL;
	}
	for (int64_t v = version; v < STORE_SCHEMA_VERSION; v++) {
		char pragma[48];
		rc = store_begin(st);
		if (rc == SQLITE_OK)
			rc = sqlite3_exec(st->db, migrations[v], NULL, NULL, NULL);
		snprintf(pragma, sizeof pragma, "PRAGMA user_version = %lld", (long long)v + 1);
		if (rc == SQLITE_OK)
			rc = sqlite3_exec(st->db, pragma, NULL, NULL, NULL);
		enum sw_err e = store_finish(st, rc, NULL, "migrating the schema");
		if (e != SW_OK) {
			snprintf(why, whylen, "%s: migration to schema %lld failed: %s", st->path,
				 (long long)v + 1, st->errmsg);
			return e;
		}
	}
	return SW_OK;
}

/* Opens st->fd on the file SQLite just opened, for file_is_ours(). It is
 * closed only after SQLite's own descriptors: closing a second descriptor
 * on the file would drop SQLite's POSIX locks. */
static enum sw_err hold_file(struct store *st, char *why, size_t whylen)
{
	int moved = 1;

	st->fd = open(st->path, O_RDONLY | O_CLOEXEC);
	if (st->fd < 0) {
		snprintf(why, whylen, "%s: cannot open the database: %s", st->path, strerror(errno));
		return SW_EIO;
	}
	/* SQLite's file, the path and st->fd: all one file, or no start. */
	if (sqlite3_file_control(st->db, "main", SQLITE_FCNTL_HAS_MOVED, &moved) != SQLITE_OK ||
	    moved || !file_is_ours(st)) {
		snprintf(why, whylen, "%s: the database file was replaced while it was being opened",
			 st->path);
		return SW_EIO;
	}
	return SW_OK;
}

enum sw_err store_open(const char *path, int busy_timeout_ms, struct store **out,
		       char *why, size_t whylen)
{
	struct store *st = calloc(1, sizeof *st);
	int rc;
	enum sw_err e;

	*out = NULL;
	if (!st) {
		snprintf(why, whylen, "%s: out of memory", path);
		return SW_ENOMEM;
	}
	snprintf(st->path, sizeof st->path, "%s", path);
	st->fd = -1;
	rc = sqlite3_open_v2(path, &st->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
			     SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		e = store_fail(st, rc, "open");
		snprintf(why, whylen, "%s: cannot open the database: %s (does its directory exist and may swapd write to it?)",
			 path, st->db ? sqlite3_errmsg(st->db) : sqlite3_errstr(rc));
		goto out_fail;
	}
	e = hold_file(st, why, whylen);
	if (e != SW_OK)
		goto out_fail;
	sqlite3_extended_result_codes(st->db, 1);
	sqlite3_busy_timeout(st->db, busy_timeout_ms);
	/* quick_check reads every page: a corrupt file or a non-database is
	 * found here, at start, not in the middle of a swap. */
	sqlite3_stmt *stmt;
	rc = sqlite3_prepare_v2(st->db, "PRAGMA quick_check", -1, &stmt, NULL);
	if (rc == SQLITE_OK) {
		rc = sqlite3_step(stmt);
		if (rc == SQLITE_ROW) {
			const char *res = (const char *)sqlite3_column_text(stmt, 0);
			if (!res || strcmp(res, "ok") != 0) {
				snprintf(why, whylen, "%s: the database failed its integrity check: %s",
					 path, res ? res : "?");
				sqlite3_finalize(stmt);
				e = SW_ECORRUPT;
				goto out_fail;
			}
			rc = SQLITE_OK;
		}
		sqlite3_finalize(stmt);
	}
	if (rc != SQLITE_OK) {
		e = store_fail(st, rc, "integrity check");
		snprintf(why, whylen, "%s: cannot read the database: %s", path, st->errmsg);
		goto out_fail;
	}
	/* WAL: readers (swapctl, an engineer's sqlite3) never block the
	 * writer. synchronous=FULL: a commit has reached the disk when it
	 * returns, which the door-opening decisions rely on. */
	rc = sqlite3_exec(st->db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;",
			  NULL, NULL, NULL);
	if (rc != SQLITE_OK) {
		e = store_fail(st, rc, "setting WAL mode");
		snprintf(why, whylen, "%s: %s", path, st->errmsg);
		goto out_fail;
	}
	e = migrate(st, why, whylen);
	if (e != SW_OK)
		goto out_fail;
	health_set("store", HEALTH_OK, "%s", path);
	*out = st;
	return SW_OK;

out_fail:
	store_close(st);
	return e;
}

void store_close(struct store *st)
{
	if (!st)
		return;
	/* sqlite3_close() keeps a connection with statements open. */
	for (int k = 0; k < st->nstmts; k++)
		sqlite3_finalize(st->stmts[k]);
	sqlite3_close(st->db);
	if (st->fd >= 0)
		close(st->fd);
	free(st);
}

void store_tx_begin(struct store *st)
{
	store_begin(st); /* its error, if any, is the transaction's */
}

enum sw_err store_tx_commit(struct store *st, const char *what)
{
	return store_finish(st, SQLITE_OK, NULL, what);
}

enum sw_err store_check(struct store *st)
{
	if (st->lost || !file_is_ours(st))
		return lose(st);
	return SW_OK;
}

const char *store_errmsg(const struct store *st)
{
	return st->errmsg;
}

enum sw_err store_stats(struct store *st, struct store_stats *out)
{
	int64_t v = 0;
	struct stat sb;
	int rc = store_outbox_stats(st, out);

	if (rc == SQLITE_OK)
		rc = store_query_int(st, "PRAGMA user_version", NULL, 0, 0, &v);
	out->schema = (int)v;
	out->db_bytes = stat(st->path, &sb) == 0 ? (int64_t)sb.st_size : -1;
	return rc == SQLITE_OK ? SW_OK : store_fail(st, rc, "reading statistics");
}
