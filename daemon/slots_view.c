/* The slot table's view: `swapctl slots` and the fleet's slot objects,
 * each value at its register's resolution and with the time it was read. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/control.h"
#include "daemon/slots.h"
#include "daemon/slots_priv.h"
#include "daemon/text.h"
#include "drivers/gpio.h"
#include "drivers/rack.h"


static const char *const fault_names[RFLT_COUNT] = {
	[RFLT_OVER_TEMP] = "over_temp", [RFLT_CELL_OV] = "cell_ov",
	[RFLT_MASTER_LOST] = "master_lost", [RFLT_LOCK_STUCK] = "lock_stuck",
	[RFLT_BMS_INVALID] = "bms_invalid", [RFLT_CHARGER] = "charger",
};

/* The fleet's battery id form ("BAT-00042", mqtt.md's example). */
void slots_battery_name(const struct rack_reading *r, char *buf, size_t len)
{
	if (!r->present || !r->have[RF_BATTERY_ID])
		buf[0] = '\0';
	else
		snprintf(buf, len, "BAT-%05" PRIu64, r->battery_id);
}

static json_object *rfc3339(int64_t ms)
{
	char buf[TEXT_TIME_LEN];

	return ms ? json_object_new_string(text_time(ms, buf, sizeof buf)) : NULL;
}

/* A reading at its register's resolution (the profile's scale): a value
 * of 0.1 steps prints as 90.1, not as the double nearest to it. */
static json_object *num(const struct rack_profile *p, enum rack_field f, double v)
{
	char text[48];

	snprintf(text, sizeof text, "%.*f", rack_profile_decimals(p, f), v);
	return json_object_new_double_s(strtod(text, NULL), text);
}

static double value_of(const struct rack_reading *r, enum rack_field f)
{
	switch (f) {
	case RF_SOC: return r->soc;
	case RF_SOH: return r->soh;
	case RF_VOLTAGE: return r->voltage;
	case RF_CURRENT: return r->current;
	case RF_TEMPERATURE: return r->temperature;
	case RF_RESISTANCE: return r->resistance;
	case RF_CELL_MIN: return r->cell_min;
	case RF_CELL_MAX: return r->cell_max;
	default: return 0;
	}
}

/* Where GPIO has the door sensor or drives the lock, it knows best; what
 * nobody has read yet is unknown, never closed or locked. */
static void door_lock(int i, const char **door, const char **lock)
{
	const struct rack_reading *r = rack_reading(i);
	bool v;

	*door = r->have[RF_DOOR] ? (r->door_open ? "open" : "closed") : "unknown";
	*lock = r->have[RF_LOCK] ? (r->locked ? "locked" : "unlocked") : "unknown";
	if (slots_have_gpio && gpio_get(GPIO_DOOR, slots_rc.slots[i].slot, &v) == SW_OK)
		*door = v ? "open" : "closed";
	if (slots_have_gpio && slots_rc.slots[i].lock_gpio && gpio_get(GPIO_LOCK, slots_rc.slots[i].slot, &v) == SW_OK)
		*lock = v ? "locked" : "unlocked";
}

bool slots_secure(int i)
{
	const char *door, *lock;

	if (i < 0 || i >= slots_rc.nslots || !rack_reading(i)->online)
		return false;
	door_lock(i, &door, &lock);
	return strcmp(door, "closed") == 0 && strcmp(lock, "locked") == 0;
}

static json_object *slot_json(int i)
{
	const struct rack_reading *r = rack_reading(i);
	const struct rack_profile *p = rack_profile();
	json_object *o = json_object_new_object(), *faults = json_object_new_array();
	char bat[24];
	int64_t read_at = r->fast_at;

	slots_battery_name(r, bat, sizeof bat);
	json_object_object_add(o, "slot", json_object_new_int(slots_rc.slots[i].slot));
	json_object_object_add(o, "unit", json_object_new_int(slots_rc.slots[i].unit));
	json_object_object_add(o, "state", json_object_new_string(slots_state_name(slots_state(i))));
	json_object_object_add(o, "battery", bat[0] ? json_object_new_string(bat) : NULL);
	/* A field this rack's profile does not map, or that was never read,
	 * is left out: a missing value is never shown as 0. */
	static const struct { const char *key; enum rack_field f; } values[] = {
		{ "soc", RF_SOC }, { "soh", RF_SOH }, { "v", RF_VOLTAGE }, { "i", RF_CURRENT },
		{ "t", RF_TEMPERATURE }, { "resistance_mohm", RF_RESISTANCE },
		{ "cell_min", RF_CELL_MIN }, { "cell_max", RF_CELL_MAX },
	};
	for (size_t k = 0; bat[0] && k < sizeof values / sizeof values[0]; k++)
		if (r->have[values[k].f])
			json_object_object_add(o, values[k].key,
					       num(p, values[k].f, value_of(r, values[k].f)));
	if (bat[0] && r->have[RF_CYCLES])
		json_object_object_add(o, "cycles", json_object_new_int64(r->cycles));
	const char *door, *lock;
	door_lock(i, &door, &lock);
	json_object_object_add(o, "door", json_object_new_string(door));
	json_object_object_add(o, "lock", json_object_new_string(lock));
	if (r->have[RF_FAULT_BITS])
		json_object_object_add(o, "fault_bits", json_object_new_int64((int64_t)r->fault_bits));
	for (int f = 0; f < RFLT_COUNT; f++)
		if (p->fault_bit[f] >= 0 && (r->fault_bits >> p->fault_bit[f]) & 1)
			json_object_array_add(faults, json_object_new_string(fault_names[f]));
	json_object_object_add(o, "faults", faults);
	if (r->have[RF_FW_VERSION])
		json_object_object_add(o, "fw_version", json_object_new_int(r->fw_version));
	json_object_object_add(o, "online", json_object_new_boolean(r->online));
	/* Stale values are never shown as fresh: an offline slot carries
	 * its last values with the time they were read (mqtt.md). */
	json_object_object_add(o, "read_at", rfc3339(read_at));
	json_object_object_add(o, "health_read_at", rfc3339(r->slow_at));
	return o;
}

json_object *slots_json(void)
{
	json_object *arr = json_object_new_array();

	for (int i = 0; slots_rc.enabled && i < slots_rc.nslots; i++)
		json_object_array_add(arr, slot_json(i));
	return arr;
}

json_object *slots_cmd_rack(const struct control_req *req)
{
	json_object *r = json_object_new_object();
	struct rack_stats st;

	(void)req;
	rack_stats(&st);
	json_object_object_add(r, "device", json_object_new_string(slots_rc.device));
	json_object_object_add(r, "baud", json_object_new_int(slots_rc.baud));
	json_object_object_add(r, "profile", json_object_new_string(rack_profile()->name));
	json_object_object_add(r, "bus_up", json_object_new_boolean(st.bus_up));
	json_object_object_add(r, "slots", json_object_new_int(st.slots));
	json_object_object_add(r, "online", json_object_new_int(st.online));
	json_object_object_add(r, "transactions", json_object_new_int64((int64_t)st.transactions));
	json_object_object_add(r, "timeouts", json_object_new_int64((int64_t)st.timeouts));
	json_object_object_add(r, "errors", json_object_new_int64((int64_t)st.errors));
	json_object_object_add(r, "discarded", json_object_new_int64((int64_t)st.discarded));
	json_object_object_add(r, "line_us", json_object_new_int64((int64_t)st.line_us));
	json_object_object_add(r, "gap_us", json_object_new_int((int)st.gap_us));
	return control_ok(r);
}

json_object *slots_cmd_slots(const struct control_req *req)
{
	json_object *r = json_object_new_object();

	(void)req;
	json_object_object_add(r, "slots", slots_json());
	return control_ok(r);
}
