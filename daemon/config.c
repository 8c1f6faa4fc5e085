/* The config module's parser (walking the field tables of
 * config_fields.c), its checks across keys, and the file's loading. */
#include "daemon/config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-c/json.h>
#include <openssl/evp.h>

#include "daemon/config_field.h"
#include "daemon/fileio.h"
#include "daemon/jsonfile.h"
#include "daemon/log.h"
#include "daemon/token.h"
#include "drivers/gpio.h"
#include "drivers/rack_profile.h"

/* Largest config file accepted; a station config is a few KiB. */
#define CONFIG_MAX_BYTES (1024 * 1024)

void config_defaults(struct config *cfg)
{
	memset(cfg, 0, sizeof *cfg);
	cfg->log.level = LOG_INFO;
	snprintf(cfg->control.socket, sizeof cfg->control.socket, "/run/swapd/control.sock");
	cfg->control.mode = 0660;
	snprintf(cfg->control.admin_group, sizeof cfg->control.admin_group, "swapd-admin");
	cfg->control.max_clients = 16;
	cfg->control.io_timeout_ms = 2000;
	cfg->control.idle_timeout_ms = 60000;
	snprintf(cfg->store.path, sizeof cfg->store.path, "/var/lib/swapd/swapd.db");
	cfg->store.busy_timeout_ms = 1000;
	cfg->store.alive_interval_ms = 60000;
	cfg->rack.baud = 19200;
	cfg->rack.parity = 'E'; /* Modbus over Serial Line v1.02, 2.5.1: even by default */
	cfg->rack.data_bits = 8;
	cfg->rack.stop_bits = 1;
	cfg->rack.response_timeout_ms = 100;
	cfg->rack.offline_after = 3;
	cfg->rack.poll_interval_ms = 250;
	cfg->rack.slow_every = 10;
	cfg->rack.heartbeat_ms = 1000;
	cfg->rack.watchdog_s = 5;
	cfg->rack.reconnect_ms = 1000;
	cfg->rack.charged_soc = 95;
	cfg->rack.telemetry_interval_ms = 10000;
	cfg->rack.telemetry_rows = 200000;
	for (size_t i = 0; i < GPIO_MAX_LINES; i++)
		cfg->gpio.lines[i].debounce_ms = 20;
	snprintf(cfg->scanner.backend, sizeof cfg->scanner.backend, "serialport");
	cfg->scanner.baud = 9600;
	cfg->scanner.dedup_ms = 1000;
	cfg->scanner.reconnect_ms = 1000;
	cfg->tokens.skew_s = 60;
	cfg->tokens.life_swap_s = 24 * 3600;
	cfg->tokens.life_transport_s = 7 * 24 * 3600;
	cfg->tokens.life_badge_s = 400 * 24 * 3600;
	cfg->tokens.walkin_ttl_s = 2 * 3600;
	cfg->tokens.scan_history = 10000;
	cfg->charge.automatic = true;
	cfg->charge.current_a = 30;
	cfg->charge.retry_s = 60;
	cfg->transport.timeout_s = 600;
	cfg->ledger.quarantine_soh = 75;
	cfg->swap.quarantine_soh = cfg->ledger.quarantine_soh;
	cfg->ledger.write_interval_s = 300;
	cfg->staff = (struct config_staff){ .session_s = 120, .open_timeout_s = 60 };
	snprintf(cfg->kiosk.listen, sizeof cfg->kiosk.listen, "127.0.0.1");
	cfg->kiosk.port = 8080;
	snprintf(cfg->kiosk.assets, sizeof cfg->kiosk.assets, "/usr/share/swapd/kiosk");
	snprintf(cfg->kiosk.language, sizeof cfg->kiosk.language, "en");
	cfg->kiosk.max_connections = 32;
	cfg->kiosk.request_max = 8192;
	cfg->kiosk.body_max = 4096;
	cfg->kiosk.idle_timeout_s = 30;
	cfg->kiosk.scan_show_s = 20;
	cfg->faults = (struct config_faults){ .ticket_reannounce_s = 3600, .warn_temp_c = 50, .crit_temp_c = 60, .broker_down_s = 1800, .disk_min_mb = 200, .clear_after_pct = 100, .escalate_after_pct = 100 };
	cfg->swap.max_concurrent = 3;
	cfg->swap.unlock_timeout_s = 10;
	cfg->swap.insert_timeout_s = 90;
	cfg->swap.take_timeout_s = 60;
	cfg->swap.door_close_timeout_s = 30;
	cfg->swap.reopen_once = true;
	cfg->queue.capacity = 20;
	cfg->queue.approaching_m = 1000; /* mqtt.md, queue.arrival */
	cfg->queue.arrived_m = 500;
	cfg->queue.grace_s = 600;
	cfg->queue.swap_s = 60;
	cfg->queue.charge_s = 3600;
	cfg->sync.port = 1883;
	cfg->sync.keepalive_s = 60;
	cfg->sync.connect_timeout_s = 15;
	cfg->sync.backoff_min_ms = 1000;
	cfg->sync.backoff_max_ms = 120000;
	cfg->sync.inflight = 20;
	cfg->sync.outbox_cap = 1000000;
	cfg->sync.stop_timeout_ms = 1000;
	cfg->sync.telemetry_interval_s = 10;
	cfg->sync.offline_telemetry_interval_s = 60;
	cfg->sync.offline_telemetry_max = 10080; /* a week at 60 s */
}

/* The value as JSON, shortened, for an error message. */
static const char *show(json_object *v, char *buf, size_t len)
{
	const char *s = json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN |
						       JSON_C_TO_STRING_NOSLASHESCAPE);
	if (strlen(s) < len) {
		snprintf(buf, len, "%s", s);
	} else {
		snprintf(buf, len, "%.*s...", (int)len - 4, s);
	}
	return buf;
}

static void parse_section(json_object *obj, const struct field *fields, void *base,
			  const char *prefix, struct config_errors *errs);

static void parse_int(json_object *v, const struct field *f, void *dst, const char *path,
		      struct config_errors *errs)
{
	char shown[72];

	if (!json_object_is_type(v, json_type_int)) {
		config_error_add(errs, "%s: %s is not an integer", path, show(v, shown, sizeof shown));
		return;
	}
	errno = 0;
	long long n = (long long)json_object_get_int64(v);
	if (n < f->min || n > f->max || errno) {
		config_error_add(errs, "%s: %s is out of range %lld..%lld", path,
			  show(v, shown, sizeof shown), f->min, f->max);
		return;
	}
	const char *why = f->check ? f->check(n) : NULL;
	if (why) {
		config_error_add(errs, "%s: %s %s", path, show(v, shown, sizeof shown), why);
		return;
	}
	*(int *)dst = (int)n;
}

/* Each element is a section of f->sub; their number goes to f->count_off
 * of base. */
static void parse_array(json_object *v, const struct field *f, void *base, const char *path,
			struct config_errors *errs)
{
	char shown[72];
	char *dst = (char *)base + f->off;

	if (!json_object_is_type(v, json_type_array)) {
		config_error_add(errs, "%s: %s is not an array", path, show(v, shown, sizeof shown));
		return;
	}
	size_t n = json_object_array_length(v);
	if (n < 1 || n > (size_t)f->max) {
		config_error_add(errs, "%s: %zu entries; 1 to %lld are allowed", path, n, f->max);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		char ipath[160];
		json_object *e = json_object_array_get_idx(v, i);
		snprintf(ipath, sizeof ipath, "%.128s[%zu]", path, i);
		if (!json_object_is_type(e, json_type_object)) {
			config_error_add(errs, "%s: %s is not an object", ipath, show(e, shown, sizeof shown));
			continue;
		}
		parse_section(e, f->sub, dst + i * f->size, ipath, errs);
	}
	if (f->count_size == sizeof(size_t))
		*(size_t *)((char *)base + f->count_off) = n;
	else
		*(int *)((char *)base + f->count_off) = (int)n;
}

/* F_STR and F_CONV: a string without NULs, then its conv. */
static void parse_string(json_object *v, const struct field *f, void *dst, const char *path,
			 struct config_errors *errs)
{
	char shown[72];

	if (!json_object_is_type(v, json_type_string)) {
		config_error_add(errs, "%s: %s is not a string", path, show(v, shown, sizeof shown));
		return;
	}
	const char *s = json_object_get_string(v);
	size_t n = (size_t)json_object_get_string_len(v);
	if (strlen(s) != n) {
		config_error_add(errs, "%s: %s contains a NUL character", path,
			  show(v, shown, sizeof shown));
		return;
	}
	if (f->type == F_STR && n >= f->size) {
		config_error_add(errs, "%s: %s is longer than %zu characters", path,
			  show(v, shown, sizeof shown), f->size - 1);
		return;
	}
	const char *why = f->conv ? f->conv(s, dst) : NULL;
	if (why) {
		config_error_add(errs, "%s: %s %s", path, show(v, shown, sizeof shown), why);
		return;
	}
	if (f->type == F_STR)
		memcpy(dst, s, n + 1);
}

static void parse_field(json_object *v, const struct field *f, void *base, const char *path,
			struct config_errors *errs)
{
	char shown[72];
	void *dst = (char *)base + f->off;

	switch (f->type) {
	case F_OBJ:
		if (!json_object_is_type(v, json_type_object)) {
			config_error_add(errs, "%s: %s is not an object", path, show(v, shown, sizeof shown));
			return;
		}
		if (f->optional)
			*(bool *)((char *)base + f->enabled_off) = true;
		parse_section(v, f->sub, dst, path, errs);
		return;
	case F_INT:
		parse_int(v, f, dst, path, errs);
		return;
	case F_BOOL:
		if (!json_object_is_type(v, json_type_boolean)) {
			config_error_add(errs, "%s: %s is not true or false", path, show(v, shown, sizeof shown));
			return;
		}
		*(bool *)dst = json_object_get_boolean(v);
		return;
	case F_ARRAY:
		parse_array(v, f, base, path, errs);
		return;
	case F_STR:
	case F_CONV:
		parse_string(v, f, dst, path, errs);
		return;
	}
}

static void parse_section(json_object *obj, const struct field *fields, void *base,
			  const char *prefix, struct config_errors *errs)
{
	char path[128];

	json_object_object_foreach(obj, key, v) {
		const struct field *f = fields;
		/* JSON has no comments; "_comment" style keys are the
		 * documented way to annotate a config (config/CONFIG.md). */
		if (key[0] == '_')
			continue;
		while (f->key && strcmp(f->key, key) != 0)
			f++;
		snprintf(path, sizeof path, "%s%s%s", prefix, *prefix ? "." : "", key);
		if (!f->key) {
			config_error_add(errs, "%s: unknown key", path);
			continue;
		}
		parse_field(v, f, base, path, errs);
	}
	for (const struct field *f = fields; f->key; f++) {
		if (json_object_object_get_ex(obj, f->key, NULL))
			continue;
		snprintf(path, sizeof path, "%s%s%s", prefix, *prefix ? "." : "", f->key);
		if (f->type == F_OBJ && f->optional)
			continue;
		if (f->type == F_OBJ) {
			/* An absent section: report its own required keys,
			 * so the message names the leaf (station.id). */
			json_object *empty = json_object_new_object();
			parse_section(empty, f->sub, (char *)base + f->off, path, errs);
			json_object_put(empty);
		} else if (f->required) {
			config_error_add(errs, "%s: missing (required)", path);
		}
	}
}

/* Makes a relative path (of a file beside the config: a profile, the key
 * file) relative to the config file's directory. */
static int resolve_path(char path[PATH_MAX], const char *name, const char *key,
			struct config_errors *errs)
{
	const char *slash = strrchr(name, '/');
	char full[PATH_MAX];
	int dirlen = slash ? (int)(slash - name) : 1;

	if (path[0] == '/')
		return 0;
	if (snprintf(full, sizeof full, "%.*s/%s", dirlen, slash ? name : ".", path) >=
	    (int)sizeof full) {
		config_error_add(errs, "%s: \"%.60s\" is too long a path", key, path);
		return -1;
	}
	memcpy(path, full, strlen(full) + 1);
	return 0;
}

/* The key file must load (mode 0600, valid entries), the walk-in key must
 * be in it, and a walk-in ticket must be allowed to live as long as it is
 * made for. The keyring is wiped at once: keys live only in the module
 * that verifies. */
static void check_tokens(struct config_tokens *t, const char *name, struct config_errors *errs)
{
	struct token_keyring *ring = malloc(sizeof *ring);
	char why[CONFIG_ERROR_LEN - 16];

	if (!ring || resolve_path(t->keys, name, "tokens.keys", errs) < 0) {
		free(ring);
		return;
	}
	if (token_keys_load(t->keys, ring, why, sizeof why) < 0) {
		config_error_add(errs, "tokens.keys: %s", why);
	} else if (t->walkin_kid[0]) {
		size_t i;
		for (i = 0; i < ring->n && strcmp(ring->keys[i].kid, t->walkin_kid) != 0; i++)
			;
		if (i == ring->n)
			config_error_add(errs, "tokens.walkin_kid: \"%s\" is not a key in %s", t->walkin_kid,
				  t->keys);
	}
	if (t->walkin_ttl_s > t->life_swap_s)
		config_error_add(errs, "tokens.walkin_ttl_s: %d is longer than tokens.life_swap_s (%d); such tickets would be refused",
			  t->walkin_ttl_s, t->life_swap_s);
	token_keyring_clear(ring);
	free(ring);
}

/* Files beside the config are taken from its directory; TLS needs the CA
 * to check the broker, a client key needs its certificate; the password
 * file must be the daemon's alone (like the token keys) and readable now,
 * so a bad one is a config error and not a refused login later. */
static void check_sync(struct config *cfg, const char *name, struct config_errors *errs)
{
	struct config_sync *y = &cfg->sync;
	char why[CONFIG_ERROR_LEN - 32];
	struct stat st;

	if (!y->client_id[0])
		snprintf(y->client_id, sizeof y->client_id, "%s", cfg->station.id);
	if (y->backoff_min_ms > y->backoff_max_ms)
		config_error_add(errs, "sync.backoff_min_ms: %d is more than sync.backoff_max_ms (%d)",
				 y->backoff_min_ms, y->backoff_max_ms);
	if ((y->certfile[0] || y->keyfile[0]) && !(y->certfile[0] && y->keyfile[0]))
		config_error_add(errs, "sync.certfile: a client certificate needs both certfile and keyfile");
	if (y->certfile[0] && !y->cafile[0])
		config_error_add(errs, "sync.cafile: missing; a client certificate needs TLS, and TLS a CA to check the broker");
	if (!y->username[0] != !y->password_file[0])
		config_error_add(errs, "sync.username: username and password_file go together");
	char *paths[] = { y->cafile, y->certfile, y->keyfile, y->password_file };
	const char *keys[] = { "sync.cafile", "sync.certfile", "sync.keyfile", "sync.password_file" };
	for (size_t i = 0; i < 4; i++)
		if (paths[i][0])
			resolve_path(paths[i], name, keys[i], errs);
	if (!y->password_file[0])
		return;
	int fd = fileio_open(y->password_file, why, sizeof why);
	if (fd < 0) {
		config_error_add(errs, "sync.password_file: %s", why);
		return;
	}
	if (fstat(fd, &st) == 0 && (st.st_mode & 0077))
		config_error_add(errs, "sync.password_file: %s: mode %04o lets group or others read it; refusing it (chmod 0600)",
				 y->password_file, (unsigned)(st.st_mode & 07777));
	close(fd);
}

/* A slot whose lock is driven by GPIO needs that lock line, and a lock or
 * door line must belong to a slot of the rack (the driver checks the rest:
 * roles, one line per name, one lock and one door per slot). */
static void check_gpio_locks(const struct config *cfg, struct config_errors *errs)
{
	for (int i = 0; cfg->rack.enabled && i < cfg->rack.nslots; i++) {
		const struct rack_slot_config *s = &cfg->rack.slots[i];
		bool found = false;
		for (size_t k = 0; cfg->gpio.enabled && k < cfg->gpio.nlines; k++)
			found |= cfg->gpio.lines[k].role == GPIO_LOCK && cfg->gpio.lines[k].slot == s->slot;
		if (s->lock_gpio && !found)
			config_error_add(errs, "rack.slots[%d].lock: \"gpio\", but gpio.lines has no lock for slot %d",
					 i, s->slot);
	}
	for (size_t k = 0; cfg->gpio.enabled && k < cfg->gpio.nlines; k++) {
		const struct gpio_line_config *l = &cfg->gpio.lines[k];
		bool known = false;
		if (l->role != GPIO_LOCK && l->role != GPIO_DOOR)
			continue;
		for (int i = 0; cfg->rack.enabled && i < cfg->rack.nslots; i++)
			known |= cfg->rack.slots[i].slot == l->slot;
		if (!known)
			config_error_add(errs, "gpio.lines[%zu].slot: %d is not a slot in rack.slots", k,
					 l->slot);
	}
}

/* What one key cannot say alone: slot numbers and units are unique, the
 * heartbeat comes well within the controllers' master-lost timeout, and the
 * register profile (a relative path is taken from the config file's
 * directory) is itself valid. */
static void check_rack(struct rack_config *r, const char *name, struct config_errors *errs)
{
	if (resolve_path(r->profile, name, "rack.profile", errs) < 0)
		return;
	struct rack_profile *prof = malloc(sizeof *prof);
	struct config_errors *perrs = malloc(sizeof *perrs);
	if (prof && perrs && rack_profile_load(r->profile, prof, perrs) < 0)
		for (size_t i = 0; i < perrs->n && i < CONFIG_MAX_ERRORS; i++)
			config_error_add(errs, "rack.profile: %s%s%s",
				  strncmp(perrs->msg[i], r->profile, strlen(r->profile)) ? r->profile : "",
				  strncmp(perrs->msg[i], r->profile, strlen(r->profile)) ? ": " : "",
				  perrs->msg[i]);
	free(prof);
	free(perrs);

	for (int i = 0; i < r->nslots; i++)
		for (int j = 0; j < i; j++) {
			if (r->slots[i].slot == r->slots[j].slot)
				config_error_add(errs, "rack.slots[%d].slot: %d is also rack.slots[%d]", i,
					  r->slots[i].slot, j);
			if (r->slots[i].unit == r->slots[j].unit)
				config_error_add(errs, "rack.slots[%d].unit: %d is also rack.slots[%d]", i,
					  r->slots[i].unit, j);
		}
	if ((long long)r->heartbeat_ms * 2 > (long long)r->watchdog_s * 1000)
		config_error_add(errs, "rack.heartbeat_ms: %d is more than half of rack.watchdog_s (%d s); the slots would drop to their safe state",
			  r->heartbeat_ms, r->watchdog_s);
}

static void digest_hex(const char *text, size_t len, char out[65])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;

	if (!EVP_Digest(text, len, md, &mdlen, EVP_sha256(), NULL))
		mdlen = 0;
	for (unsigned int i = 0; i < mdlen && i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
	out[2 * (mdlen < 32 ? mdlen : 32)] = '\0';
}

int config_parse(const char *text, size_t len, const char *name, struct config *cfg,
		 struct config_errors *errs)
{
	char why[CONFIG_ERROR_LEN];
	json_object *root;

	errs->n = 0;
	config_defaults(cfg);
	root = jsonfile_parse(text, len, name, false, why, sizeof why);
	if (!root) {
		config_error_add(errs, "%s", why);
		return -1;
	}
	parse_section(root, config_top_fields, cfg, "", errs);
	json_object_put(root);
	if (cfg->rack.enabled)
		check_rack(&cfg->rack, name, errs);
	if (cfg->tokens.enabled)
		check_tokens(&cfg->tokens, name, errs);
	if (cfg->gpio.enabled) {
		if (gpio_check(&cfg->gpio, why, sizeof why) != SW_OK)
			config_error_add(errs, "%s", why);
	}
	check_gpio_locks(cfg, errs);
	if (cfg->sync.enabled)
		check_sync(cfg, name, errs);
	/* Unset, a battery is charged enough to hand out when the rack calls
	 * it charged. */
	if (!cfg->swap.min_soc)
		cfg->swap.min_soc = cfg->rack.charged_soc;
	cfg->swap.quarantine_soh = cfg->ledger.quarantine_soh;
	if (cfg->faults.warn_temp_c >= cfg->faults.crit_temp_c)
		config_error_add(errs, "faults.warn_temp_c: %d is not below faults.crit_temp_c (%d)",
				 cfg->faults.warn_temp_c, cfg->faults.crit_temp_c);
	if (cfg->queue.arrived_m > cfg->queue.approaching_m)
		config_error_add(errs, "queue.arrived_m: %d is farther than queue.approaching_m (%d)",
				 cfg->queue.arrived_m, cfg->queue.approaching_m);
	digest_hex(text, len, cfg->digest);
	return errs->n ? -1 : 0;
}

int config_load(const char *path, struct config *cfg, struct config_errors *errs)
{
	char why[CONFIG_ERROR_LEN], *text;
	size_t len;
	int rc;

	errs->n = 0;
	if (fileio_load(path, CONFIG_MAX_BYTES, &text, &len, why, sizeof why) < 0) {
		config_error_add(errs, "%s", why);
		return -1;
	}
	rc = config_parse(text, len, path, cfg, errs);
	free(text);
	snprintf(cfg->path, sizeof cfg->path, "%s", path);
	return rc;
}
