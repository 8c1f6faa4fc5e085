/* What slots.c shares with slots_view.c, and nobody else. */
#ifndef SWAPD_SLOTS_PRIV_H
#define SWAPD_SLOTS_PRIV_H

#include <stdbool.h>
#include <stddef.h>

#include <json-c/json.h>

#include "drivers/rack.h"

/* A copy of the rack section: a reload frees the config struct, and the
 * rack section cannot change without a restart anyway. */
extern struct rack_config slots_rc;
extern bool slots_have_gpio;

/* The fleet's battery id form ("BAT-00042", mqtt.md's example); "" for an
 * empty slot or an id not read. */
void slots_battery_name(const struct rack_reading *r, char *buf, size_t len);

/* The viewer commands `slots` and `rack` (slots_view.c). */
struct control_req;
json_object *slots_cmd_slots(const struct control_req *req);
json_object *slots_cmd_rack(const struct control_req *req);

/* Lock commands to a controller, watched until the bolt follows
 * (slots_lock.c): slots_set_lock()'s controller half, a new reading of
 * slot index i, and the end of every watch at stop (answered SW_ECANCELED). */
enum sw_err slots_lock_controller(int i, bool lock, rack_done_fn done, void *arg);
void slots_lock_reading(int i);
void slots_lock_stop(void);

#endif
