/* The kiosk's view (issue 12): what the screen beside the racks shows, as
 * one JSON object built from the events swapd publishes (swaps, the queue,
 * scans, slots, staff sessions, faults), with every user-visible string
 * taken from the station's message catalogue
 * (kiosk.assets/lang/<kiosk.language>.json).
 * The page (daemon/kiosk/, served by web.c) and `swapctl kiosk` only place
 * these strings; neither holds text of its own, so a station in another
 * market is a new catalogue file, not a code change.
 *
 * The view (its contract with the page and swapctl; a field with nothing
 * to show is null or an empty array, never left out):
 *
 *   version    int, one more at every change
 *   lang, dir  the catalogue's language ("en") and direction ("ltr")
 *   station    station.id
 *   at         wall ms the view was built
 *   text       {key: string}: the page's fixed labels ("title", "queue",
 *              "slots", "join", "now_serving", "staff", ...)
 *   serving    [{swap, ticket (null: none), rider (masked: "…1234"), stage,
 *                slot, action ("put", "take", "close", "wait"),
 *                headline ("Put your battery in slot 7")}], oldest first
 *   queue      [{position, ticket, rider (masked), eta_s, eta ("about 4 min"),
 *                arrival ("en_route", "approaching", "arrived")}]
 *   scan       {result (the reason code: "ok", "expired", ...), text (plain
 *              words: "This code has expired: ask for a new one"), at} or
 *              null once kiosk.scan_show_s has passed
 *   slots      [{slot, state (slots_state_name), label ("Charged"), soc
 *                (null: unknown), alarm (bool: door left open)}]
 *   alarms     [{slot, text}]: doors left open, for everyone to see
 *   staff      null, or while a badge session is open: {id, role, until
 *              (wall ms), actions: [{cmd, label, args: [names]}] the
 *              session's role may run, faults: [{slot, text}] (the
 *              slots' own lines, then the fault registry's open faults
 *              they do not say), tickets: [{id ("F12"), text}] (level-3
 *              tickets not yet acknowledged, in their fault's words),
 *              swaps: [{swap, stage, slot_in, slot_out}] in progress}
 *   walkin     {enabled, text}: the "Join the queue" button (kiosk-join)
 *
 * Nothing secret is in it: no keys, no token text, no macs, riders only
 * masked. */
#ifndef SWAPD_KIOSK_H
#define SWAPD_KIOSK_H
#include <stddef.h>
#include <stdint.h>
#include <json-c/json.h>
#include "daemon/config.h"
#include "daemon/err.h"
#include "daemon/store.h"

/* Loads the catalogue (every key the code uses must be there: a missing
 * one fails the start, naming it), subscribes to the events the view
 * follows and registers kiosk-view (viewer) and kiosk-join (kiosk). Does
 * nothing when the kiosk section is absent. cfg is copied. */
enum sw_err kiosk_start(const struct config *cfg, struct store *st, char *why, size_t whylen);

/* The view now (a new reference, the caller puts it). */
json_object *kiosk_view(void);

/* Unsubscribes and forgets the view. */
void kiosk_stop(void);
#endif
