/* The daemon-wide `status` command: version, station, boot, uptime, the
 * config in use and the health of every subsystem. It also owns the
 * "control" health entry (the control socket's client count). */
#ifndef SWAPD_STATUS_H
#define SWAPD_STATUS_H

#include <stddef.h>

#include <json-c/json.h>

#include "daemon/config.h"
#include "daemon/control.h"
#include "daemon/err.h"
#include "daemon/store.h"

/* Registers the status command for this run (boot id `boot`, uptime
 * counted from now) and reports "control" as ok. cfg and st must stay
 * valid until status_reconfigure or status_stop. Fails only when the
 * command cannot be registered (a name taken: a bug), saying why. */
enum sw_err status_start(const struct config *cfg, struct store *st, const char *boot,
			 char *why, size_t whylen);

/* Takes the reloaded config (its path, digest and station id). */
void status_reconfigure(const struct config *cfg);

/* The status command's handler: the reply to `status` (args ignored). */
json_object *status_cmd(const struct control_req *req);

/* Forgets the config and store. */
void status_stop(void);

#endif
