#include "daemon/event.h"

#include <string.h>

struct sub {
	event_fn fn;
	void *arg;
};

static struct sub subs[EV_COUNT][EVENT_MAX_SUBS];
static int nsubs[EV_COUNT];

static const char *const names[EV_COUNT] = {
	[EV_SLOT_READING] = "slot_reading", [EV_SLOT_ONLINE] = "slot_online",
	[EV_SLOT_OFFLINE] = "slot_offline", [EV_SLOT_STATE] = "slot_state",
	[EV_DOOR_OPENED] = "door_opened", [EV_DOOR_CLOSED] = "door_closed",
	[EV_LOCK_CHANGED] = "lock_changed", [EV_BATTERY_INSERTED] = "battery_inserted",
	[EV_BATTERY_REMOVED] = "battery_removed", [EV_ESTOP_PRESSED] = "estop_pressed",
	[EV_ESTOP_RELEASED] = "estop_released", [EV_SCAN_ACCEPTED] = "scan_accepted",
	[EV_SCAN_REJECTED] = "scan_rejected", [EV_TICKET_ISSUED] = "ticket_issued",
	[EV_SWAP_STARTED] = "swap_started", [EV_SWAP_STAGE] = "swap_stage",
	[EV_SWAP_ENDED] = "swap_ended", [EV_QUEUE_CHANGED] = "queue_changed",
	[EV_BATTERY_QUARANTINED] = "battery_quarantined",
	[EV_BATTERY_RELEASED] = "battery_released", [EV_DOOR_ALARM] = "door_alarm",
	[EV_TRANSPORT_DONE] = "transport_done",
	[EV_STAFF_SESSION] = "staff_session",
	[EV_FAULT_CHANGED] = "fault_changed",
	[EV_MAINS_CHANGED] = "mains_changed",
};

enum sw_err event_subscribe(enum event_type type, event_fn fn, void *arg)
{
	if ((unsigned)type >= EV_COUNT || !fn)
		return SW_EINVAL;
	if (nsubs[type] == EVENT_MAX_SUBS)
		return SW_ENOSPC;
	subs[type][nsubs[type]++] = (struct sub){ fn, arg };
	return SW_OK;
}

void event_unsubscribe(enum event_type type, event_fn fn, void *arg)
{
	if ((unsigned)type >= EV_COUNT)
		return;
	for (int i = 0; i < nsubs[type]; i++) {
		if (subs[type][i].fn != fn || subs[type][i].arg != arg)
			continue;
		memmove(&subs[type][i], &subs[type][i + 1],
			(size_t)(nsubs[type] - i - 1) * sizeof subs[type][0]);
		nsubs[type]--;
		return;
	}
}

void event_publish(const struct event *ev)
{
	if ((unsigned)ev->type >= EV_COUNT)
		return;
	/* A copy of the table: a subscriber that unsubscribes (itself or
	 * another) must not make the walk skip or repeat anyone, and one
	 * that subscribes hears the next event, not this one. */
	struct sub now[EVENT_MAX_SUBS];
	int n = nsubs[ev->type];

	memcpy(now, subs[ev->type], (size_t)n * sizeof now[0]);
	for (int i = 0; i < n; i++)
		now[i].fn(ev, now[i].arg);
}

const char *event_name(enum event_type type)
{
	return (unsigned)type < EV_COUNT ? names[type] : "?";
}
