/* The fleet commands' replies (store_cmd.c): mqtt.md makes commands
 * idempotent by id for 24 h, across restarts, so each command that ran is
 * kept with its request and its reply, written in the transaction of its
 * effect; a repeated id finds it here and gets the same reply. */
#ifndef SWAPD_STORE_CMD_H
#define SWAPD_STORE_CMD_H

#include <stdbool.h>
#include <stdint.h>

#include "daemon/err.h"
#include "daemon/store.h"

/* The reply to command id if it ran (and was not purged): *found, and
 * the stored request (`{"cmd":..,"args":..}`) and reply texts, which the
 * caller frees (NULL when not found). */
enum sw_err store_cmd_get(struct store *st, const char *id, bool *found, char **request,
			  char **reply);

/* Records that command id ran now with request and reply, with ev, in one
 * transaction (joining the caller's, which holds the command's effect). */
enum sw_err store_cmd_put(struct store *st, const char *id, const char *request,
			  const char *reply, const struct store_event *ev);

/* Forgets the commands that ran before before_ms (wall ms). */
enum sw_err store_cmd_purge(struct store *st, int64_t before_ms);

#endif
