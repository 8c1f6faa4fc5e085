/* Fleet telemetry (mqtt.md "Telemetry"): what sync.c calls of sync_tel.c.
 * Private to the sync module. */
#ifndef SWAPD_SYNC_TEL_H
#define SWAPD_SYNC_TEL_H

#include <stdbool.h>

#include <json-c/json.h>

#include "daemon/err.h"

/* Arms the telemetry timer (sync_m must be set up); SW_ENOMEM when its
 * window cannot be had. */
enum sw_err sync_tel_start(void);

/* After a CONNACK: live telemetry resumes at once, and the kept samples
 * are published again from the oldest still in the store. */
void sync_tel_connected(void);

/* Fills the historical window from the kept samples, oldest first; called
 * by sync.c's pump once no event is waiting or in flight. A failed publish
 * marks the link broken, for the caller to tear down. */
void sync_tel_pump(void);

/* The PUBACK of mid: when it was a historical sample's, the sample is
 * deleted from the store within a loop round; other mids are ignored. */
void sync_tel_acked(int mid);

/* Adds the telemetry figures to the `sync` command's reply o. */
void sync_tel_json(json_object *o);

/* Cancels the timers and forgets the window. */
void sync_tel_stop(void);

#endif
