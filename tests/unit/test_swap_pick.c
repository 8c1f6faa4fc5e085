/* The swap's choices (daemon/swap_pick.c) on made-up racks: the empty slot
 * for the returned battery, the charged battery to hand out (healthiest
 * first, never less charge than came in when more is there), and what a
 * returned battery is. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "daemon/swap_pick.h"

#define MIN_SOC 95

static struct swap_slot_view empty(void)
{
	return (struct swap_slot_view){ .online = true, .locked = true };
}

static struct swap_slot_view charged(uint64_t id, double soc, double soh)
{
	return (struct swap_slot_view){ .online = true, .locked = true, .present = true,
					.identified = true, .battery = id, .soc = soc, .soh = soh };
}

static void test_pick_in(void **state)
{
	struct swap_slot_view v[6] = { charged(1, 99, 90), empty(), empty(), empty(), empty(), empty() };

	(void)state;
	assert_int_equal(swap_pick_in(v, 6), 1);
	v[1].held = true;             /* in another swap */
	v[2].door_open = true;        /* not closed */
	v[3].locked = false;          /* not locked */
	v[4].out_of_service = true;
	assert_int_equal(swap_pick_in(v, 6), 5);
	v[5].blocked = true;          /* an open fault blocks it */
	assert_int_equal(swap_pick_in(v, 6), -1);
	v[5].blocked = false;
	v[5].alarm = true;            /* its door was left open */
	assert_int_equal(swap_pick_in(v, 6), -1);
	v[5] = empty();
	v[5].fault = true;
	assert_int_equal(swap_pick_in(v, 6), -1);
	v[5] = empty();
	v[5].online = false;
	assert_int_equal(swap_pick_in(v, 6), -1);
	v[4].out_of_service = false;
	assert_int_equal(swap_pick_in(v, 6), 4);
}

static void test_pick_out_healthiest(void **state)
{
	struct swap_slot_view v[5] = {
		charged(1, 99, 88), charged(2, 96, 95), charged(3, 100, 95), charged(4, 94, 99), empty(),
	};

	(void)state;
	/* 4 is not charged enough; 2 and 3 equally healthy, 3 fuller */
	assert_int_equal(swap_pick_out(v, 5, MIN_SOC, -1), 2);
	assert_int_equal(swap_pick_charged(v, 5, MIN_SOC), 3);
	v[2].quarantined = true;
	assert_int_equal(swap_pick_out(v, 5, MIN_SOC, -1), 1);
	v[1].blocked = true;
	assert_int_equal(swap_pick_out(v, 5, MIN_SOC, -1), 0);
	v[1].blocked = false;
	v[1].held = true;
	assert_int_equal(swap_pick_out(v, 5, MIN_SOC, -1), 0);
	v[0].door_open = true;
	assert_int_equal(swap_pick_out(v, 5, MIN_SOC, -1), -1);
	assert_int_equal(swap_pick_charged(v, 5, MIN_SOC), 0);
	/* an unidentified battery, or one without an id, is never handed out */
	struct swap_slot_view w[2] = { charged(0, 99, 99), charged(7, 99, 99) };
	w[1].identified = false;
	assert_int_equal(swap_pick_out(w, 2, MIN_SOC, -1), -1);
}

/* Never less charge than the rider brought, when more is there. */
static void test_pick_out_not_less_than_returned(void **state)
{
	struct swap_slot_view v[3] = { charged(1, 95.5, 99), charged(2, 98, 90), empty() };

	(void)state;
	assert_int_equal(swap_pick_out(v, 3, MIN_SOC, -1), 0);
	assert_int_equal(swap_pick_out(v, 3, MIN_SOC, 97), 1);
	/* none has as much: the healthiest after all */
	assert_int_equal(swap_pick_out(v, 3, MIN_SOC, 99), 0);
	/* the first pick (0, held by this swap) is worse than what came in,
	 * and a better one is free: switch */
	v[0].held = true;
	assert_int_equal(swap_pick_recheck(v, 3, 0, MIN_SOC, 97), 1);
	assert_int_equal(swap_pick_recheck(v, 3, 0, MIN_SOC, 95), 0);
	assert_int_equal(swap_pick_recheck(v, 3, 0, MIN_SOC, -1), 0);
	/* no better one free: keep it */
	v[1].held = true;
	assert_int_equal(swap_pick_recheck(v, 3, 0, MIN_SOC, 97), 0);
	/* the first pick is gone (taken by force, offline): another, or none */
	v[1].held = false;
	v[0].online = false;
	assert_int_equal(swap_pick_recheck(v, 3, 0, MIN_SOC, -1), 1);
	v[1].quarantined = true;
	assert_int_equal(swap_pick_recheck(v, 3, 0, MIN_SOC, -1), -1);
}

static void test_classify(void **state)
{
	struct swap_slot_view v = empty();

	(void)state;
	assert_int_equal(swap_pick_classify(&v, 75), SWAP_IN_EMPTY);
	v = charged(42, 30, 90);
	v.identified = false;
	assert_int_equal(swap_pick_classify(&v, 75), SWAP_IN_PENDING);
	v.identified = true;
	assert_int_equal(swap_pick_classify(&v, 75), SWAP_IN_KNOWN);
	v.soh = 74.9;
	assert_int_equal(swap_pick_classify(&v, 75), SWAP_IN_BAD);
	v.soh = 90;
	v.faults = 1u << RFLT_OVER_TEMP;
	assert_int_equal(swap_pick_classify(&v, 75), SWAP_IN_BAD);
	v.faults = 1u << RFLT_CELL_OV;
	assert_int_equal(swap_pick_classify(&v, 75), SWAP_IN_BAD);
	/* the slot's own faults say nothing about the battery */
	v.faults = 1u << RFLT_LOCK_STUCK;
	assert_int_equal(swap_pick_classify(&v, 75), SWAP_IN_KNOWN);
	v.faults = 1u << RFLT_BMS_INVALID;
	assert_int_equal(swap_pick_classify(&v, 75), SWAP_IN_UNKNOWN);
	v = charged(0, 0, 0);
	assert_int_equal(swap_pick_classify(&v, 75), SWAP_IN_UNKNOWN);
	/* nonsense without the flag (a profile that does not name the bit) */
	v = charged(42, 6553.5, 6553.5);
	assert_int_equal(swap_pick_classify(&v, 75), SWAP_IN_UNKNOWN);
	assert_int_equal(swap_pick_out(&v, 1, MIN_SOC, -1), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pick_in),
		cmocka_unit_test(test_pick_out_healthiest),
		cmocka_unit_test(test_pick_out_not_less_than_returned),
		cmocka_unit_test(test_classify),
	};
	return cmocka_run_group_tests_name("swap_pick", tests, NULL, NULL);
}
