#include "daemon/store.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>
#include <sqlite3.h>

#include "daemon/health.h"
#include "daemon/log.h"

struct store {
	sqlite3 *db;
	char path[4096];
	char errmsg[256];
	struct log_cond cond; /* write failures, logged on change */
	int fd;               /* the database file, held open to check it is still at path */
	bool lost;            /* it was removed or replaced: failed until a restart */
};

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

static enum sw_err fail(struct store *st, int rc, const char *what)
{
	snprintf(st->errmsg, sizeof st->errmsg, "%s: %s", what,
		 st->db ? sqlite3_errmsg(st->db) : sqlite3_errstr(rc));
	return map_rc(rc);
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Runs one statement with arguments bound by `types`: 'i' int64_t,
 * 't' const char *, 'n' NULL. Rows, if any, are discarded. */
static int run(struct store *st, const char *sql, const char *types, ...)
{
	sqlite3_stmt *stmt;
	va_list ap;
	int rc = sqlite3_prepare_v2(st->db, sql, -1, &stmt, NULL);

	if (rc != SQLITE_OK)
		return rc;
	va_start(ap, types);
	for (int i = 0; types[i]; i++) {
		if (types[i] == 'i')
			sqlite3_bind_int64(stmt, i + 1, va_arg(ap, int64_t));
		else if (types[i] == 't')
			sqlite3_bind_text(stmt, i + 1, va_arg(ap, const char *), -1, SQLITE_TRANSIENT);
		else
			sqlite3_bind_null(stmt, i + 1);
	}
	va_end(ap);
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW)
		;
	sqlite3_finalize(stmt);
	return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/* The first column of the first row of sql, as an integer (def if none). */
static int query_int(struct store *st, const char *sql, const char *text_arg, int64_t def,
		     int64_t *out)
{
	sqlite3_stmt *stmt;
	int rc = sqlite3_prepare_v2(st->db, sql, -1, &stmt, NULL);

	if (rc != SQLITE_OK)
		return rc;
	if (text_arg)
		sqlite3_bind_text(stmt, 1, text_arg, -1, SQLITE_TRANSIENT);
	rc = sqlite3_step(stmt);
	*out = def;
	if (rc == SQLITE_ROW && sqlite3_column_type(stmt, 0) != SQLITE_NULL)
		*out = sqlite3_column_int64(stmt, 0);
	sqlite3_finalize(stmt);
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

static int begin(struct store *st)
{
	if (st->lost || !file_is_ours(st)) {
		lose(st);
		return SQLITE_IOERR;
	}
	/* IMMEDIATE takes the write lock now, so a busy database fails here
	 * (bounded by busy_timeout) rather than halfway through. */
	return sqlite3_exec(st->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
}

/* Ends a write transaction. A failure at run time (full disk, I/O error)
 * turns the store's health to failed and is logged once; the next write
 * that succeeds heals both. A database file found removed or replaced, at
 * begin() or after the COMMIT, fails the store until a restart. The caller
 * gets the error and must not act as if the change were recorded. */
static enum sw_err finish(struct store *st, int rc, const char *what)
{
	if (st->lost) {
		if (!sqlite3_get_autocommit(st->db))
			sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
		return SW_EIO;
	}
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(st->db, "COMMIT", NULL, NULL, NULL);
	/* Committed, but to the file a restart will open? A file unlinked
	 * between begin() and here took the record with it. */
	if (rc == SQLITE_OK && !file_is_ours(st))
		return lose(st);
	if (rc == SQLITE_OK) {
		if (log_cond(&st->cond, 0, LOG_NOTICE, "store: writing again"))
			health_set("store", HEALTH_OK, "%s", st->path);
		return SW_OK;
	}
	enum sw_err e = fail(st, rc, what);
	if (!sqlite3_get_autocommit(st->db))
		sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
	log_cond(&st->cond, (int)e, LOG_ERR, "store: %s failed: %s (%s)", what, sw_strerror(e),
		 st->errmsg);
	health_set("store", HEALTH_FAILED, "%s: %s", what, sw_strerror(e));
	return e;
}

/* Appends one fleet event inside the caller's transaction; takes fields. */
static int append_event(struct store *st, const char *type, const char *boot,
			json_object *fields)
{
	const char *payload = json_object_to_json_string_ext(fields, JSON_C_TO_STRING_PLAIN);
	int rc = run(st, "INSERT INTO outbox (type, ts, boot, payload) VALUES (?, ?, ?, ?)",
		     "titt", type, now_ms(), boot, payload);

	json_object_put(fields);
	return rc;
}

static enum sw_err migrate(struct store *st, char *why, size_t whylen)
{
	int64_t version;
	int rc = query_int(st, "PRAGMA user_version", NULL, 0, &version);

	if (rc != SQLITE_OK) {
		enum sw_err e = fail(st, rc, "reading the schema version");
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
		rc = begin(st);
		if (rc == SQLITE_OK)
			rc = sqlite3_exec(st->db, migrations[v], NULL, NULL, NULL);
		snprintf(pragma, sizeof pragma, "PRAGMA user_version = %lld", (long long)v + 1);
		if (rc == SQLITE_OK)
			rc = sqlite3_exec(st->db, pragma, NULL, NULL, NULL);
		enum sw_err e = finish(st, rc, "migrating the schema");
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
	int64_t ok;
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
		e = fail(st, rc, "open");
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
		e = fail(st, rc, "integrity check");
		snprintf(why, whylen, "%s: cannot read the database: %s", path, st->errmsg);
		goto out_fail;
	}
	/* WAL: readers (swapctl, an engineer's sqlite3) never block the
	 * writer. synchronous=FULL: a commit has reached the disk when it
	 * returns, which the door-opening decisions rely on. */
	rc = query_int(st, "PRAGMA journal_mode=WAL", NULL, 0, &ok);
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(st->db, "PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;",
				  NULL, NULL, NULL);
	if (rc != SQLITE_OK) {
		e = fail(st, rc, "setting WAL mode");
		snprintf(why, whylen, "%s: %s", path, st->errmsg);
		goto out_fail;
	}
	e = migrate(st, why, whylen);
	if (e != SW_OK)
		goto out_fail;
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
	sqlite3_close(st->db);
	if (st->fd >= 0)
		close(st->fd);
	free(st);
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

enum sw_err store_run_begin(struct store *st, const char *boot, const char *version,
			    char *reason, size_t reasonlen)
{
	int64_t unclean = 0;
	int rc = begin(st);

	if (rc == SQLITE_OK)
		rc = query_int(st, "SELECT stopped_at IS NULL FROM runs ORDER BY started_at DESC, rowid DESC LIMIT 1",
			       NULL, 0, &unclean);
	snprintf(reason, reasonlen, "%s", unclean ? "unclean_shutdown" : "start");
	if (rc == SQLITE_OK) {
		int64_t t = now_ms();
		rc = run(st, "INSERT INTO runs (boot, version, reason, started_at, alive_at) VALUES (?, ?, ?, ?, ?)",
			 "tttii", boot, version, reason, t, t);
	}
	if (rc == SQLITE_OK) {
		json_object *f = json_object_new_object();
		json_object_object_add(f, "version", json_object_new_string(version));
		json_object_object_add(f, "reason", json_object_new_string(reason));
		rc = append_event(st, "station.started", boot, f);
	}
	return finish(st, rc, "recording the start");
}

enum sw_err store_run_alive(struct store *st, const char *boot)
{
	int rc = begin(st);

	if (rc == SQLITE_OK)
		rc = run(st, "UPDATE runs SET alive_at = ? WHERE boot = ?", "it", now_ms(), boot);
	return finish(st, rc, "recording liveness");
}

enum sw_err store_run_end(struct store *st, const char *boot)
{
	int rc = begin(st);

	if (rc == SQLITE_OK) {
		int64_t t = now_ms();
		rc = run(st, "UPDATE runs SET alive_at = ?, stopped_at = ? WHERE boot = ?", "iit",
			 t, t, boot);
	}
	if (rc == SQLITE_OK)
		rc = append_event(st, "station.stopping", boot, json_object_new_object());
	return finish(st, rc, "recording the stop");
}

enum sw_err store_audit(struct store *st, const char *who, const char *what, const char *detail)
{
	int rc = begin(st);

	if (rc == SQLITE_OK)
		rc = run(st, "INSERT INTO audit (ts, who, what, detail) VALUES (?, ?, ?, ?)", "ittt",
			 now_ms(), who, what, detail);
	return finish(st, rc, "writing the audit trail");
}

enum sw_err store_telemetry_add(struct store *st, const struct store_sample *s, size_t n,
				int64_t keep_rows)
{
	int64_t t = now_ms();
	int rc = begin(st);

	for (size_t k = 0; k < n && rc == SQLITE_OK; k++) {
		const struct store_sample *x = &s[k];
		sqlite3_stmt *stmt;
		rc = sqlite3_prepare_v2(st->db,
					"INSERT INTO telemetry (ts, slot, state, battery, soc, soh, v, i, t, door, lock, fault, read_at)"
					" VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", -1, &stmt, NULL);
		if (rc != SQLITE_OK)
			break;
		sqlite3_bind_int64(stmt, 1, t);
		sqlite3_bind_int(stmt, 2, x->slot);
		sqlite3_bind_text(stmt, 3, x->state, -1, SQLITE_TRANSIENT);
		if (x->battery[0]) {
			sqlite3_bind_text(stmt, 4, x->battery, -1, SQLITE_TRANSIENT);
			sqlite3_bind_double(stmt, 5, x->soc);
			sqlite3_bind_double(stmt, 6, x->soh);
			sqlite3_bind_double(stmt, 7, x->v);
			sqlite3_bind_double(stmt, 8, x->i);
			sqlite3_bind_double(stmt, 9, x->t);
		}
		sqlite3_bind_text(stmt, 10, x->door_open ? "open" : "closed", -1, SQLITE_STATIC);
		sqlite3_bind_text(stmt, 11, x->locked ? "locked" : "unlocked", -1, SQLITE_STATIC);
		sqlite3_bind_int64(stmt, 12, (int64_t)x->fault_bits);
		if (x->read_at)
			sqlite3_bind_int64(stmt, 13, x->read_at);
		rc = sqlite3_step(stmt);
		sqlite3_finalize(stmt);
		rc = rc == SQLITE_DONE ? SQLITE_OK : rc;
	}
	if (rc == SQLITE_OK)
		rc = run(st, "DELETE FROM telemetry WHERE id <= (SELECT max(id) FROM telemetry) - ?", "i",
			 keep_rows);
	return finish(st, rc, "writing telemetry");
}

/* A read-only check, for the token checks: *found is the answer. */
static enum sw_err exists(struct store *st, const char *sql, const char *nonce, bool *found)
{
	int64_t n = 0;
	int rc = query_int(st, sql, nonce, 0, &n);

	*found = n != 0;
	return rc == SQLITE_OK ? SW_OK : fail(st, rc, "reading the token tables");
}

enum sw_err store_token_used(struct store *st, const char *nonce, bool *used)
{
	return exists(st, "SELECT count(*) FROM token_used WHERE nonce = ?", nonce, used);
}

enum sw_err store_token_revoked(struct store *st, const char *nonce, bool *revoked)
{
	return exists(st, "SELECT count(*) FROM token_revoked WHERE nonce = ?", nonce, revoked);
}

enum sw_err store_scan(struct store *st, const struct store_scan *s, int64_t keep_rows)
{
	int64_t t = now_ms();
	int rc = begin(st);

	if (rc == SQLITE_OK && s->mark_used)
		/* The single-use mark: a plain INSERT, so a nonce marked by
		 * someone else in the meantime fails the whole transaction. */
		rc = run(st, "INSERT INTO token_used (nonce, kind, exp, used_at) VALUES (?, ?, ?, ?)",
			 "ttii", s->nonce, s->kind, s->exp, t);
	if (rc == SQLITE_OK) {
		sqlite3_stmt *stmt;
		rc = sqlite3_prepare_v2(st->db,
					"INSERT INTO scans (ts, source, result, kind, subject, nonce, exp)"
					" VALUES (?, ?, ?, ?, ?, ?, ?)", -1, &stmt, NULL);
		if (rc == SQLITE_OK) {
			sqlite3_bind_int64(stmt, 1, t);
			sqlite3_bind_text(stmt, 2, s->source, -1, SQLITE_TRANSIENT);
			sqlite3_bind_text(stmt, 3, s->result, -1, SQLITE_TRANSIENT);
			if (s->kind[0]) {
				sqlite3_bind_text(stmt, 4, s->kind, -1, SQLITE_TRANSIENT);
				sqlite3_bind_text(stmt, 5, s->subject, -1, SQLITE_TRANSIENT);
				sqlite3_bind_text(stmt, 6, s->nonce, -1, SQLITE_TRANSIENT);
				sqlite3_bind_int64(stmt, 7, s->exp);
			}
			rc = sqlite3_step(stmt);
			sqlite3_finalize(stmt);
			rc = rc == SQLITE_DONE ? SQLITE_OK : rc;
		}
	}
	if (rc == SQLITE_OK)
		rc = run(st, "DELETE FROM scans WHERE id <= (SELECT max(id) FROM scans) - ?", "i",
			 keep_rows);
	if (rc == SQLITE_OK && strcmp(s->result, "ok") != 0 && !s->not_a_token) {
		/* token.md: every rejection is an audit event with its reason;
		 * mqtt.md: token.rejected, never the mac or the whole token. */
		json_object *f = json_object_new_object();
		json_object_object_add(f, "kind", s->kind[0] ? json_object_new_string(s->kind) : NULL);
		json_object_object_add(f, "subject",
				       s->kind[0] ? json_object_new_string(s->subject) : NULL);
		json_object_object_add(f, "nonce", s->kind[0] ? json_object_new_string(s->nonce) : NULL);
		json_object_object_add(f, "reason", json_object_new_string(s->result));
		rc = append_event(st, "token.rejected", s->boot, f);
	}
	return finish(st, rc, "recording a scan");
}

enum sw_err store_token_revoke(struct store *st, const char *nonce, int64_t exp)
{
	int rc = begin(st);

	if (rc == SQLITE_OK)
		rc = run(st, "INSERT OR REPLACE INTO token_revoked (nonce, exp, added_at) VALUES (?, ?, ?)",
			 "tii", nonce, exp, now_ms());
	return finish(st, rc, "recording a revocation");
}

enum sw_err store_token_purge(struct store *st, int64_t now_s, int64_t skew_s)
{
	int rc = begin(st);

	/* A mark or revocation can go once its token would be expired
	 * anyway (step 5 rejects it before steps 7 and 8 are reached). */
	if (rc == SQLITE_OK)
		rc = run(st, "DELETE FROM token_used WHERE exp + ? < ?", "ii", skew_s, now_s);
	if (rc == SQLITE_OK)
		rc = run(st, "DELETE FROM token_revoked WHERE exp + ? < ?", "ii", skew_s, now_s);
	return finish(st, rc, "purging token marks");
}

json_object *store_scans_recent(struct store *st, int limit)
{
	json_object *arr = json_object_new_array();
	sqlite3_stmt *stmt;

	if (sqlite3_prepare_v2(st->db,
			       "SELECT ts, source, result, kind, subject, nonce, exp FROM scans"
			       " ORDER BY id DESC LIMIT ?", -1, &stmt, NULL) != SQLITE_OK)
		return arr;
	sqlite3_bind_int(stmt, 1, limit);
	while (sqlite3_step(stmt) == SQLITE_ROW) {
		json_object *o = json_object_new_object();
		json_object_object_add(o, "ts_ms", json_object_new_int64(sqlite3_column_int64(stmt, 0)));
		json_object_object_add(o, "source", json_object_new_string((const char *)sqlite3_column_text(stmt, 1)));
		json_object_object_add(o, "result", json_object_new_string((const char *)sqlite3_column_text(stmt, 2)));
		static const char *const names[] = { "kind", "subject", "nonce" };
		for (int c = 0; c < 3; c++) {
			const unsigned char *v = sqlite3_column_text(stmt, 3 + c);
			json_object_object_add(o, names[c], v ? json_object_new_string((const char *)v) : NULL);
		}
		if (sqlite3_column_type(stmt, 6) != SQLITE_NULL)
			json_object_object_add(o, "exp", json_object_new_int64(sqlite3_column_int64(stmt, 6)));
		json_object_array_add(arr, o);
	}
	sqlite3_finalize(stmt);
	return arr;
}

enum sw_err store_stats(struct store *st, struct store_stats *out)
{
	int64_t v = 0;
	struct stat sb;
	int rc = query_int(st, "SELECT count(*) FROM outbox", NULL, 0, &out->events);

	if (rc == SQLITE_OK)
		rc = query_int(st, "SELECT seq FROM sqlite_sequence WHERE name = 'outbox'", NULL, 0,
			       &out->seq_next);
	out->seq_next += 1;
	if (rc == SQLITE_OK)
		rc = query_int(st, "PRAGMA user_version", NULL, 0, &v);
	out->schema = (int)v;
	out->db_bytes = stat(st->path, &sb) == 0 ? (int64_t)sb.st_size : -1;
	return rc == SQLITE_OK ? SW_OK : fail(st, rc, "reading statistics");
}
