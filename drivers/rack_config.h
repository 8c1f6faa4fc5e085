/* The "rack" section of the config: what the config parser fills and the
 * rack driver takes, in a header of its own so that daemon/config.h needs
 * none of the driver. Keys and units: config/CONFIG.md. */
#ifndef SWAPD_RACK_CONFIG_H
#define SWAPD_RACK_CONFIG_H

#include <limits.h>
#include <stdbool.h>

#define RACK_MAX_SLOTS 64

struct rack_slot_config {
	int slot;            /* the station's slot number, as people say it */
	int unit;            /* Modbus slave address */
	bool lock_gpio;      /* its lock is driven by GPIO, not the controller */
};

struct rack_config {
	bool enabled;
	char device[256];
	int baud;
	char parity;         /* 'N', 'E', 'O' */
	int data_bits;
	int stop_bits;
	bool rs485;
	char profile[PATH_MAX];
	int response_timeout_ms;
	int offline_after;
	int poll_interval_ms;
	int slow_every;
	int heartbeat_ms;
	int watchdog_s;
	int reconnect_ms;
	int charged_soc;          /* % at or above which a battery counts as charged */
	int telemetry_interval_ms;
	int telemetry_rows;       /* the store keeps this many samples */
	struct rack_slot_config slots[RACK_MAX_SLOTS];
	int nslots;
};

#endif
