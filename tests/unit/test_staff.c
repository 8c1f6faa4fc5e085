/* Staff badges (staff.c) on the simulated rack in simulated time, with a
 * real store and the token key k1: a badge scanned at the kiosk opens a
 * session that times out unless an action renews it, another badge
 * replaces it, the same badge scanned again ends it; a staff badge may quarantine a battery but not open a
 * slot; an admin badge opens one, which is locked again once its door
 * closed (or when nobody opens it), and a battery taken meanwhile went
 * with that staff member. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "daemon/fault.h"
#include "daemon/slots.h"
#include "daemon/store.h"
#include "drivers/rack.h"
#include "tests/unit/station_sim.h"

static int setup(void **state)
{
	(void)state;
	return station_setup(true);
}

/* The session's staff id, or "" with none. */
static const char *session_staff(void)
{
	static char id[40];
	json_object *r = station_command("staff-session", "{}"), *res, *v;

	id[0] = '\0';
	assert_true(json_object_object_get_ex(r, "result", &res));
	if (json_object_object_get_ex(res, "staff", &v) && v)
		snprintf(id, sizeof id, "%s", json_object_get_string(v));
	json_object_put(r);
	return id;
}

/* No session, no staff action. A badge opens one for staff.session_s,
 * each action renews it, and then it times out, audited throughout. */
static void test_session_and_timeout(void **state)
{
	const char *quarantine = "{\"battery\": \"42\", \"reason\": \"dented\"}";
	int64_t s = station_cfg.staff.session_s * 1000;

	(void)state;
	station_ready();
	station_put_in(1, 42, 95);
	assert_string_equal(station_error(station_command("staff-quarantine", quarantine)), "no_session");
	assert_string_equal(station_scan(TOKEN_BADGE, "staff-17", "staff", "scanner", NULL), "ok");
	assert_string_equal(session_staff(), "staff-17");
	assert_string_equal(station_sql("SELECT who || ' ' || detail FROM audit"
					" WHERE what = 'staff-session'"),
			    "staff-17 role staff, badge badge-0001");

	station_run_ms(s / 2);
	assert_string_equal(station_error(station_command("staff-quarantine", quarantine)), "");
	station_run_ms(s - 1000); /* renewed at s/2: still open */
	assert_string_equal(session_staff(), "staff-17");
	station_run_ms(2000);
	assert_string_equal(session_staff(), "");
	assert_string_equal(station_sql("SELECT detail FROM audit WHERE what = 'staff-end'"), "timeout");
	assert_string_equal(station_error(station_command("staff-release",
							  "{\"battery\": \"42\", \"reason\": \"ok\"}")),
			    "no_session");

	/* the quarantine is recorded with the staff id */
	struct store_battery b = station_row(42);
	assert_true(b.quarantined);
	assert_string_equal(station_sql("SELECT who FROM audit WHERE what = 'battery-quarantine'"),
			    "staff-17");
	assert_string_equal(station_sql("SELECT json_extract(payload, '$.by') FROM outbox"
					" WHERE type = 'battery.quarantined'"), "staff-17");
}

/* A staff badge cannot open a slot; its refusal says why. Another badge
 * takes the kiosk over; staff-end ends the session, and so does the same
 * badge scanned again. */
static void test_roles_and_end(void **state)
{
	json_object *r, *v;

	(void)state;
	station_ready();
	assert_string_equal(station_scan(TOKEN_BADGE, "staff-17", "staff", "scanner", NULL), "ok");
	r = station_command("staff-open", "{\"slot\": 1}");
	assert_true(json_object_object_get_ex(r, "message", &v));
	assert_string_equal(json_object_get_string(v),
			    "staff-open needs an admin badge; staff-17's badge is staff");
	assert_string_equal(station_error(r), "not_permitted");
	assert_null(slots_holder(0, NULL));
	assert_true(rack_reading(0)->locked);

	assert_string_equal(station_scan(TOKEN_BADGE, "admin-1", "admin", "scanner", NULL), "ok");
	assert_string_equal(session_staff(), "admin-1");
	assert_string_equal(station_sql("SELECT who || ': ' || detail FROM audit WHERE what = 'staff-end'"),
			    "staff-17: another badge was scanned");
	/* a swap that is not in progress is not aborted; a staff badge may
	 * abort one (test_swap.py ends a stuck swap this way) */
	assert_string_equal(station_error(station_command("staff-abort",
							  "{\"swap\": 99, \"reason\": \"stuck\"}")),
			    "unknown_swap");
	assert_string_equal(station_error(station_command("staff-end", "{}")), "");
	assert_string_equal(session_staff(), "");
	assert_string_equal(station_error(station_command("staff-end", "{}")), "no_session");

	/* the same badge twice: signed in, then out */
	assert_string_equal(station_scan(TOKEN_BADGE, "admin-1", "admin", "scanner", NULL), "ok");
	assert_string_equal(session_staff(), "admin-1");
	assert_string_equal(station_scan(TOKEN_BADGE, "admin-1", "admin", "scanner", NULL), "ok");
	assert_string_equal(session_staff(), "");
	assert_string_equal(station_sql("SELECT detail FROM audit WHERE what = 'staff-end'"
					" ORDER BY rowid DESC LIMIT 1"), "badge scanned again");
	assert_string_equal(station_error(station_command("staff-abort",
							  "{\"swap\": 99, \"reason\": \"stuck\"}")),
			    "no_session");
}

/* An admin badge opens a slot: audited before the door moves, held while
 * open, locked again once the door closed; the battery taken went with
 * the admin. */
static void test_open_and_close(void **state)
{
	(void)state;
	station_ready();
	station_put_in(1, 42, 95);
	assert_string_equal(station_scan(TOKEN_BADGE, "admin-1", "admin", "scanner", NULL), "ok");
	assert_null(station_command("staff-open", "{\"slot\": 1}")); /* the reply comes later */
	assert_string_equal(station_sql("SELECT who || ': ' || detail FROM audit"
					" WHERE what = 'staff-open'"),
			    "admin-1: slot 1, at the kiosk (uid 0 pid 1)");
	assert_string_equal(slots_holder(0, NULL), "staff");
	assert_true(station_wait_bolt(0, false, 5000));
	assert_string_equal(station_error(station_command("staff-open", "{\"slot\": 1}")), "slot_busy");

	station_sim("{\"op\": \"open\", \"slot\": 1}");
	station_sim("{\"op\": \"remove\", \"slot\": 1}");
	station_run_ms(2000);
	assert_false(rack_reading(0)->locked); /* open: not locked on anyone */
	station_sim("{\"op\": \"close\", \"slot\": 1}");
	assert_true(station_wait_bolt(0, true, 5000));
	station_run_ms(1000);
	assert_null(slots_holder(0, NULL));
	struct store_battery b = station_row(42);
	assert_string_equal(b.place, "staff");
	assert_string_equal(b.holder, "admin-1");
	assert_int_equal(b.slot, 1);
}

/* A slot opened that nobody opens is locked again after
 * staff.open_timeout_s; a slot held by a swap, or none, is refused. */
static void test_open_timeout_and_refusals(void **state)
{
	(void)state;
	station_ready();
	assert_string_equal(station_scan(TOKEN_BADGE, "admin-1", "admin", "scanner", NULL), "ok");
	assert_int_equal(slots_hold(2, "swap", 5), SW_OK);
	assert_string_equal(station_error(station_command("staff-open", "{\"slot\": 3}")), "slot_busy");
	assert_string_equal(station_error(station_command("staff-open", "{\"slot\": 9}")),
			    "unknown_slot");
	assert_null(station_command("staff-open", "{\"slot\": 2}"));
	assert_true(station_wait_bolt(1, false, 5000));
	station_run_ms((station_cfg.staff.open_timeout_s - 2) * 1000);
	assert_false(rack_reading(1)->locked);
	assert_true(station_wait_bolt(1, true, 5000));
	station_run_ms(1000);
	assert_null(slots_holder(1, NULL));
}

/* A door staff opened whose lock sticks: lock_stuck once (level 3, so a
 * ticket), quiet retries every second while the slot stays held, and
 * the fault said gone once it locks, cleared after its time. */
static void test_lock_stuck(void **state)
{
	(void)state;
	station_start(STATION_FAULT);
	station_ready();
	assert_string_equal(station_scan(TOKEN_BADGE, "admin-1", "admin", "scanner", NULL), "ok");
	assert_null(station_command("staff-open", "{\"slot\": 2}"));
	assert_true(station_wait_bolt(1, false, 5000));
	station_sim("{\"op\": \"fault\", \"slot\": 2, \"kind\": \"stuck_lock\"}");
	station_run_ms((station_cfg.staff.open_timeout_s + 10) * 1000);
	assert_false(rack_reading(1)->locked);
	assert_string_equal(slots_holder(1, NULL), "staff");
	assert_true(fault_blocks_own_slot(2));
	assert_string_equal(station_sql("SELECT code || ' ' || slot || ' ' || level || ' '"
					" || (ticket_at IS NOT NULL) FROM faults"), "lock_stuck 2 3 1");
	assert_string_equal(station_sql("SELECT count(*) FROM outbox WHERE type = 'ticket.opened'"),
			    "1");
	station_sim("{\"op\": \"fault\", \"slot\": 2, \"kind\": \"clear\"}");
	assert_true(station_wait_bolt(1, true, 5000));
	station_run_ms(1000);
	assert_null(slots_holder(1, NULL));
	station_run_ms((int64_t)fault_rule(FAULT_LOCK_STUCK)->clear_after_s * 1000 + 1000);
	assert_false(fault_blocks_own_slot(2));
	assert_string_equal(station_sql("SELECT count(*) FROM faults WHERE cleared_at IS NULL"), "0");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_session_and_timeout, setup, station_teardown),
		cmocka_unit_test_setup_teardown(test_roles_and_end, setup, station_teardown),
		cmocka_unit_test_setup_teardown(test_open_and_close, setup, station_teardown),
		cmocka_unit_test_setup_teardown(test_open_timeout_and_refusals, setup, station_teardown),
		cmocka_unit_test_setup_teardown(test_lock_stuck, setup, station_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
