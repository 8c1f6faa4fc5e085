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

#include <cmocka.h>
#include <json-c/json.h>

#include "daemon/access.h"
#include "daemon/fault.h"
#include "daemon/kiosk.h"
#include "daemon/kiosk_priv.h"
#include "daemon/loop.h"
#include "daemon/queue.h"
#include "tests/unit/station_sim.h"

#define NSLOTS 8

static int setup(void **state)
{
	struct config *cfg = &station_cfg;

	(void)state;
	station_init(NSLOTS, "ST-1", true);
	snprintf(cfg->tokens.walkin_kid, sizeof cfg->tokens.walkin_kid, "k1");
	cfg->swap.min_soc = cfg->rack.charged_soc;
	cfg->kiosk.enabled = true;
	snprintf(cfg->kiosk.assets, sizeof cfg->kiosk.assets, "daemon/kiosk");
	cfg->kiosk.scan_show_s = 20;
	station_start(STATION_ACCESS | STATION_STAFF);
	for (int n = 1; n <= 4; n++)
		station_sim("{\"op\":\"insert\",\"slot\":%d,\"battery\":%d,\"soc\":99,\"soh\":95,"
			    "\"force\":true}", n, 100 + n);
	station_read();
	station_start(STATION_SWAP | STATION_QUEUE | STATION_KIOSK);
	return 0;
}

/* Scans a freshly issued token of kind for subject with arg. */
static const char *scan(enum token_kind kind, const char *subject, const char *arg)
{
	return station_scan(kind, subject, arg, "scanner", NULL);
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
	return station_command_as(LEVEL_KIOSK, "uid 1000 pid 1", name, args);
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
	station_run_ms(1000);
	station_sim("{\"op\":\"open\",\"slot\":5}");
	station_run_ms(2000);
	station_sim("{\"op\":\"insert\",\"slot\":5,\"battery\":500,\"soc\":20,\"soh\":92}");
	station_run_ms(2000);
	station_sim("{\"op\":\"close\",\"slot\":5}");
	wait_headline("Take your battery from slot 1");
	assert_string_equal(at("serving.0.action"), "take");
	station_run_ms(1000);
	station_sim("{\"op\":\"open\",\"slot\":1}");
	station_run_ms(2000);
	station_sim("{\"op\":\"remove\",\"slot\":1}");
	station_run_ms(2000);
	station_sim("{\"op\":\"close\",\"slot\":1}");
	station_run_ms(5000);
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
	station_run_ms(100);
	struct token got;
	assert_string_equal(access_scan("hello", 5, "scanner", &got), "malformed");
	assert_string_equal(at("scan.result"), "malformed");
	assert_string_equal(at("scan.text"), "This is not a station code: scan again");
	station_run_ms(19000);
	assert_string_equal(at("scan.text"), "This is not a station code: scan again");
	station_run_ms(1500);
	assert_string_equal(at("scan"), "");
	assert_string_equal(kiosk_text_scan("a_reason_from_next_year"), "Scan again");
	assert_string_equal(kiosk_text_scan("expired"), "This code has expired: ask for a new one");
	assert_string_equal(kiosk_text_scan("replayed"), "This code was already used");
	assert_string_equal(kiosk_text_scan("unsafe"),
			    "The station cannot take swaps right now: please ask staff");
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
	station_run_ms(10);
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
	station_run_ms(3000);
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
	station_sim("{\"op\":\"fault\",\"slot\":2,\"kind\":\"overtemp\"}");
	station_run_ms(3000);
	assert_string_equal(at("staff.faults.0.text"), "Slot 2 has a fault");
	station_run_ms((int64_t)station_cfg.staff.session_s * 1000);
	assert_string_equal(at("staff"), "");
}

/* Whether the view's array at path has an entry whose text is text. */
static bool has_text(const char *path, const char *text)
{
	char p[64];

	for (int x = 0; x < 32; x++) {
		snprintf(p, sizeof p, "%s.%d.text", path, x);
		const char *got = at(p);
		if (strcmp(got, "(none)") == 0)
			return false;
		if (strcmp(got, text) == 0)
			return true;
	}
	return false;
}

static bool slot5_blocked(void *arg)
{
	(void)arg;
	return fault_blocks_slot(5);
}

/* A level-3 fault (an unknown battery returned in a swap: test_swap_sim.c)
 * is a ticket on the staff panel, in the catalogue's words, until someone
 * takes it; then it is one of the faults, once. The view is pushed again
 * when the ticket changes. */
static void test_staff_ticket(void **state)
{
	static const char said[] =
		"An unidentified battery is locked in slot 5: the slot is out of service";

	(void)state;
	assert_string_equal(scan(TOKEN_SWAP, "rider-4711", "-"), "ok");
	wait_headline("Put your battery in slot 5");
	station_run_ms(1000);
	station_sim("{\"op\":\"open\",\"slot\":5}");
	station_run_ms(1000);
	station_sim("{\"op\":\"insert\",\"slot\":5,\"battery\":777}");
	station_sim("{\"op\":\"fault\",\"slot\":5,\"kind\":\"bms_nonsense\"}");
	if (!loop_run_until(slot5_blocked, NULL, 15000))
		fail_msg("no fault blocks slot 5");
	station_sim("{\"op\":\"close\",\"slot\":5}");
	assert_string_equal(scan(TOKEN_BADGE, "staff-17", "staff"), "ok");
	assert_string_equal(at("staff.tickets.0.id"), "F1");
	assert_string_equal(at("staff.tickets.0.text"), said);
	assert_string_equal(at("staff.tickets.1"), "(none)");
	assert_false(has_text("staff.faults", said));
	station_run_ms(3000);
	int64_t quiet = atoll(at("version"));
	station_run_ms(3000);
	assert_int_equal(atoll(at("version")), quiet);
	assert_int_equal(fault_ticket_ack("F1", "staff-17"), SW_OK);
	station_run_ms(10);
	assert_true(atoll(at("version")) > quiet);
	assert_string_equal(at("staff.tickets.0"), "(none)");
	assert_true(has_text("staff.faults", said));
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
		snprintf(path, sizeof path, "%s/%s", station_dir, cases[x].name);
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
	assert_string_equal(kiosk_text("fault.unknown_battery"),
			    "स्लॉट {slot} में एक अज्ञात बैटरी बंद है: स्लॉट सेवा से बाहर है");
	/* every fault code has its words for the staff panel */
	for (int c = 0; c < FAULT_CODE_COUNT; c++) {
		char key[64];
		snprintf(key, sizeof key, "fault.%s", fault_code_name((enum fault_code)c));
		if (!*kiosk_text(key))
			fail_msg("no \"%s\" in the catalogue's keys", key);
	}
	if (kiosk_text_load("daemon/kiosk/lang/en.json", why, sizeof why) != SW_OK)
		fail_msg("%s", why);
	assert_string_equal(at("text.join"), "Join the queue");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_swap_headline, setup, station_teardown),
		cmocka_unit_test_setup_teardown(test_scan_result_clears, setup, station_teardown),
		cmocka_unit_test_setup_teardown(test_join_and_queue, setup, station_teardown),
		cmocka_unit_test_setup_teardown(test_staff_session, setup, station_teardown),
		cmocka_unit_test_setup_teardown(test_staff_ticket, setup, station_teardown),
		cmocka_unit_test_setup_teardown(test_catalogue_errors, setup, station_teardown),
		cmocka_unit_test_setup_teardown(test_catalogues_complete, setup, station_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
