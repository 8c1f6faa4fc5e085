/* The fleet's telemetry kept while the broker is unreachable
 * (store_history.c; mqtt.md "Telemetry"): a bounded table of samples,
 * published oldest first after the reconnect and deleted on their PUBACK.
 * Each change is one transaction, as everywhere in the store (store.h). */
#ifndef SWAPD_STORE_HISTORY_H
#define SWAPD_STORE_HISTORY_H

#include <stdint.h>

#include "daemon/err.h"
#include "daemon/store.h"

/* One kept sample: its row id (the order), when it was taken (wall ms),
 * and the telemetry message as text. Valid during the callback only. */
struct store_history_row {
	int64_t id;
	int64_t ts;
	const char *payload;
};

/* Keeps one sample taken at wall ms ts, and trims the table to its newest
 * keep rows (telemetry may be dropped when old; events never are). */
enum sw_err store_history_add(struct store *st, int64_t ts, const char *payload, int64_t keep,
			      const struct store_event *ev);

/* Calls fn for up to limit samples with an id above after, oldest first,
 * until fn returns non-zero. */
enum sw_err store_history_read(struct store *st, int64_t after, int limit,
			       int (*fn)(const struct store_history_row *r, void *arg), void *arg);

/* Deletes the n samples with these ids, in one transaction; an id no
 * longer there is no error. */
enum sw_err store_history_delete(struct store *st, const int64_t *ids, size_t n);

/* How many samples are kept, in *n. */
enum sw_err store_history_count(struct store *st, int64_t *n);

#endif
