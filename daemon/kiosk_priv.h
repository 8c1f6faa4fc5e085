/* The kiosk module's parts: kiosk.c keeps the view, kiosk_text.c the
 * station's message catalogue, kiosk_staff.c the staff part of the view. */
#ifndef SWAPD_KIOSK_PRIV_H
#define SWAPD_KIOSK_PRIV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#include "daemon/err.h"
#include "daemon/event.h"
#include "drivers/rack_config.h"

/* Loads the catalogue at path: {"lang", "dir", "messages": {key: text}}.
 * Every key the code uses (kiosk_text.c's table) must be a string there;
 * otherwise SW_EINVAL and why names the key and the file (or why the file
 * could not be read). The catalogue loaded before stays on failure. */
enum sw_err kiosk_text_load(const char *path, char *why, size_t whylen);

/* The text of key (one of the table's); "" for any other, which is a bug. */
const char *kiosk_text(const char *key);

/* The text of key with {slot}, {n} and {min} replaced, in buf. */
const char *kiosk_text_fmt(char *buf, size_t len, const char *key, int slot, int64_t n, int min);

/* The plain words for a scan's result: "scan.<result>" when the catalogue
 * has it, "scan.other" ("Scan again") for a reason it does not know, so a
 * raw code never reaches the screen. */
const char *kiosk_text_scan(const char *result);

/* The page's fixed labels: every "label.*" key without its prefix, as a
 * new JSON object. */
json_object *kiosk_text_labels(void);

/* The catalogue's "lang" and "dir". */
const char *kiosk_text_lang(void);
const char *kiosk_text_dir(void);

/* Forgets the catalogue. */
void kiosk_text_free(void);

/* Something the view shows changed: one push for the loop round. */
void kiosk_changed(void);

/* The staff session as EV_STAFF_SESSION says it. */
void kiosk_staff_event(const struct event *ev);

/* The lines kiosk.c derives for staff from the slots' states and door
 * alarms, by slot index (away: a quarantined battery in no slot): a
 * registry fault whose condition one of them already says is not shown a
 * second time. */
enum { KIOSK_SAYS_OFFLINE = 1, KIOSK_SAYS_FAULT = 2, KIOSK_SAYS_QUARANTINED = 4, KIOSK_SAYS_DOOR = 8 };
struct kiosk_said {
	unsigned slot[RACK_MAX_SLOTS];
	bool away;
};

/* The view's "staff": null without a session (faults and swaps are put),
 * else {id, role, until, actions (the role's), faults, tickets, swaps}
 * (faults and swaps taken): faults are kiosk.c's derived lines followed by
 * the registry's open faults (fault_open_json) that said does not cover
 * and whose ticket, if any, was acknowledged; tickets are the registry's
 * open, unacknowledged level-3 tickets, each in its fault's words. */
json_object *kiosk_staff_json(json_object *faults, const struct kiosk_said *said,
			      json_object *swaps);

/* No session. */
void kiosk_staff_reset(void);

#endif
