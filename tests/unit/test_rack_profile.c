/* Register profiles: a table of bad profiles and the one message each must
 * produce, above all those whose scale or offset would change what a
 * command means to the controller; inversion of 0/1 fields; the shipped
 * profiles. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "daemon/config.h"
#include "drivers/rack_profile.h"

/* field NAME as a u16 at ADDR of function code FC, with more keys first */
#define F(name, fc, addr, extra) \
	"\"" name "\":{" extra "\"fc\":" #fc ",\"addr\":" #addr ",\"type\":\"u16\"}"
/* the required fields but door, lock_cmd and charge_enable */
#define REQ F("present", 4, 0, "") "," F("lock", 4, 2, "") "," \
	F("fault_bits", 4, 4, "") ",\"battery_id\":{\"fc\":4,\"addr\":5,\"type\":\"u64\"}," \
	F("voltage", 4, 10, "") "," F("current", 4, 11, "") "," F("temperature", 4, 12, "") "," \
	F("soc", 4, 13, "") ","
#define DOOR(extra) F("door", 4, 1, extra)
#define LOCK_CMD(extra) F("lock_cmd", 3, 0, extra)
#define CHARGE(extra) F("charge_enable", 3, 1, extra)
/* a whole profile: the required fields with these three, then more */
#define PROF(door, lock_cmd, charge, more) \
	"{\"profile\":\"t\",\"fields\":{" REQ DOOR(door) "," LOCK_CMD(lock_cmd) "," \
	CHARGE(charge) more "}}"

struct bad {
	const char *json;
	const char *message;
};

static const struct bad bad_profiles[] = {
	/* issue 9: "charge 1 off" answered ok while the charger stayed on */
	{ PROF("", "", "\"offset\":-1,", ""),
	  "fields.charge_enable: scale 1 and offset -1 write 0 as register value 1 and 1 as 2; 0 must be written as 0 and 1 as non-zero (\"invert\": true inverts a 0/1 field)" },
	{ PROF("", "\"scale\":-1,\"offset\":1,", "", ""),
	  "fields.lock_cmd: scale -1 and offset 1 write 0 as register value 1 and 1 as 0; 0 must be written as 0 and 1 as non-zero (\"invert\": true inverts a 0/1 field)" },
	{ PROF("", "\"scale\":2,", "", ""),
	  "fields.lock_cmd: 1 is no exact u16 value with scale 2 and offset 0; swapd writes 0 and 1" },
	{ PROF("", "", "\"offset\":-70000,", ""),
	  "fields.charge_enable: 0 is no exact u16 value with scale 1 and offset -70000; swapd writes 0 and 1" },
	/* issue 9: 119 failed heartbeat writes in 24 s */
	{ PROF("", "", "", "," F("heartbeat", 3, 3, "\"scale\":0.001,")),
	  "fields.heartbeat: 66 is no exact u16 value with scale 0.001 and offset 0; swapd writes a counter 0..9999" },
	{ PROF("", "", "", "," F("heartbeat", 3, 3, "\"scale\":2,")),
	  "fields.heartbeat: 1 is no exact u16 value with scale 2 and offset 0; swapd writes a counter 0..9999" },
	{ PROF("", "", "", "," F("watchdog_s", 3, 4, "\"scale\":0.001,")),
	  "fields.watchdog_s: 66 is no exact u16 value with scale 0.001 and offset 0; swapd writes rack.watchdog_s, 1..3600 s" },
	{ PROF("", "", "", "," F("current_limit", 3, 2, "\"scale\":0.0001,")),
	  "fields.current_limit: 7 is no exact u16 value with scale 0.0001 and offset 0; swapd writes 0..50 A" },
	/* issue 9: a negative scale showed an open door as closed */
	{ PROF("\"scale\":-1,", "", "", ""),
	  "fields.door: scale -1 and offset 0 read register 0 as 0 and 1 as -1, not as 0 and 1 (\"invert\": true inverts a 0/1 field)" },
	{ PROF("\"invert\":true,\"scale\":-1,", "", "", ""),
	  "fields.door: \"invert\" takes the place of scale and offset; leave them out" },
	{ PROF("\"invert\":1,", "", "", ""),
	  "fields.door.invert: only a 0/1 field (present, door, lock, lock_cmd, charge_enable) takes true or false" },
	{ PROF("", "", "", "," F("soh", 4, 14, "\"invert\":true,")),
	  "fields.soh.invert: only a 0/1 field (present, door, lock, lock_cmd, charge_enable) takes true or false" },
	/* one line per problem: a bad type once gave three */
	{ PROF("", "", "", ",\"soh\":{\"fc\":4,\"addr\":14,\"type\":\"u17\"}"),
	  "fields.soh.type: \"u17\" is not one of u16, s16, u32, s32, u64" },
	{ "{\"profile\":\"t\",\"fields\":{" REQ LOCK_CMD("") "," CHARGE("") ","
	  "\"door\":{\"fc\":5,\"addr\":1,\"type\":\"u16\"}}}",
	  "fields.door.fc: 5 is not 3 (holding) or 4 (input)" },
	{ PROF("", "", "", "," F("soh", 4, 14, "\"scale\":0,")),
	  "fields.soh.scale: 0 is not a non-zero number" },
	/* fault bits within the register's width */
	{ "{\"profile\":\"t\",\"fault_bits\":{\"over_temp\":16},\"fields\":{" REQ DOOR("") ","
	  LOCK_CMD("") "," CHARGE("") "}}",
	  "fault_bits.over_temp: bit 16 is beyond the 16 bits of fields.fault_bits (u16)" },
	/* addresses are 0-based and a value must end by 65535 */
	{ PROF("", "", "", ",\"soh\":{\"fc\":4,\"addr\":70000,\"type\":\"u16\"}"),
	  "fields.soh.addr: 70000 is not a 0-based register address 0..65535" },
	{ PROF("", "", "", ",\"cycles\":{\"fc\":4,\"addr\":65535,\"type\":\"u32\"}"),
	  "fields.cycles: a u32 at 65535 runs past register 65535 (the last address a u32 can start at is 65534)" },
	/* duplicate keys, as in every file swapd reads */
	{ PROF("", "", "", ",\"soh\":{\"fc\":4,\"addr\":14,\"addr\":15,\"type\":\"u16\"}"),
	  "fields.soh.addr: duplicate key" },
	{ "{\"profile\":\"t\",\n \"fields\":{,}}", "t.json:2:12: JSON syntax error: quoted object property name expected" },
};

static void test_bad_profiles(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof bad_profiles / sizeof bad_profiles[0]; i++) {
		static struct rack_profile p;
		static struct config_errors errs;
		const struct bad *b = &bad_profiles[i];
		int rc = rack_profile_parse(b->json, strlen(b->json), "t.json", &p, &errs);
		if (rc != -1 || errs.n != 1 || strcmp(errs.msg[0], b->message) != 0)
			fail_msg("profile %zu: %s\n  want: %s\n  got:  %s (rc %d, %zu errors)", i, b->json,
				 b->message, errs.n ? errs.msg[0] : "(none)", rc, errs.n);
	}
}

/* "invert": true reads register 0 as 1 and writes 1 as register 0. */
static void test_invert(void **state)
{
	const char *json = PROF("\"invert\":true,", "\"invert\":true,", "", "");
	static struct rack_profile p;
	static struct config_errors errs;
	uint16_t regs[4];

	(void)state;
	if (rack_profile_parse(json, strlen(json), "t.json", &p, &errs) != 0)
		fail_msg("%s", errs.msg[0]);
	assert_true(rack_profile_scale(&p, RF_DOOR, 0) == 1);
	assert_true(rack_profile_scale(&p, RF_DOOR, 1) == 0);
	assert_true(rack_profile_scale(&p, RF_DOOR, 7) == 0);
	assert_int_equal(rack_profile_unscale(&p, RF_LOCK_CMD, 1, regs), 1);
	assert_int_equal(regs[0], 0);
	assert_int_equal(rack_profile_unscale(&p, RF_LOCK_CMD, 0, regs), 1);
	assert_int_equal(regs[0], 1);
	assert_int_equal(rack_profile_unscale(&p, RF_LOCK_CMD, 2, regs), 0);
	assert_int_equal(rack_profile_unscale(&p, RF_CHARGE_ENABLE, 1, regs), 1);
	assert_int_equal(regs[0], 1);
}

/* A value is shown with the decimals of its scale and offset: vendor-b's
 * temperature (scale 0.01, offset -273.15) with 2, its voltage (0.001)
 * with 3; the default map's soh (0.1) with 1, and a scale of 1 still
 * with 1, so the value stays a double. */
static void test_decimals(void **state)
{
	static struct rack_profile p;
	static struct config_errors errs;

	(void)state;
	if (rack_profile_load("config/profiles/vendor-b.json", &p, &errs) != 0)
		fail_msg("%s", errs.msg[0]);
	assert_int_equal(rack_profile_decimals(&p, RF_TEMPERATURE), 2);
	assert_int_equal(rack_profile_decimals(&p, RF_VOLTAGE), 3);
	if (rack_profile_load("config/profiles/swapd-slot-v1.json", &p, &errs) != 0)
		fail_msg("%s", errs.msg[0]);
	assert_int_equal(rack_profile_decimals(&p, RF_SOH), 1);
	assert_int_equal(rack_profile_decimals(&p, RF_CELL_MIN), 3);
	assert_int_equal(rack_profile_decimals(&p, RF_CYCLES), 1);
	p.f[RF_SOH].scale = 0.25;
	assert_int_equal(rack_profile_decimals(&p, RF_SOH), 2);
	p.f[RF_SOH].scale = 1.0 / 3;
	assert_int_equal(rack_profile_decimals(&p, RF_SOH), 6);
}

/* The shipped profiles pass every check, and the one with a 32-bit
 * watchdog in ms writes each rack.watchdog_s exactly. */
static void test_shipped_profiles(void **state)
{
	static const char *const paths[] = {
		"config/profiles/swapd-slot-v1.json", "config/profiles/vendor-b.json",
	};
	static struct rack_profile p;
	static struct config_errors errs;
	uint16_t regs[4];

	(void)state;
	for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++)
		if (rack_profile_load(paths[i], &p, &errs) != 0)
			fail_msg("%s: %s", paths[i], errs.msg[0]);
	assert_int_equal(rack_profile_unscale(&p, RF_WATCHDOG_S, 3600, regs), 2);
	assert_int_equal(regs[0] | (uint32_t)regs[1] << 16, 3600000);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bad_profiles),
		cmocka_unit_test(test_invert),
		cmocka_unit_test(test_shipped_profiles),
		cmocka_unit_test(test_decimals),
	};
	return cmocka_run_group_tests_name("rack_profile", tests, NULL, NULL);
}
