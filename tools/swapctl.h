/* swapctl's parts shared between its files (tools/swapctl.c, the client;
 * tools/swapctl_kiosk.c, the kiosk's view in a terminal). */
#ifndef SWAPD_SWAPCTL_H
#define SWAPD_SWAPCTL_H
#include <stdbool.h>
#include <json-c/json.h>

/* True while a full-screen view owns the terminal: connection errors are
 * not printed on stderr, the view shows them its own way. */
extern bool swapctl_quiet;

/* Sends {"cmd": cmd, "args": args (taken)} to the control socket at path
 * and returns the reply, or NULL with *code set to swapctl's exit code. */
json_object *swapctl_request(const char *path, int timeout_ms, const char *cmd, json_object *args,
			     int *code);

/* `swapctl kiosk`: the kiosk's view (daemon/kiosk.h), asked every 500 ms
 * and redrawn when its version changes, until q or Ctrl-C, the terminal
 * restored; with once, one frame on stdout. Returns the exit code. */
int swapctl_kiosk(const char *path, int timeout_ms, bool once);
#endif
