/* swapd's configuration: one JSON file, parsed with json-c into a typed
 * struct and validated completely at load. Unknown keys, wrong types,
 * out-of-range values and missing required keys are errors, each reported as
 * "key.path: value problem". The reference of every key is config/CONFIG.md. */
#ifndef SWAPD_CONFIG_H
#define SWAPD_CONFIG_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>

#include "daemon/config_errors.h"
#include "drivers/gpio_config.h"
#include "drivers/rack_config.h"
#include "drivers/scanner_config.h"

/* The most swaps swap.max_concurrent may allow at once. */
#define SWAP_MAX_CONCURRENT 16
/* The most queue.capacity may be: the queue's table is this long. */
#define QUEUE_MAX 500

struct config {
	char path[PATH_MAX];
	char digest[65]; /* hex SHA-256 of the file as read */

	struct config_station {
		char id[25];       /* token contract: [A-Z0-9-]{1,24} */
		char name[65];
	} station;

	struct config_log {
		int level;         /* syslog priority */
	} log;

	struct config_control {
		char socket[108];  /* sun_path */
		unsigned mode;     /* socket file mode */
		char admin_group[33];
		char staff_group[33]; /* empty: no staff level */
		char kiosk_group[33]; /* empty: no kiosk level */
		int max_clients;
		int io_timeout_ms;
		int idle_timeout_ms; /* a client with nothing under way is dropped */
	} control;

	struct rack_config rack; /* enabled when the "rack" section is there */

	struct scanner_config scanner; /* enabled when the "scanner" section is there */
	struct gpio_config gpio;       /* enabled when the "gpio" section is there */

	struct config_tokens {     /* enabled when the "tokens" section is there */
		bool enabled;
		char keys[PATH_MAX];   /* key file (config/KEYS.md) */
		int skew_s;            /* token.md step 5 */
		int life_swap_s, life_transport_s, life_badge_s; /* step 6 */
		char walkin_kid[9];    /* key for the station's own tickets; "" none */
		int walkin_ttl_s;
		int scan_history;      /* scans kept in the store */
	} tokens;

	struct config_charge {     /* charging until the power-cap plan exists */
		bool automatic;        /* charge every idle battery below charged */
		int current_a;         /* the charger's current limit */
		int retry_s;           /* a refused or dropped start is retried after */
	} charge;

	struct config_transport {  /* transport jobs (daemon/transport.h) */
		int timeout_s;         /* a started job's doors are locked and it ends */
	} transport;

	struct config_ledger {     /* the battery ledger (daemon/ledger.c) */
		int quarantine_soh;    /* a battery coming in outside a swap below
					* this SOH (%) is quarantined; 0: never */
		int write_interval_s;  /* a battery's values are written at least
					* this often while they are read */
	} ledger;

	struct config_staff {      /* staff badges at the kiosk (daemon/staff.c) */
		int session_s;         /* a badge's session lasts this long after
					* the scan or its last action */
		int open_timeout_s;    /* a slot staff opened that nobody opens
					* is locked again after this */
	} staff;
	struct config_faults {     /* the fault registry (daemon/fault.h,
				    * daemon/FAULTS.md); every key reloads */
		int ticket_reannounce_s; /* an unacknowledged ticket is announced again */
		int warn_temp_c;       /* a battery this hot: over_temperature_warning */
		int crit_temp_c;       /* and this hot: over_temperature */
		int broker_down_s;     /* no broker this long: broker_unreachable */
		int disk_min_mb;       /* less free on the store's disk: store_error */
		int clear_after_pct;   /* every code's clear_after_s, scaled */
		int escalate_after_pct; /* every code's escalate_after_s, scaled */
	} faults;
	struct config_swap {       /* the swap flow; every key reloads */
		int max_concurrent;    /* swaps at once */
		int unlock_timeout_s;  /* a door command until it reads back */
		int insert_timeout_s;  /* the rider's returned battery */
		int take_timeout_s;    /* the charged battery taken (BatteryOutTimeout) */
		int door_close_timeout_s; /* the door closed after a battery went in or out */
		int min_soc;           /* % a battery needs to be handed out;
					* 0 in the file's absence: rack.charged_soc */
		int quarantine_soh;    /* ledger.quarantine_soh, copied at load: the
					* station has one threshold, for every way in */
		bool reopen_once;      /* a door closed empty is opened once more */
	} swap;

	struct config_queue {      /* reservations and walk-ins (daemon/queue.h) */
		int capacity;          /* entries waiting at most */
		int approaching_m;     /* queue.arrival within this: approaching */
		int arrived_m;         /* and within this: arrived */
		int grace_s;           /* after the ETA, then no-show */
		int swap_s;            /* a swap's duration before any was seen */
		int charge_s;          /* a battery from empty to charged */
	} queue;

	struct config_sync {       /* fleet sync over MQTT (daemon/sync.h); enabled
				    * when the "sync" section is there */
		bool enabled;
		char host[254];        /* the broker: an address, or a name
					* /etc/hosts resolves (DESIGN, Fleet sync) */
		int port;
		char client_id[65];    /* "" in the file: station.id */
		int keepalive_s;
		int connect_timeout_s; /* TCP, TLS and CONNACK together */
		int backoff_min_ms, backoff_max_ms; /* reconnect, doubled, jittered */
		char cafile[PATH_MAX]; /* set: TLS, the broker checked against it */
		char certfile[PATH_MAX], keyfile[PATH_MAX]; /* client certificate */
		char username[65];
		char password_file[PATH_MAX]; /* mode 0600, one line */
		int inflight;          /* events published and not yet acknowledged */
		int outbox_cap;        /* events waiting before swaps are refused */
		int stop_timeout_ms;   /* a clean stop's offline status, at most */
		int telemetry_interval_s;         /* live telemetry, QoS 0 */
		int offline_telemetry_interval_s; /* samples kept while unreachable */
		int offline_telemetry_max;        /* samples kept, the oldest go first */
	} sync;
	struct config_kiosk {      /* the kiosk screen over HTTP (daemon/kiosk.h,
				    * daemon/web.h); enabled when the "kiosk"
				    * section is there */
		bool enabled;
		char listen[64];       /* an IPv4 or IPv6 address, loopback by default */
		int port;
		char assets[PATH_MAX]; /* the page (index.html, kiosk.css, kiosk.js)
					* and lang/<language>.json */
		char language[16];     /* the message catalogue: lang/<language>.json */
		char origin[128];      /* the Origin a POST must carry; "": http://listen:port */
		int max_connections;   /* HTTP connections at once, streams included */
		int request_max;       /* bytes of a request's line and headers */
		int body_max;          /* bytes of a POST body */
		int idle_timeout_s;    /* a connection silent this long is closed */
		int scan_show_s;       /* the last scan's result stays on screen */
	} kiosk;
	struct config_store {
		char path[PATH_MAX];
		int busy_timeout_ms;
		int alive_interval_ms;
	} store;
};

/* Fills cfg with every default (what an empty "{}" would give, less the
 * required keys). */
void config_defaults(struct config *cfg);

/* Reads and validates the file at path into *cfg. Returns 0 when valid;
 * otherwise -1 with every problem found in errs (cfg then holds garbage and
 * must not be used). */
int config_load(const char *path, struct config *cfg, struct config_errors *errs);

/* The same for JSON text already in memory; `name` is used in syntax errors
 * in place of a file name. The digest is that of the text. */
int config_parse(const char *text, size_t len, const char *name, struct config *cfg,
		 struct config_errors *errs);

/* If the keys that only take effect at a restart differ between the running
 * and the new config, writes one error per key into errs and returns -1;
 * a reload must then keep the running config. */
int config_check_reload(const struct config *running, const struct config *next,
			struct config_errors *errs);

#endif
