/* Transport jobs (issue 10): the fleet announces a job (transport.job,
 * mqtt.md), a transporter scans its T token (token.md) at the kiosk, and
 * the station opens that job's slots and no others: those of the batteries
 * to pick up and empty ones for the charged batteries brought. Every
 * battery that leaves or arrives is recorded in the battery ledger, each
 * door is locked again when it closes, and the job ends with
 * transport.completed. daemon/DESIGN.md, "Transport jobs", has the rules. */
#ifndef SWAPD_TRANSPORT_H
#define SWAPD_TRANSPORT_H

#include <stddef.h>

#include <json-c/json.h>

#include "daemon/config.h"
#include "daemon/err.h"
#include "daemon/store.h"

/* Takes T tokens (access_set_claim), registers the transport-job and
 * transports commands, and ends the jobs a restart interrupted once their
 * slots read back. A station without a rack has no doors to open: the
 * module then does nothing, and a T token is only recorded, as before. */
enum sw_err transport_start(const struct config *cfg, struct store *st, const char *boot,
			    char *why, size_t whylen);

/* Takes a reloaded transport section; a running job keeps its timeout. */
void transport_reconfigure(const struct config *cfg);

/* Stops taking tokens and lets the running jobs' slots go; the jobs stay
 * started in the store, and the next start ends them from what the slots
 * hold then. */
void transport_stop(void);

/* Announces a job, with the args of the fleet's transport.job command
 * (mqtt.md): "job", the T token's subject ([A-Za-z0-9_-]{1,32}); "pickup",
 * a count 0..99 of batteries to collect, or an array of 1..99 battery ids
 * to collect ("BAT-00042" or 42), or a string of either (how `swapctl
 * transport-job` passes it: "2", "BAT-00042,BAT-00043"); "dropoff", the
 * charged batteries brought, 0..99; "exp", Unix seconds. A job not started
 * yet may be announced again with new terms. by (for the audit trail)
 * announced it. Returns NULL when the job is on disk, otherwise an error
 * code with a message in msg: "bad_request" (an argument), "expired" (exp
 * is past), "duplicate" (a job of that name started or ended already),
 * "store_failed", "no_rack" (the module is not running). */
const char *transport_job(json_object *args, const char *by, char *msg, size_t msglen);

#endif
