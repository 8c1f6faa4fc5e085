/* The field tables of the config module: every key of swapd.json, its
 * type, bounds and checks, one table per section (config_field.h says what
 * a field is). Kept apart from the parser that walks them (config.c) and
 * the reload check (config_reload.c), so adding a key is an edit here and a
 * default in config_defaults(). */
#include "daemon/config.h"

#include <stdlib.h>
#include <string.h>

#include "daemon/config_field.h"
#include "daemon/log.h"
#include "drivers/serial_baud.h"

static const char *conv_station_id(const char *s, void *dst)
{
	size_t n = strlen(s);

	(void)dst;
	if (n < 1 || n > 24 || strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-") != n)
		return "is not a station id (1 to 24 of A-Z, 0-9 and -, as in the token contract)";
	return NULL;
}

static const char *conv_abs_path(const char *s, void *dst)
{
	(void)dst;
	if (s[0] != '/')
		return "is not an absolute path";
	return NULL;
}

static const char *conv_level(const char *s, void *dst)
{
	int lvl = log_level_parse(s);

	if (lvl < LOG_ERR)
		return "is not one of err, warning, notice, info, debug";
	*(int *)dst = lvl;
	return NULL;
}

static const char *conv_mode(const char *s, void *dst)
{
	char *end;
	unsigned long m;

	if (s[0] != '0' || strlen(s) != 4 || strspn(s, "01234567") != 4)
		return "is not an octal file mode like \"0660\"";
	m = strtoul(s, &end, 8);
	if (m & 0007)
		return "gives others access; the control socket must not";
	*(unsigned *)dst = (unsigned)m;
	return NULL;
}

static const char *conv_group(const char *s, void *dst)
{
	size_t n = strlen(s);

	(void)dst;
	if (n > 0 && strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789_-") != n)
		return "is not a group name";
	return NULL;
}

#define STR(st, m, req, cv) \
	{ .key = #m, .type = F_STR, .off = offsetof(st, m), \
	  .size = sizeof(((st *)0)->m), .required = req, .conv = cv }
#define CONV(st, m, cv) \
	{ .key = #m, .type = F_CONV, .off = offsetof(st, m), \
	  .size = sizeof(((st *)0)->m), .conv = cv }
#define INT(st, m, lo, hi) \
	{ .key = #m, .type = F_INT, .off = offsetof(st, m), .min = lo, .max = hi }
#define INTCHK(st, m, lo, hi, fn) \
	{ .key = #m, .type = F_INT, .off = offsetof(st, m), .min = lo, .max = hi, .check = fn }
#define BOOL(st, m) \
	{ .key = #m, .type = F_BOOL, .off = offsetof(st, m) }
#define OBJ(m, table) \
	{ .key = #m, .type = F_OBJ, .off = offsetof(struct config, m), .sub = table }

static const struct field station_fields[] = {
	STR(struct config_station, id, true, conv_station_id),
	STR(struct config_station, name, false, NULL),
	{ 0 },
};

static const struct field log_fields[] = {
	CONV(struct config_log, level, conv_level),
	{ 0 },
};

static const struct field control_fields[] = {
	STR(struct config_control, socket, false, conv_abs_path),
	CONV(struct config_control, mode, conv_mode),
	STR(struct config_control, admin_group, false, conv_group),
	STR(struct config_control, staff_group, false, conv_group),
	STR(struct config_control, kiosk_group, false, conv_group),
	INT(struct config_control, max_clients, 1, 256),
	INT(struct config_control, io_timeout_ms, 10, 60000),
	INT(struct config_control, idle_timeout_ms, 100, 86400000),
	{ 0 },
};

static const char *check_baud(long long v)
{
	return serial_baud_standard(v) ? NULL : "is not a standard rate";
}

static const char *conv_parity(const char *s, void *dst)
{
	char *p = dst;

	if (strcmp(s, "none") == 0)
		*p = 'N';
	else if (strcmp(s, "even") == 0)
		*p = 'E';
	else if (strcmp(s, "odd") == 0)
		*p = 'O';
	else
		return "is not one of none, even, odd";
	return NULL;
}

static const char *conv_lock(const char *s, void *dst)
{
	if (strcmp(s, "controller") == 0)
		*(bool *)dst = false;
	else if (strcmp(s, "gpio") == 0)
		*(bool *)dst = true;
	else
		return "is not \"controller\" or \"gpio\"";
	return NULL;
}

static const struct field rack_slot_fields[] = {
	{ .key = "slot", .type = F_INT, .off = offsetof(struct rack_slot_config, slot), .min = 1,
	  .max = 999, .required = true },
	{ .key = "unit", .type = F_INT, .off = offsetof(struct rack_slot_config, unit), .min = 1,
	  .max = 247, .required = true },
	{ .key = "lock", .type = F_CONV, .off = offsetof(struct rack_slot_config, lock_gpio),
	  .size = sizeof(bool), .conv = conv_lock },
	{ 0 },
};

static const struct field rack_fields[] = {
	STR(struct rack_config, device, true, conv_abs_path),
	INTCHK(struct rack_config, baud, 1200, 230400, check_baud),
	CONV(struct rack_config, parity, conv_parity),
	INT(struct rack_config, data_bits, 7, 8),
	INT(struct rack_config, stop_bits, 1, 2),
	BOOL(struct rack_config, rs485),
	STR(struct rack_config, profile, true, NULL),
	INT(struct rack_config, response_timeout_ms, 10, 2000),
	INT(struct rack_config, offline_after, 1, 100),
	INT(struct rack_config, poll_interval_ms, 0, 60000),
	INT(struct rack_config, slow_every, 1, 1000),
	INT(struct rack_config, heartbeat_ms, 100, 60000),
	INT(struct rack_config, watchdog_s, 1, 3600),
	INT(struct rack_config, reconnect_ms, 100, 60000),
	INT(struct rack_config, charged_soc, 50, 100),
	INT(struct rack_config, telemetry_interval_ms, 100, 3600000),
	INT(struct rack_config, telemetry_rows, 100, 10000000),
	{ .key = "slots", .type = F_ARRAY, .off = offsetof(struct rack_config, slots),
	  .size = sizeof(struct rack_slot_config), .max = RACK_MAX_SLOTS, .required = true,
	  .count_off = offsetof(struct rack_config, nslots), .sub = rack_slot_fields },
	{ 0 },
};

static const char *conv_kid(const char *s, void *dst)
{
	size_t n = strlen(s);

	(void)dst;
	if (n > 8 || strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789") != n)
		return "is not a key id (1 to 8 of A-Z, a-z, 0-9, as in the token contract)";
	return NULL;
}

static const char *conv_scanner_backend(const char *s, void *dst)
{
	(void)dst;
	if (strcmp(s, "serialport") != 0 && strcmp(s, "tty") != 0)
		return "is not \"serialport\" or \"tty\"";
	return NULL;
}

static const struct field scanner_fields[] = {
	STR(struct scanner_config, backend, false, conv_scanner_backend),
	STR(struct scanner_config, device, true, conv_abs_path),
	INTCHK(struct scanner_config, baud, SCANNER_BAUD_MIN, SCANNER_BAUD_MAX, check_baud),
	INT(struct scanner_config, dedup_ms, SCANNER_DEDUP_MS_MIN, SCANNER_DEDUP_MS_MAX),
	INT(struct scanner_config, reconnect_ms, SCANNER_RECONNECT_MS_MIN, SCANNER_RECONNECT_MS_MAX),
	{ 0 },
};

static const char *conv_gpio_role(const char *s, void *dst)
{
	static const char *const roles[] = {
		[GPIO_LOCK] = "lock", [GPIO_DOOR] = "door", [GPIO_ESTOP] = "estop", [GPIO_LIGHT] = "light",
		[GPIO_POWER] = "power_sense", [GPIO_SLOT_POWER] = "slot_power",
	};

	for (size_t i = 0; i < sizeof roles / sizeof roles[0]; i++)
		if (strcmp(s, roles[i]) == 0) {
			*(enum gpio_role *)dst = (enum gpio_role)i;
			return NULL;
		}
	return "is not one of lock, door, estop, light, power_sense, slot_power";
}

static const struct field gpio_line_fields[] = {
	{ .key = "role", .type = F_CONV, .off = offsetof(struct gpio_line_config, role),
	  .size = sizeof(enum gpio_role), .conv = conv_gpio_role, .required = true },
	INT(struct gpio_line_config, slot, 1, 999),
	{ .key = "line", .type = F_STR, .off = offsetof(struct gpio_line_config, name),
	  .size = sizeof(((struct gpio_line_config *)0)->name), .required = true },
	BOOL(struct gpio_line_config, active_low),
	BOOL(struct gpio_line_config, locked_active),
	INT(struct gpio_line_config, debounce_ms, 0, 1000),
	{ 0 },
};

static const struct field gpio_fields[] = {
	STR(struct gpio_config, chip, true, NULL),
	{ .key = "lines", .type = F_ARRAY, .off = offsetof(struct gpio_config, lines),
	  .size = sizeof(struct gpio_line_config), .max = GPIO_MAX_LINES, .required = true,
	  .count_off = offsetof(struct gpio_config, nlines), .count_size = sizeof(size_t),
	  .sub = gpio_line_fields },
	{ 0 },
};

static const struct field tokens_fields[] = {
	STR(struct config_tokens, keys, true, NULL),
	INT(struct config_tokens, skew_s, 0, 3600),
	INT(struct config_tokens, life_swap_s, 60, 400 * 86400),
	INT(struct config_tokens, life_transport_s, 60, 400 * 86400),
	INT(struct config_tokens, life_badge_s, 60, 4000 * 86400),
	STR(struct config_tokens, walkin_kid, false, conv_kid),
	INT(struct config_tokens, walkin_ttl_s, 60, 400 * 86400),
	INT(struct config_tokens, scan_history, 10, 10000000),
	{ 0 },
};

/* Timeouts are seconds: a rider's pace, not the bus's. */
static const struct field swap_fields[] = {
	INT(struct config_swap, max_concurrent, 1, SWAP_MAX_CONCURRENT),
	INT(struct config_swap, unlock_timeout_s, 1, 600),
	INT(struct config_swap, insert_timeout_s, 10, 3600),
	INT(struct config_swap, take_timeout_s, 10, 3600),
	INT(struct config_swap, door_close_timeout_s, 5, 3600),
	INT(struct config_swap, min_soc, 1, 100),
	BOOL(struct config_swap, reopen_once),
	{ 0 },
};

static const struct field queue_fields[] = {
	INT(struct config_queue, capacity, 1, QUEUE_MAX),
	INT(struct config_queue, approaching_m, 1, 100000),
	INT(struct config_queue, arrived_m, 1, 100000),
	INT(struct config_queue, grace_s, 0, 86400),
	INT(struct config_queue, swap_s, 5, 3600),
	INT(struct config_queue, charge_s, 60, 86400),
	{ 0 },
};

static const struct field store_fields[] = {
	STR(struct config_store, path, false, conv_abs_path),
	INT(struct config_store, busy_timeout_ms, 0, 10000),
	INT(struct config_store, alive_interval_ms, 10, 3600000),
	{ 0 },
};

static const struct field charge_fields[] = {
	{ .key = "auto", .type = F_BOOL, .off = offsetof(struct config_charge, automatic) },
	INT(struct config_charge, current_a, 1, 50),
	INT(struct config_charge, retry_s, 5, 3600),
	{ 0 },
};

static const struct field transport_fields[] = {
	INT(struct config_transport, timeout_s, 30, 86400),
	{ 0 },
};

static const struct field faults_fields[] = {
	INT(struct config_faults, ticket_reannounce_s, 60, 7 * 86400),
	INT(struct config_faults, warn_temp_c, 30, 90),
	INT(struct config_faults, crit_temp_c, 30, 100),
	INT(struct config_faults, broker_down_s, 30, 7 * 86400),
	INT(struct config_faults, disk_min_mb, 1, 1000000),
	INT(struct config_faults, clear_after_pct, 1, 1000),
	INT(struct config_faults, escalate_after_pct, 1, 1000),
	{ 0 },
};

static const struct field ledger_fields[] = {
	INT(struct config_ledger, quarantine_soh, 0, 100),
	INT(struct config_ledger, write_interval_s, 10, 86400),
	{ 0 },
};

static const struct field staff_fields[] = {
	INT(struct config_staff, session_s, 10, 3600),
	INT(struct config_staff, open_timeout_s, 5, 600),
	{ 0 },
};

static const struct field sync_fields[] = {
	STR(struct config_sync, host, true, NULL),
	INT(struct config_sync, port, 1, 65535),
	STR(struct config_sync, client_id, false, NULL),
	INT(struct config_sync, keepalive_s, 5, 3600),
	INT(struct config_sync, connect_timeout_s, 1, 300),
	INT(struct config_sync, backoff_min_ms, 100, 600000),
	INT(struct config_sync, backoff_max_ms, 100, 3600000),
	STR(struct config_sync, cafile, false, NULL),
	STR(struct config_sync, certfile, false, NULL),
	STR(struct config_sync, keyfile, false, NULL),
	STR(struct config_sync, username, false, NULL),
	STR(struct config_sync, password_file, false, NULL),
	INT(struct config_sync, inflight, 1, 1000),
	INT(struct config_sync, outbox_cap, 100, 100000000),
	INT(struct config_sync, stop_timeout_ms, 100, 1500),
	INT(struct config_sync, telemetry_interval_s, 1, 3600),
	INT(struct config_sync, offline_telemetry_interval_s, 1, 86400),
	INT(struct config_sync, offline_telemetry_max, 1, 10000000),
	{ 0 },
};

static const struct field kiosk_fields[] = {
	STR(struct config_kiosk, listen, false, NULL),
	INT(struct config_kiosk, port, 1, 65535),
	STR(struct config_kiosk, assets, false, NULL),
	STR(struct config_kiosk, language, false, NULL),
	STR(struct config_kiosk, origin, false, NULL),
	INT(struct config_kiosk, max_connections, 4, 1000),
	INT(struct config_kiosk, request_max, 2048, 1048576),
	INT(struct config_kiosk, body_max, 256, 1048576),
	INT(struct config_kiosk, idle_timeout_s, 1, 3600),
	INT(struct config_kiosk, scan_show_s, 1, 600),
	{ 0 },
};

const struct field config_top_fields[] = {
	OBJ(station, station_fields),
	OBJ(log, log_fields),
	OBJ(control, control_fields),
	OBJ(store, store_fields),
	OBJ(charge, charge_fields),
	OBJ(transport, transport_fields),
	OBJ(ledger, ledger_fields),
	OBJ(staff, staff_fields),
	OBJ(faults, faults_fields),
	OBJ(swap, swap_fields),
	OBJ(queue, queue_fields),
	{ .key = "rack", .type = F_OBJ, .off = offsetof(struct config, rack), .sub = rack_fields,
	  .optional = true, .enabled_off = offsetof(struct config, rack.enabled) },
	{ .key = "gpio", .type = F_OBJ, .off = offsetof(struct config, gpio), .sub = gpio_fields,
	  .optional = true, .enabled_off = offsetof(struct config, gpio.enabled) },
	{ .key = "scanner", .type = F_OBJ, .off = offsetof(struct config, scanner),
	  .sub = scanner_fields, .optional = true,
	  .enabled_off = offsetof(struct config, scanner.enabled) },
	{ .key = "tokens", .type = F_OBJ, .off = offsetof(struct config, tokens),
	  .sub = tokens_fields, .optional = true,
	  .enabled_off = offsetof(struct config, tokens.enabled) },
	{ .key = "sync", .type = F_OBJ, .off = offsetof(struct config, sync), .sub = sync_fields,
	  .optional = true, .enabled_off = offsetof(struct config, sync.enabled) },
	{ .key = "kiosk", .type = F_OBJ, .off = offsetof(struct config, kiosk), .sub = kiosk_fields,
	  .optional = true, .enabled_off = offsetof(struct config, kiosk.enabled) },
	{ 0 },
};
