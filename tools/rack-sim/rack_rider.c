/* What riders do at a slot's door, each verb the whole of one rider's
 * action there (issue 10: insert a battery, take one, leave the door open,
 * shut it with nothing inside). A rider cannot open a locked door: each
 * verb is refused, with nothing changed, while the bolt holds the door
 * shut. The door stays open for "dwell" simulated seconds (default 1)
 * before the rider shuts it, so that a master polling the slot sees it
 * open, as it would at a real rack; 0 shuts it in the same instant. */
#include "tools/rack-sim/rack_priv.h"

#include <inttypes.h>

#define DWELL_DEFAULT_S 1.0
#define DWELL_MAX_S 3600.0

/* The rider pulls the handle: refused while the bolt holds a shut door. */
static bool can_open(struct req *q, struct rack *r, const struct rack_slot *s)
{
	if (!s->door_open && s->lock_closed)
		return rack_fail(q, "slot %d: the door is locked: a rider cannot open it",
				 rack_slot_no(r, s));
	return true;
}

static bool dwell_arg(struct req *q, double *dwell)
{
	return rack_num(q, "dwell", 0, DWELL_MAX_S, true, DWELL_DEFAULT_S, dwell);
}

/* The door opens now and the rider shuts it after dwell (rack_physics does). */
static void open_then_shut(struct rack *r, struct rack_slot *s, double dwell)
{
	s->door_open = dwell > 0;
	s->close_at = dwell > 0 ? r->sim_s + dwell : -1;
	rack_sync_slot(r, s);
}

/* {"ok": true, "slot", "battery" (id or null), "door_open", "closes_at"}. */
static json_object *reply(struct rack *r, const struct rack_slot *s, uint64_t battery)
{
	json_object *o = rack_ok();

	json_object_object_add(o, "slot", json_object_new_int(rack_slot_no(r, s)));
	json_object_object_add(o, "battery", battery ? json_object_new_uint64(battery) : NULL);
	json_object_object_add(o, "door_open", json_object_new_boolean(s->door_open));
	json_object_object_add(o, "closes_at", s->close_at >= 0 ? json_object_new_double(s->close_at) : NULL);
	return o;
}

json_object *rack_rider_return(struct req *q, struct rack *r)
{
	struct rack_slot *s;
	uint64_t id;
	double dwell;
	int b;

	if (!rack_slot_arg(q, r, &s) || !dwell_arg(q, &dwell) || !rack_id_arg(q, "battery", &id) ||
	    !can_open(q, r, s))
		return NULL;
	if (s->bat >= 0)
		return rack_refuse(q, "slot %d already holds battery %" PRIu64 ": no room for %" PRIu64,
				   rack_slot_no(r, s), r->bats[s->bat].id, id);
	b = rack_find_bat(r, id);
	if (b >= 0 && rack_slot_of(r, b))
		return rack_refuse(q, "battery %" PRIu64 " is in slot %d, not in the rider's hands", id,
				   rack_slot_of(r, b));
	if ((b = rack_get_bat(q, r, true)) < 0)
		return NULL;
	s->bat = b;
	open_then_shut(r, s, dwell);
	return reply(r, s, id);
}

json_object *rack_rider_take(struct req *q, struct rack *r)
{
	struct rack_slot *s;
	double dwell;

	if (!rack_slot_arg(q, r, &s) || !dwell_arg(q, &dwell) || !can_open(q, r, s))
		return NULL;
	if (s->bat < 0)
		return rack_refuse(q, "slot %d is empty: nothing to take", rack_slot_no(r, s));
	uint64_t id = r->bats[s->bat].id;
	r->bats[s->bat].current = 0;
	s->bat = -1;
	open_then_shut(r, s, dwell);
	return reply(r, s, id);
}

json_object *rack_rider_leave_open(struct req *q, struct rack *r)
{
	struct rack_slot *s;

	if (!rack_slot_arg(q, r, &s) || !can_open(q, r, s))
		return NULL;
	s->door_open = true;
	s->close_at = -1;
	rack_sync_slot(r, s);
	return reply(r, s, 0);
}

json_object *rack_rider_close_empty(struct req *q, struct rack *r)
{
	struct rack_slot *s;
	double dwell;

	if (!rack_slot_arg(q, r, &s) || !dwell_arg(q, &dwell) || !can_open(q, r, s))
		return NULL;
	open_then_shut(r, s, dwell);
	return reply(r, s, 0);
}
