/* What the store's concern files (store_runs.c, store_tokens.c,
 * store_telemetry.c, store_outbox.c) share with store.c, which owns the
 * connection, its transactions and its failure. Nothing outside store*.c
 * includes this but the store's unit test. */
#ifndef SWAPD_STORE_PRIV_H
#define SWAPD_STORE_PRIV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>

#include "daemon/log.h"
#include "daemon/store.h"
#include "daemon/store_faults.h" /* its migration, for store.c */

/* Enough for every statement the concerns prepare; a new concern that
 * needs more raises it (store_stmt() fails loudly when it is full). */
#define STORE_STMT_MAX 128

struct store {
	sqlite3 *db;
	char path[4096];
	char errmsg[256];
	struct log_cond cond; /* write failures, logged on change */
	int fd;               /* the database file, held open to check it is still at path */
	bool lost;            /* it was removed or replaced: failed until a restart */
	int depth;            /* store_begin() calls not yet finished: 0 outside a transaction */
	int tx_rc;            /* the transaction's first error; the rest of it is skipped */
	int tx_events;        /* fleet events the open transaction added */
	void (*outbox_fn)(int added, void *arg); /* store_set_outbox_hook() */
	void *outbox_arg;
	sqlite3_stmt *stmts[STORE_STMT_MAX]; /* prepared once, reused */
	int nstmts;
};

/* One value for a statement's parameter, built with the macros below so
 * its C type and its SQL type always agree. */
struct store_val {
	enum { STORE_VAL_NULL, STORE_VAL_INT, STORE_VAL_REAL, STORE_VAL_TEXT } type;
	union {
		int64_t i;
		double d;
		const char *t;
	};
};

#define STORE_I(x) ((struct store_val){ .type = STORE_VAL_INT, .i = (int64_t)(x) })
#define STORE_D(x) ((struct store_val){ .type = STORE_VAL_REAL, .d = (x) })
#define STORE_T(x) ((struct store_val){ .type = STORE_VAL_TEXT, .t = (x) }) /* NULL binds NULL */
#define STORE_NULL ((struct store_val){ .type = STORE_VAL_NULL })

/* The values given as arguments, as the (array, count) pair the helpers
 * take: store_exec(st, sql, STORE_VALS(STORE_I(t), STORE_T(who))). */
#define STORE_VALS(...) (const struct store_val[]){ __VA_ARGS__ }, \
	sizeof((const struct store_val[]){ __VA_ARGS__ }) / sizeof(struct store_val)

/* Binds v[0..n) to the statement's parameters 1..n (text is copied). A
 * count that is not the statement's parameter count binds nothing and
 * returns SQLITE_RANGE, so a forgotten value is an error, not a NULL. */
int store_bind(sqlite3_stmt *stmt, const struct store_val *v, size_t n);

/* The prepared statement for sql, prepared at its first use and kept until
 * store_close(). The caller steps it and hands it back with store_done(). */
int store_stmt(struct store *st, const char *sql, sqlite3_stmt **out);

/* Resets a statement from store_stmt() and drops its bindings, so it holds
 * no lock and no pointer into the caller's memory. */
void store_done(sqlite3_stmt *stmt);

/* Runs one statement with its values bound; rows, if any, are discarded. */
int store_exec(struct store *st, const char *sql, const struct store_val *v, size_t n);

/* The first column of the first row of sql as an integer (def when there
 * is no row or it is NULL). */
int store_query_int(struct store *st, const char *sql, const struct store_val *v, size_t n,
		    int64_t def, int64_t *out);

/* Begins one state change. Outside a transaction it checks that the file
 * is still ours and takes the write lock (BEGIN IMMEDIATE); inside one
 * (store_tx_begin(), or a store call calling another) it joins it. Returns
 * the transaction's error so far: the change is skipped unless SQLITE_OK.
 * Every store_begin() is matched by one store_finish(). */
int store_begin(struct store *st);

/* Ends the change store_begin() began: on success writes its fleet event
 * ev (NULL: none) in the same transaction; then, for the outermost call,
 * commits, checks that the file is still ours, and on any error rolls the
 * whole transaction back, logs it once and fails the store's health. An
 * inner call only passes its error on to the outermost one. */
enum sw_err store_finish(struct store *st, int rc, const struct store_event *ev, const char *what);

/* Records a failed read in errmsg and maps it to an sw_err. */
enum sw_err store_fail(struct store *st, int rc, const char *what);

/* Now, in Unix milliseconds (UTC): the store's timestamps. */
int64_t store_now_ms(void);

/* Appends ev to the outbox inside the open transaction (store_outbox.c). */
int store_outbox_put(struct store *st, const struct store_event *ev);

/* The outbox's figures for store_stats() (store_outbox.c). */
int store_outbox_stats(struct store *st, struct store_stats *out);

#endif
