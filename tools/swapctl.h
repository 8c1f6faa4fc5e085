/* swapctl's parts shared between its files (tools/swapctl.c, the client;
 * tools/swapctl_kiosk.c, the kiosk's view in a terminal;
 * tools/swapctl_faults.c, the faults as a person reads them). */
#ifndef SWAPD_SWAPCTL_H
#define SWAPD_SWAPCTL_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <json-c/json.h>

/* True while a full-screen view owns the terminal: connection errors are
 * not printed on stderr, the view shows them its own way. */
extern bool swapctl_quiet;

/* Sends {"cmd": cmd, "args": args (taken)} to the control socket at path
 * and returns the reply, or NULL with *code set to swapctl's exit code. */
json_object *swapctl_request(const char *path, int timeout_ms, const char *cmd, json_object *args,
			     int *code);

/* The string of o's member key ("?" when missing or null). */
const char *swapctl_str(json_object *o, const char *key);

/* "45s", "12m05s", "1h01m": a time as a person reads it, in buf. */
const char *swapctl_duration(int64_t s, char *buf, size_t len);

/* `swapctl faults`: one line a fault, then its detail, diagnosis and the
 * actions taken with their outcomes, indented (tools/swapctl_faults.c). */
void swapctl_print_faults(json_object *result);

/* `swapctl kiosk`: the kiosk's view (daemon/kiosk.h), asked every 500 ms
 * and redrawn when its version changes, until q or Ctrl-C, the terminal
 * restored; with once, one frame on stdout. Returns the exit code. */
int swapctl_kiosk(const char *path, int timeout_ms, bool once);
#endif
