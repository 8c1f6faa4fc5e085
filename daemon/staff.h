/* Staff badges (B tokens, token.md) at the kiosk. A badge scanned opens a
 * staff session (the badge's staff id and role) for staff.session_s,
 * renewed by each action and ended by a second scan of the same staff id's
 * badge (EV_STAFF_SESSION says each change); the kiosk's staff commands act only within it
 * and are audited with the staff id: staff-open (open a slot, and lock it
 * again once its door closed), staff-quarantine and staff-release (a
 * battery), staff-end and staff-session. A badge's role allows what the
 * same action needs on the control socket: admin to open a slot (as
 * `unlock`), staff for a battery's quarantine (as battery-quarantine)
 * (daemon/DESIGN.md, "Staff badges"). */
#ifndef SWAPD_STAFF_H
#define SWAPD_STAFF_H

#include <stddef.h>

#include "daemon/config.h"
#include "daemon/err.h"
#include "daemon/store.h"

/* Claims badge scans (access_set_claim), registers the staff commands
 * and hears the doors of the slots staff open. st must outlive the
 * module; cfg is copied. */
enum sw_err staff_start(const struct config *cfg, struct store *st, char *why, size_t whylen);

/* Takes a reloaded config: the next session or opened door gets the new
 * lengths. */
void staff_reconfigure(const struct config *cfg);

/* Ends the session, gives up the claim and the slots staff hold (every
 * door is locked by the rack's stop after this). */
void staff_stop(void);

#endif
