/* What the rack simulator's verb files share (rack_verbs.c, rack_rider.c):
 * a request being executed and the readers of its arguments (rack_args.c),
 * each of which says what is wrong in the request's err and returns false
 * (or NULL, or -1) when an argument is missing or does not fit. Not in
 * rack.h: nothing outside the rack model uses them. */
#ifndef RACKSIM_RACK_PRIV_H
#define RACKSIM_RACK_PRIV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#include "tools/rack-sim/rack.h"

struct req {
	json_object *cmd;
	char *err;
	size_t errlen;
};

/* Says why in q's err; returns false. */
bool rack_fail(struct req *q, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* rack_fail() for the verbs, which return their reply or NULL: returns NULL. */
json_object *rack_refuse(struct req *q, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The argument key, or NULL when absent. */
json_object *rack_arg(struct req *q, const char *key);

/* A number argument within lo..hi; def when absent and has_def. */
bool rack_num(struct req *q, const char *key, double lo, double hi, bool has_def, double def,
	      double *out);

/* A true/false argument, def when absent. */
bool rack_flag(struct req *q, const char *key, bool def, bool *out);

/* The slot named by "slot" (1..N). */
bool rack_slot_arg(struct req *q, struct rack *r, struct rack_slot **s);

/* The battery id in key: a positive integer, or a string ("0x1F", "1234")
 * for values JSON numbers cannot hold exactly. */
bool rack_id_arg(struct req *q, const char *key, uint64_t *id);

/* Index of battery id in r->bats, or -1. */
int rack_find_bat(const struct rack *r, uint64_t id);

/* Slot number (1..N) holding battery index bat, 0 when off the rack. */
int rack_slot_of(const struct rack *r, int bat);

/* The battery named by "battery", with the optional properties of the
 * request applied (soc, soh, cycles, temperature, capacity): an existing
 * one, or a new one when create. Its index, or -1 with nothing changed. */
int rack_get_bat(struct req *q, struct rack *r, bool create);

/* Everything about a battery, for replies. */
json_object *rack_bat_json(const struct bat *b);

/* A new {"ok": true} reply. */
json_object *rack_ok(void);

/* Slot s's number, 1..N, for messages and replies. */
int rack_slot_no(const struct rack *r, const struct rack_slot *s);

/* Recomputes what slot s's controller senses (door, bolt, battery) after
 * the model changed. */
void rack_sync_slot(struct rack *r, struct rack_slot *s);

/* The rider's verbs (rack_rider.c): return, take, leave_open, close_empty. */
json_object *rack_rider_return(struct req *q, struct rack *r);
json_object *rack_rider_take(struct req *q, struct rack *r);
json_object *rack_rider_leave_open(struct req *q, struct rack *r);
json_object *rack_rider_close_empty(struct req *q, struct rack *r);

#endif
