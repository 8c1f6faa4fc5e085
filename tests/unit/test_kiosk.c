/* The kiosk's view (daemon/kiosk.c) on the simulated station: the swap
 * flow, the queue, access and staff badges started as main.c starts them,
 * the simulated rack ("sim:8": slots 1-4 charged, 5-8 empty) and simulated
 * time. What the screen says is read from kiosk_view(), the JSON the page
 * and swapctl get; the catalogue's loading errors are a table. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "daemon/access.h"
#include "daemon/command.h"
#include "daemon/config.h"
#include "daemon/control.h"
#include "daemon/health.h"
#include "daemon/kiosk.h"
#include "daemon/kiosk_priv.h"
#include "daemon/loop.h"
#include "daemon/queue.h"
#include "daemon/slots.h"
#include "daemon/staff.h"
#include "daemon/store.h"
#include "daemon/swap.h"
#include "drivers/rack.h"
#include "drivers/rack_bus.h"

#define NSLOTS 8
#define KEYS_JSON "{\"keys\":[{\"kid\":\"k1\",\"secret\":\"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\"}]}"

static struct config cfg;
static struct store *store;
static struct token_keyring ring;
static char dir[64];

static void sim(const char *fmt, ...)
{
	char verb[256], why[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(verb, sizeof verb, fmt, ap);
	va_end(ap);
	json_object *r = rack_bus_sim_exec(verb, why, sizeof why);
	if (!r)
		fail_msg("%s: %s", verb, why);
	json_object_put(r);
}

static bool never(void *arg)
{
	(void)arg;
	return false;
}

static void pause_ms(int64_t ms)
{
	loop_run_until(never, NULL, ms);
}

static bool all_read(void *arg)
{
	(void)arg;
	for (int i = 0; i < NSLOTS; i++) {
		const struct rack_reading *r = rack_reading(i);
		if (!r->online || r->health_pending || rack_safe_pending(i))
			return false;
	}
	return true;
}

static int setup(void **state)
{
	char why[256], keys[128], db[128];
	struct rack_config *rc = &cfg.rack;

	(void)state;
	snprintf(dir, sizeof dir, "/tmp/swapd-kiosk-XXXXXX");
	assert_non_null(mkdtemp(dir));
	snprintf(db, sizeof db, "%s/swapd.db", dir);
	snprintf(keys, sizeof keys, "%s/keys.json", dir);
	FILE *f = fopen(keys, "w");
	assert_non_null(f);
	fputs(KEYS_JSON, f);
	fclose(f);
	assert_int_equal(chmod(keys, 0600), 0);
	assert_int_equal(token_keys_parse(KEYS_JSON, strlen(KEYS_JSON), "k", &ring, why, sizeof why), 0);
	assert_int_equal(store_open(db, 1000, &store, why, sizeof why), SW_OK);
	config_defaults(&cfg);
	snprintf(cfg.station.id, sizeof cfg.station.id, "ST-1");
	rc->enabled = true;
	snprintf(rc->device, sizeof rc->device, "sim:%d", NSLOTS);
	snprintf(rc->profile, sizeof rc->profile, "config/profiles/swapd-slot-v1.json");
	rc->parity = 'N';
	rc->telemetry_interval_ms = 24 * 3600 * 1000;
	rc->nslots = NSLOTS;
	for (int i = 0; i < NSLOTS; i++)
		rc->slots[i] = (struct rack_slot_config){ .slot = i + 1, .unit = i + 1 };
	cfg.tokens.enabled = true;
	snprintf(cfg.tokens.keys, sizeof cfg.tokens.keys, "%s", keys);
	snprintf(cfg.tokens.walkin_kid, sizeof cfg.tokens.walkin_kid, "k1");
	cfg.swap.min_soc = rc->charged_soc;
	cfg.kiosk.enabled = true;
	snprintf(cfg.kiosk.assets, sizeof cfg.kiosk.assets, "daemon/kiosk");
	cfg.kiosk.scan_show_s = 20;
	loop_set_clock(true);
	assert_int_equal(slots_start(&cfg, store, why, sizeof why), SW_OK);
	assert_int_equal(access_start(&cfg, store, "boot-test", why, sizeof why), SW_OK);
	assert_int_equal(staff_start(&cfg, store, why, sizeof why), SW_OK);
	for (int n = 1; n <= 4; n++)
		sim("{\"op\":\"insert\",\"slot\":%d,\"battery\":%d,\"soc\":99,\"soh\":95,\"force\":true}",
		    n, 100 + n);
	assert_true(loop_run_until(all_read, NULL, 10000));
	assert_int_equal(swap_start(&cfg, store, "boot-test", why, sizeof why), SW_OK);
	assert_int_equal(queue_start(&cfg, store, "boot-test", why, sizeof why), SW_OK);
	if (kiosk_start(&cfg, store, why, sizeof why) != SW_OK)
		fail_msg("kiosk: %s", why);
	return 0;
}

static int teardown(void **state)
{
	char cmd[160];

	(void)state;
	kiosk_stop();
	queue_stop();
	swap_stop();
	staff_stop();
	access_stop();
	slots_stop();
	command_forget();
	store_close(store);
	token_keyring_clear(&ring);
	loop_set_clock(false);
	loop_free();
	health_reset();
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	return system(cmd);
}

/* Scans a freshly issued token of kind for subject with arg. */
static const char *scan(enum token_kind kind, const char *subject, const char *arg)
{
	static int serial;
	struct token t = { .kind = kind, .exp = time(NULL) + 3600 }, got;
	char buf[TOKEN_TEXT_MAX + 1], err[128];

	snprintf(t.station, sizeof t.station, "%s", kind == TOKEN_BADGE ? "*" : "ST-1");
	snprintf(t.subject, sizeof t.subject, "%s", subject);
	snprintf(t.arg, sizeof t.arg, "%s", arg);
	snprintf(t.nonce, sizeof t.nonce, "nonce%06d", ++serial);
	snprintf(t.kid, sizeof t.kid, "k1");
	if (token_issue(&t, &ring, time(NULL), buf, sizeof buf, err, sizeof err) != 0)
		fail_msg("issue: %s", err);
	return access_scan(buf, strlen(buf), "scanner", &got);
}

/* A string at a path of the view ("serving.0.headline"); "" for null,
 * "(none)" when the path is not there. Valid until the next call. */
static const char *at(const char *path)
{
	static char out[4096];
	char p[128], *save, *part;
	json_object *v = kiosk_view(), *o = v;

	snprintf(p, sizeof p, "%s", path);
	snprintf(out, sizeof out, "(none)");
	for (part = strtok_r(p, ".", &save); part && o; part = strtok_r(NULL, ".", &save)) {
		if (json_object_is_type(o, json_type_array)) {
			size_t idx = (size_t)atoi(part);
			o = idx < json_object_array_length(o) ? json_object_array_get_idx(o, idx) : NULL;
			if (!o)
				goto done;
		} else if (!json_object_object_get_ex(o, part, &o)) {
			goto done;
		}
	}
	snprintf(out, sizeof out, "%s", o ? json_object_get_string(o) : "");
done:
	json_object_put(v);
	return out;
}

static size_t count(const char *path)
{
	json_object *v = kiosk_view(), *o;
	size_t n = 0;

	if (json_object_object_get_ex(v, path, &o) && o)
		n = json_object_array_length(o);
	json_object_put(v);
	return n;
}

static json_object *command(const char *name, const char *args)
{
	const struct command *c = command_find(name, strlen(name));
	struct control_req req = { .level = LEVEL_KIOSK };
	char msg[160];

	assert_non_null(c);
	snprintf(req.who, sizeof req.who, "uid 1000 pid 1");
	req.args = json_tokener_parse(args);
	if (!command_check(c, req.args, msg, sizeof msg))
		fail_msg("%s %s: %s", name, args, msg);
	json_object *reply = c->fn(&req);
	json_object_put(req.args);
	return reply;
}

static bool headline_is(void *arg)
{
	return strcmp(at("serving.0.headline"), arg) == 0;
}

static void wait_headline(const char *want)
{
	if (!loop_run_until(headline_is, (void *)want, 15000))
		fail_msg("the headline is \"%s\", never \"%s\"", at("serving.0.headline"), want);
}

/* A rider's swap: the slot to go to in plain words, then the other slot,
 * then nothing; the rider masked. */
static void test_swap_headline(void **state)
{
	(void)state;
	assert_int_equal(count("serving"), 0);
	assert_string_equal(scan(TOKEN_SWAP, "rider-4711", "-"), "ok");
	assert_string_equal(at("scan.text"), "Accepted");
	wait_headline("Put your battery in slot 5");
	assert_string_equal(at("serving.0.action"), "put");
	assert_string_equal(at("serving.0.rider"), "\u20264711");
	pause_ms(1000);
	sim("{\"op\":\"open\",\"slot\":5}");
	pause_ms(2000);
	sim("{\"op\":\"insert\",\"slot\":5,\"battery\":500,\"soc\":20,\"soh\":92}");
	pause_ms(2000);
	sim("{\"op\":\"close\",\"slot\":5}");
	wait_headline("Take your battery from slot 1");
	assert_string_equal(at("serving.0.action"), "take");
	pause_ms(1000);
	sim("{\"op\":\"open\",\"slot\":1}");
	pause_ms(2000);
	sim("{\"op\":\"remove\",\"slot\":1}");
	pause_ms(2000);
	sim("{\"op\":\"close\",\"slot\":1}");
	pause_ms(5000);
	assert_int_equal(count("serving"), 0);
	/* nothing charges it here (no charge module): the returned battery waits */
	assert_string_equal(at("slots.4.state"), "idle");
	assert_string_equal(at("slots.4.label"), "Not charging");
	assert_string_equal(at("slots.0.label"), "Empty");
}

/* A refused scan says why in plain words, never its code, and the words
 * go after kiosk.scan_show_s; a reason the catalogue does not know is
 * "Scan again". */
static void test_scan_result_clears(void **state)
{
	(void)state;
	assert_string_equal(scan(TOKEN_SWAP, "rider-1", "-"), "ok");
	pause_ms(100);
	struct token got;
	assert_string_equal(access_scan("hello", 5, "scanner", &got), "malformed");
	assert_string_equal(at("scan.result"), "malformed");
	assert_string_equal(at("scan.text"), "This is not a station code: scan again");
	pause_ms(19000);
	assert_string_equal(at("scan.text"), "This is not a station code: scan again");
	pause_ms(1500);
	assert_string_equal(at("scan"), "");
	assert_string_equal(kiosk_text_scan("a_reason_from_next_year"), "Scan again");
	assert_string_equal(kiosk_text_scan("expired"), "This code has expired: ask for a new one");
	assert_string_equal(kiosk_text_scan("replayed"), "This code was already used");
}

/* "Join the queue": a ticket, its place and its QR for the screen that
 * pressed; the view has the rider masked and no token, nonce or mac; a
 * second press within 3 s is "busy". */
static void test_join_and_queue(void **state)
{
	json_object *r, *res, *v;
	struct queue_place p;

	(void)state;
	assert_int_equal(queue_reserve("rider-98765", "resnonce01", 600, 0, &p), QUEUE_OK);
	r = command("kiosk-join", "{}");
	assert_true(json_object_object_get_ex(r, "result", &res));
	assert_true(json_object_object_get_ex(res, "svg", &v));
	assert_memory_equal(json_object_get_string(v), "<?xml", 5);
	assert_non_null(strstr(json_object_get_string(v), "<svg"));
	assert_true(json_object_object_get_ex(res, "position", &v));
	assert_int_equal(json_object_get_int(v), 2);
	assert_true(json_object_object_get_ex(res, "ticket", &v));
	int64_t ticket = json_object_get_int64(v);
	assert_false(json_object_object_get_ex(res, "token", &v));
	json_object_put(r);
	/* the token is in the audit (by "kiosk") and the store, not the view */
	pause_ms(10);
	assert_int_equal(count("queue"), 2);
	assert_string_equal(at("queue.0.rider"), "\u20268765");
	assert_string_equal(at("queue.1.position"), "2");
	char want[32];
	snprintf(want, sizeof want, "%lld", (long long)ticket);
	assert_string_equal(at("queue.1.ticket"), want);
	assert_memory_equal(at("queue.1.rider"), "\u2026", strlen("\u2026"));
	assert_int_equal((int)strlen(at("queue.1.rider")), (int)strlen("\u2026") + 4);
	json_object *view = kiosk_view();
	const char *text = json_object_to_json_string(view);
	assert_null(strstr(text, "resnonce01"));
	assert_null(strstr(text, "rider-98765"));
	assert_null(strstr(text, "S1."));
	json_object_put(view);

	json_object *busy = command("kiosk-join", "{}");
	assert_true(json_object_object_get_ex(busy, "error", &v));
	assert_string_equal(json_object_get_string(v), "busy");
	json_object_put(busy);
	pause_ms(3000);
	r = command("kiosk-join", "{}");
	assert_true(json_object_object_get_ex(r, "ok", &v));
	assert_true(json_object_get_boolean(v));
	json_object_put(r);
	assert_int_equal(count("queue"), 3);
	assert_non_null(strstr(at("queue.2.eta"), "min"));
}

/* A staff badge shows its role's actions, an admin's one more; the same
 * badge again ends the session, and so does the timeout. */
static void test_staff_session(void **state)
{
	(void)state;
	assert_string_equal(at("staff"), "");
	assert_string_equal(scan(TOKEN_BADGE, "staff-17", "staff"), "ok");
	assert_string_equal(at("staff.id"), "staff-17");
	assert_string_equal(at("staff.actions.0.cmd"), "staff-quarantine");
	assert_string_equal(at("staff.actions.0.label"), "Quarantine a battery");
	assert_string_equal(at("staff.actions.0.args.1"), "reason");
	assert_string_equal(at("staff.actions.3.cmd"), "staff-ack");
	assert_string_equal(at("staff.actions.4.cmd"), "staff-end");
	assert_string_equal(at("staff.actions.5"), "(none)");
	assert_string_equal(at("staff.tickets.0"), "(none)");
	assert_string_equal(scan(TOKEN_BADGE, "staff-17", "staff"), "ok");
	assert_string_equal(at("staff"), "");

	assert_string_equal(scan(TOKEN_BADGE, "admin-1", "admin"), "ok");
	assert_string_equal(at("staff.role"), "admin");
	assert_string_equal(at("staff.actions.0.cmd"), "staff-open");
	assert_string_equal(at("staff.actions.0.args.0"), "slot");
	sim("{\"op\":\"fault\",\"slot\":2,\"kind\":\"overtemp\"}");
	pause_ms(3000);
	assert_string_equal(at("staff.faults.0.text"), "Slot 2 has a fault");
	pause_ms((int64_t)cfg.staff.session_s * 1000);
	assert_string_equal(at("staff"), "");
}

/* A catalogue that lacks a key, has a non-string one, is no JSON or is
 * not there does not load, and says which key of which file. */
static void test_catalogue_errors(void **state)
{
	static const struct {
		const char *name, *content, *why;
	} cases[] = {
		{ "missing.json", NULL, "missing.json" },
		{ "nokey.json", "{\"lang\":\"en\",\"dir\":\"ltr\",\"messages\":{}}",
		  "nokey.json: message \"label.title\" is missing" },
		{ "number.json", "{\"lang\":\"en\",\"dir\":\"ltr\",\"messages\":{\"label.title\":7}}",
		  "number.json: message \"label.title\" is not a string" },
		{ "nolang.json", "{\"dir\":\"ltr\",\"messages\":{}}", "nolang.json: \"lang\" and \"dir\"" },
		{ "nomsgs.json", "{\"lang\":\"en\",\"dir\":\"ltr\",\"messages\":[]}",
		  "nomsgs.json: \"messages\" must be an object" },
		{ "broken.json", "{\"lang\":", "broken.json:1:" },
	};
	char path[128], why[256];

	(void)state;
	for (size_t x = 0; x < sizeof cases / sizeof cases[0]; x++) {
		snprintf(path, sizeof path, "%s/%s", dir, cases[x].name);
		if (cases[x].content) {
			FILE *f = fopen(path, "w");
			assert_non_null(f);
			fputs(cases[x].content, f);
			fclose(f);
		}
		why[0] = '\0';
		assert_int_equal(kiosk_text_load(path, why, sizeof why), SW_EINVAL);
		if (!strstr(why, cases[x].why))
			fail_msg("%s: \"%s\" does not say \"%s\"", cases[x].name, why, cases[x].why);
	}
	/* the catalogue loaded before is still there */
	assert_string_equal(kiosk_text("label.title"), "Battery swap");
}

/* Both shipped catalogues have every key; Hindi's are its own words. */
static void test_catalogues_complete(void **state)
{
	char why[256];

	(void)state;
	assert_int_equal(kiosk_text_load("daemon/kiosk/lang/hi.json", why, sizeof why), SW_OK);
	assert_string_equal(kiosk_text_lang(), "hi");
	assert_string_equal(at("text.join"), "कतार में जुड़ें");
	assert_string_equal(kiosk_text_scan("not_a_reason"), "फिर से स्कैन करें");
	if (kiosk_text_load("daemon/kiosk/lang/en.json", why, sizeof why) != SW_OK)
		fail_msg("%s", why);
	assert_string_equal(at("text.join"), "Join the queue");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_swap_headline, setup, teardown),
		cmocka_unit_test_setup_teardown(test_scan_result_clears, setup, teardown),
		cmocka_unit_test_setup_teardown(test_join_and_queue, setup, teardown),
		cmocka_unit_test_setup_teardown(test_staff_session, setup, teardown),
		cmocka_unit_test_setup_teardown(test_catalogue_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_catalogues_complete, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
