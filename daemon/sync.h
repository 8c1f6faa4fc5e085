/* Fleet sync over MQTT (shared/spec/mqtt.md, issue 11): libmosquitto driven
 * from swapd's own loop, the retained status with its Last Will, the birth
 * after every connect, and the store's outbox published in seq order at
 * QoS 1 through a bounded in-flight window, each event deleted only once
 * the broker acknowledged it. DESIGN.md, "Fleet sync". */
#ifndef SWAPD_SYNC_H
#define SWAPD_SYNC_H

#include <stdbool.h>
#include <stddef.h>

#include "daemon/config.h"
#include "daemon/err.h"
#include "daemon/store.h"

/* Registers `sync` (viewer) and, when the config has a sync section,
 * connects to the broker (without waiting: a broker that says nothing is
 * timed out on the loop's timers) and keeps reconnecting with jittered
 * backoff. Without the section the health entry `sync` says disabled.
 * Fails only when the command cannot be registered or libmosquitto cannot
 * start. */
enum sw_err sync_start(const struct config *cfg, struct store *st, const char *boot, char *why,
		       size_t whylen);

/* Publishes the offline status and disconnects, waiting at most
 * sync.stop_timeout_ms for the broker's PUBACK; then lets go of the
 * broker. What was not acknowledged stays in the outbox for the next
 * run. Safe after a failed or disabled start. */
void sync_stop(void);

/* Whether the outbox holds sync.outbox_cap events or more (mqtt.md rule 4:
 * new swaps are refused), as sync decided it last. */
bool sync_outbox_full(void);

/* Whether the link to the broker is up (false without a sync section). */
bool sync_connected(void);

#endif
