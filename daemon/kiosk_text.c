/* The kiosk's message catalogue (kiosk_priv.h): one JSON file a language,
 * kiosk.assets/lang/<kiosk.language>.json, so a station in another market
 * is a new file (config/CONFIG.md, "kiosk"). */
#include "daemon/kiosk_priv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/fileio.h"
#include "daemon/jsonfile.h"

#define CATALOGUE_MAX (256 * 1024)

/* Every key the code uses: a catalogue without one of them does not load.
 * The scan.* reasons are every reason access.c, token.c, swap.c, queue.c
 * and transport.c can give a scan; scan.other stands for any other. */
static const char *const keys[] = {
	"label.title", "label.now_serving", "label.queue", "label.queue_empty", "label.position",
	"label.ticket", "label.rider", "label.wait", "label.slots", "label.slot", "label.charge",
	"label.scan_prompt", "label.join", "label.join_scan", "label.alarms", "label.staff",
	"label.staff_until", "label.faults", "label.no_faults", "label.tickets", "label.swaps",
	"label.arg_slot", "label.arg_battery", "label.arg_reason", "label.arg_swap", "label.run",
	"label.cancel", "label.offline", "label.done", "label.arg_ticket",
	"action.staff-open", "action.staff-quarantine", "action.staff-release", "action.staff-abort",
	"action.staff-ack", "action.staff-end",
	"state.empty", "state.idle", "state.charging", "state.charged", "state.fault",
	"state.quarantined", "state.offline",
	"arrival.en_route", "arrival.approaching", "arrival.arrived",
	"headline.put", "headline.take", "headline.close", "headline.wait",
	"eta.now", "eta.min", "walkin.on", "walkin.off", "alarm.door",
	"fault.slot", "fault.offline", "fault.door", "fault.quarantined", "fault.quarantined_away",
	/* one per fault code (fault.h), for the staff panel's faults and tickets */
	"fault.slot_offline", "fault.bus_errors", "fault.over_temperature_warning",
	"fault.over_temperature", "fault.temperature_rise", "fault.cell_imbalance",
	"fault.cell_over_voltage", "fault.charger_fault", "fault.current_mismatch",
	"fault.door_unexpected", "fault.lock_stuck", "fault.door_left_open", "fault.low_soh",
	"fault.bms_implausible", "fault.emergency_stop", "fault.power_lost", "fault.serial_lost",
	"fault.store_error", "fault.outbox_full", "fault.broker_unreachable", "fault.clock_unsynced",
	"fault.unknown_battery",
	"scan.ok", "scan.other", "scan.unreadable", "scan.malformed", "scan.too_long",
	"scan.unknown_key", "scan.bad_mac", "scan.wrong_station", "scan.expired", "scan.revoked",
	"scan.replayed", "scan.store_failed", "scan.estop", "scan.outbox_full", "scan.starting",
	"scan.no_empty_slot", "scan.no_charged_battery", "scan.busy", "scan.not_your_turn",
	"scan.no_rack", "scan.no_free_slot", "scan.unknown_job", "scan.job_started",
	"scan.job_done", "scan.job_expired", "scan.wrong_counts", "scan.unsafe",
	"join.full", "join.busy",
};
#define NKEYS (sizeof keys / sizeof keys[0])

static struct {
	json_object *root;           /* the file, kept for its strings */
	const char *text[NKEYS];
	const char *lang, *dir;
} cat;

static int key_index(const char *key)
{
	for (size_t k = 0; k < NKEYS; k++)
		if (strcmp(keys[k], key) == 0)
			return (int)k;
	return -1;
}

static const char *str_field(json_object *o, const char *key)
{
	json_object *v;

	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

/* The file's fields and every key, into next; or why not. */
static enum sw_err check(json_object *root, const char *path, const char **text, char *why,
			 size_t whylen)
{
	json_object *msgs;

	if (!str_field(root, "lang") || !str_field(root, "dir")) {
		snprintf(why, whylen, "%s: \"lang\" and \"dir\" must be strings", path);
		return SW_EINVAL;
	}
	if (!json_object_object_get_ex(root, "messages", &msgs) ||
	    !json_object_is_type(msgs, json_type_object)) {
		snprintf(why, whylen, "%s: \"messages\" must be an object", path);
		return SW_EINVAL;
	}
	for (size_t k = 0; k < NKEYS; k++) {
		json_object *v;
		if (!json_object_object_get_ex(msgs, keys[k], &v)) {
			snprintf(why, whylen, "%s: message \"%s\" is missing", path, keys[k]);
			return SW_EINVAL;
		}
		if (!json_object_is_type(v, json_type_string)) {
			snprintf(why, whylen, "%s: message \"%s\" is not a string", path, keys[k]);
			return SW_EINVAL;
		}
		text[k] = json_object_get_string(v);
	}
	return SW_OK;
}

enum sw_err kiosk_text_load(const char *path, char *why, size_t whylen)
{
	char *buf;
	size_t len;
	const char *text[NKEYS];

	if (fileio_load(path, CATALOGUE_MAX, &buf, &len, why, whylen) < 0)
		return SW_EINVAL;
	json_object *root = jsonfile_parse(buf, len, path, false, why, whylen);
	free(buf);
	if (!root)
		return SW_EINVAL;
	if (check(root, path, text, why, whylen) != SW_OK) {
		json_object_put(root);
		return SW_EINVAL;
	}
	kiosk_text_free();
	cat.root = root;
	memcpy(cat.text, text, sizeof text);
	cat.lang = str_field(root, "lang");
	cat.dir = str_field(root, "dir");
	return SW_OK;
}

const char *kiosk_text(const char *key)
{
	int k = key_index(key);

	return k >= 0 && cat.text[k] ? cat.text[k] : "";
}

const char *kiosk_text_fmt(char *buf, size_t len, const char *key, int slot, int64_t n, int min)
{
	const char *s = kiosk_text(key);
	size_t o = 0;

	while (*s && o + 1 < len) {
		int w = 0;
		if (strncmp(s, "{slot}", 6) == 0)
			w = snprintf(buf + o, len - o, "%d", slot), s += 6;
		else if (strncmp(s, "{n}", 3) == 0)
			w = snprintf(buf + o, len - o, "%lld", (long long)n), s += 3;
		else if (strncmp(s, "{min}", 5) == 0)
			w = snprintf(buf + o, len - o, "%d", min), s += 5;
		else
			buf[o] = *s++, w = 1;
		o = o + (size_t)w < len ? o + (size_t)w : len - 1;
	}
	buf[len ? (o < len ? o : len - 1) : 0] = '\0';
	return buf;
}

const char *kiosk_text_scan(const char *result)
{
	char key[64];

	snprintf(key, sizeof key, "scan.%s", result ? result : "");
	return key_index(key) >= 0 ? kiosk_text(key) : kiosk_text("scan.other");
}

json_object *kiosk_text_labels(void)
{
	json_object *o = json_object_new_object();

	for (size_t k = 0; k < NKEYS; k++)
		if (strncmp(keys[k], "label.", 6) == 0)
			json_object_object_add(o, keys[k] + 6, json_object_new_string(kiosk_text(keys[k])));
	return o;
}

const char *kiosk_text_lang(void)
{
	return cat.lang ? cat.lang : "";
}

const char *kiosk_text_dir(void)
{
	return cat.dir ? cat.dir : "ltr";
}

void kiosk_text_free(void)
{
	json_object_put(cat.root);
	memset(&cat, 0, sizeof cat);
}
