/* Health of each subsystem (store, control, rack, ...), as `swapctl status`
 * and the systemd STATUS= line show it. A subsystem registers once and then
 * reports changes; reading never fails. */
#ifndef SWAPD_HEALTH_H
#define SWAPD_HEALTH_H

#include <json-c/json.h>

enum health_state { HEALTH_OK, HEALTH_DEGRADED, HEALTH_FAILED, HEALTH_DISABLED };

/* Records the state and a short human detail ("3 of 8 slots offline") of
 * subsystem `name`, adding it on first use (subsystems are listed in the
 * order they first report). */
void health_set(const char *name, enum health_state st, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* The state of a subsystem, HEALTH_DISABLED if it never reported. */
enum health_state health_get(const char *name);

/* "ok", "degraded", "failed" or "disabled". */
const char *health_state_name(enum health_state st);

/* The worst state over all subsystems (disabled ones do not count). */
enum health_state health_overall(void);

/* A new JSON array of {"name","state","detail","since_s"} in order. */
json_object *health_json(void);

/* One line for systemd's STATUS=, e.g. "ok" or "degraded: store failed". */
void health_summary(char *buf, size_t len);

/* Calls fn after any subsystem's state changed (main uses it to update
 * systemd's STATUS= line). */
void health_on_change(void (*fn)(void));

/* Forgets every subsystem (for tests and shutdown). */
void health_reset(void);

#endif
