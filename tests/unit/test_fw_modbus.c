/* The firmware's Modbus RTU slave: CRC, framing by silence, the four
 * function codes, exception codes, bad CRC / other unit / broadcast. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "firmware/mb_slave.h"

/* A backend of 10 input registers (100 + i) and 4 holding registers that
 * refuses values above 1000, as an application would. */
static uint16_t input[10], holding[4];
static int writes;

static uint8_t fake_read(void *ctx, enum mb_table t, uint16_t addr, uint16_t qty, uint16_t *out)
{
	(void)ctx;
	const uint16_t *r = t == MB_INPUT ? input : holding;
	size_t n = t == MB_INPUT ? 10 : 4;
	if ((size_t)addr + qty > n)
		return MB_EX_ILLEGAL_ADDRESS;
	memcpy(out, r + addr, qty * 2);
	return MB_EX_NONE;
}

static uint8_t fake_write(void *ctx, uint16_t addr, uint16_t qty, const uint16_t *val)
{
	(void)ctx;
	if ((size_t)addr + qty > 4)
		return MB_EX_ILLEGAL_ADDRESS;
	for (uint16_t i = 0; i < qty; i++)
		if (val[i] > 1000)
			return MB_EX_ILLEGAL_VALUE;
	memcpy(holding + addr, val, qty * 2);
	writes++;
	return MB_EX_NONE;
}

static const struct mb_slave_backend fake = { fake_read, fake_write };
static struct mb_slave m;

static int setup(void **state)
{
	(void)state;
	for (int i = 0; i < 10; i++)
		input[i] = (uint16_t)(100 + i);
	memset(holding, 0, sizeof(holding));
	writes = 0;
	mb_slave_init(&m, 7, 19200, &fake, NULL);
	return 0;
}

/* Appends the CRC to a frame of n bytes; returns the new length. */
static size_t seal(uint8_t *f, size_t n)
{
	uint16_t crc = mb_slave_crc16(f, n);
	f[n] = (uint8_t)crc;
	f[n + 1] = (uint8_t)(crc >> 8);
	return n + 2;
}

static size_t handle(const uint8_t *req, size_t n, uint8_t *resp, bool *heard)
{
	uint8_t f[MB_SLAVE_FRAME_MAX + 2];
	memcpy(f, req, n);
	return mb_slave_handle(&m, f, seal(f, n), resp, heard);
}

/* Checks that resp is exactly `want` plus a correct CRC. */
static void assert_reply(const uint8_t *resp, size_t n, const uint8_t *want, size_t wn)
{
	assert_int_equal(n, wn + 2);
	assert_memory_equal(resp, want, wn);
	assert_int_equal(mb_slave_crc16(resp, wn), resp[wn] | resp[wn + 1] << 8);
}

static void test_crc_vectors(void **state)
{
	(void)state;
	/* The check value of CRC-16/MODBUS, and the serial line spec's
	 * example request 01 03 00 00 00 0A whose CRC bytes are C5 CD. */
	assert_int_equal(mb_slave_crc16((const uint8_t *)"123456789", 9), 0x4B37);
	const uint8_t req[] = { 0x01, 0x03, 0x00, 0x00, 0x00, 0x0A };
	assert_int_equal(mb_slave_crc16(req, sizeof(req)), 0xCDC5);
	assert_int_equal(mb_slave_crc16(req, 0), 0xFFFF);
}

static void test_t35(void **state)
{
	(void)state;
	assert_int_equal(mb_slave_t35_us(9600), 4011);
	assert_int_equal(mb_slave_t35_us(19200), 2006);
	assert_int_equal(mb_slave_t35_us(38400), 1750);
	assert_int_equal(mb_slave_t35_us(115200), 1750);
}

static void test_read_input(void **state)
{
	(void)state;
	uint8_t resp[MB_SLAVE_FRAME_MAX];
	bool heard;
	const uint8_t req[] = { 7, 4, 0, 2, 0, 3 };
	const uint8_t want[] = { 7, 4, 6, 0, 102, 0, 103, 0, 104 };
	assert_reply(resp, handle(req, sizeof(req), resp, &heard), want, sizeof(want));
	assert_true(heard);
}

static void test_read_holding(void **state)
{
	(void)state;
	uint8_t resp[MB_SLAVE_FRAME_MAX];
	bool heard;
	holding[3] = 0xBEEF;
	const uint8_t req[] = { 7, 3, 0, 3, 0, 1 };
	const uint8_t want[] = { 7, 3, 2, 0xBE, 0xEF };
	assert_reply(resp, handle(req, sizeof(req), resp, &heard), want, sizeof(want));
}

struct ex_case {
	uint8_t req[16];
	size_t n;
	uint8_t code;
};

static void test_exceptions(void **state)
{
	(void)state;
	static const struct ex_case cases[] = {
		/* function codes nobody implemented here: 01, 05, 0x2B */
		{ { 7, 1, 0, 0, 0, 1 }, 6, MB_EX_ILLEGAL_FUNCTION },
		{ { 7, 5, 0, 0, 0xFF, 0 }, 6, MB_EX_ILLEGAL_FUNCTION },
		{ { 7, 0x2B, 0x0E, 1, 0 }, 5, MB_EX_ILLEGAL_FUNCTION },
		/* past the end of the map, and wrapping past 0xFFFF */
		{ { 7, 4, 0, 8, 0, 3 }, 6, MB_EX_ILLEGAL_ADDRESS },
		{ { 7, 3, 0xFF, 0xFF, 0, 2 }, 6, MB_EX_ILLEGAL_ADDRESS },
		{ { 7, 6, 0, 4, 0, 1 }, 6, MB_EX_ILLEGAL_ADDRESS },
		{ { 7, 16, 0, 3, 0, 2, 4, 0, 1, 0, 2 }, 11, MB_EX_ILLEGAL_ADDRESS },
		/* quantity 0 and 126 (the limit is 125), bad length */
		{ { 7, 3, 0, 0, 0, 0 }, 6, MB_EX_ILLEGAL_VALUE },
		{ { 7, 4, 0, 0, 0, 126 }, 6, MB_EX_ILLEGAL_VALUE },
		{ { 7, 3, 0, 0, 0 }, 5, MB_EX_ILLEGAL_VALUE },
		/* 16: byte count disagrees with quantity, or with the frame */
		{ { 7, 16, 0, 0, 0, 2, 2, 0, 1 }, 9, MB_EX_ILLEGAL_VALUE },
		{ { 7, 16, 0, 0, 0, 1, 2, 0 }, 8, MB_EX_ILLEGAL_VALUE },
		{ { 7, 16, 0, 0, 0, 124, 248 }, 7, MB_EX_ILLEGAL_VALUE },
		/* a value the application refuses */
		{ { 7, 6, 0, 1, 0x03, 0xE9 }, 6, MB_EX_ILLEGAL_VALUE },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint8_t resp[MB_SLAVE_FRAME_MAX];
		bool heard;
		const uint8_t want[] = { 7, (uint8_t)(cases[i].req[1] | 0x80), cases[i].code };
		print_message("case %zu\n", i);
		assert_reply(resp, handle(cases[i].req, cases[i].n, resp, &heard), want, 3);
		assert_true(heard);
	}
	assert_int_equal(writes, 0);
}

static void test_write_single(void **state)
{
	(void)state;
	uint8_t resp[MB_SLAVE_FRAME_MAX];
	bool heard;
	const uint8_t req[] = { 7, 6, 0, 2, 0x01, 0xF4 };
	assert_reply(resp, handle(req, sizeof(req), resp, &heard), req, sizeof(req));
	assert_int_equal(holding[2], 500);
}

static void test_write_multiple(void **state)
{
	(void)state;
	uint8_t resp[MB_SLAVE_FRAME_MAX];
	bool heard;
	const uint8_t req[] = { 7, 16, 0, 1, 0, 3, 6, 0, 1, 0, 2, 0x03, 0xE8 };
	const uint8_t want[] = { 7, 16, 0, 1, 0, 3 };
	assert_reply(resp, handle(req, sizeof(req), resp, &heard), want, sizeof(want));
	assert_int_equal(holding[1], 1);
	assert_int_equal(holding[2], 2);
	assert_int_equal(holding[3], 1000);

	/* one bad value: nothing written */
	const uint8_t bad[] = { 7, 16, 0, 0, 0, 2, 4, 0, 9, 0x03, 0xE9 };
	const uint8_t ex[] = { 7, 0x90, 3 };
	assert_reply(resp, handle(bad, sizeof(bad), resp, &heard), ex, sizeof(ex));
	assert_int_equal(holding[0], 0);
}

static void test_silent_ignores(void **state)
{
	(void)state;
	uint8_t f[16], resp[MB_SLAVE_FRAME_MAX];
	bool heard = true;
	const uint8_t req[] = { 7, 6, 0, 0, 0, 5 };

	/* every single-bit error in any byte, CRC included, is ignored */
	for (size_t byte = 0; byte < 8; byte++)
		for (int bit = 0; bit < 8; bit++) {
			memcpy(f, req, 6);
			seal(f, 6);
			f[byte] ^= (uint8_t)(1 << bit);
			assert_int_equal(mb_slave_handle(&m, f, 8, resp, &heard), 0);
			assert_false(heard);
		}
	/* another unit, and frames too short to hold a CRC */
	const uint8_t other[] = { 8, 6, 0, 0, 0, 5 };
	assert_int_equal(handle(other, sizeof(other), resp, &heard), 0);
	assert_false(heard);
	assert_int_equal(mb_slave_handle(&m, f, 3, resp, &heard), 0);
	assert_int_equal(mb_slave_handle(&m, f, 0, resp, &heard), 0);
	assert_int_equal(writes, 0);
}

static void test_broadcast(void **state)
{
	(void)state;
	uint8_t resp[MB_SLAVE_FRAME_MAX];
	bool heard;
	const uint8_t wr[] = { 0, 6, 0, 0, 0, 42 };
	assert_int_equal(handle(wr, sizeof(wr), resp, &heard), 0);
	assert_true(heard);
	assert_int_equal(holding[0], 42);
	const uint8_t wm[] = { 0, 16, 0, 1, 0, 1, 2, 0, 9 };
	assert_int_equal(handle(wm, sizeof(wm), resp, &heard), 0);
	assert_int_equal(holding[1], 9);
	/* reads and errors are not answered to a broadcast either */
	const uint8_t rd[] = { 0, 3, 0, 0, 0, 1 };
	assert_int_equal(handle(rd, sizeof(rd), resp, &heard), 0);
	const uint8_t bad[] = { 0, 6, 0, 9, 0, 1 };
	assert_int_equal(handle(bad, sizeof(bad), resp, &heard), 0);
}

static void feed(const uint8_t *f, size_t n, uint32_t t, uint32_t step)
{
	for (size_t i = 0; i < n; i++)
		mb_slave_rx(&m, f[i], t + (uint32_t)i * step);
}

static void test_framing(void **state)
{
	(void)state;
	uint8_t f[16], resp[MB_SLAVE_FRAME_MAX];
	bool heard;
	const uint8_t req[] = { 7, 4, 0, 0, 0, 1 };
	size_t n;
	uint32_t due;

	memcpy(f, req, 6);
	n = seal(f, 6);
	/* bytes 500 us apart, starting just below the 32-bit wrap */
	uint32_t t0 = 0xFFFFF000u;
	feed(f, n, t0, 500);
	uint32_t last = t0 + 7 * 500;
	assert_true(mb_slave_pending(&m, &due));
	assert_int_equal(due, last + 2006);
	assert_false(mb_slave_frame_done(&m, last + 2005));
	/* asked before the last byte's own time (rack-sim stamps a byte
	 * with the end of its time on the line): no silence yet */
	assert_false(mb_slave_frame_done(&m, last - 1));
	assert_false(mb_slave_frame_done(&m, t0));
	assert_true(mb_slave_frame_done(&m, last + 2006));
	assert_int_equal(mb_slave_take(&m, resp, &heard), 7);
	assert_true(heard);
	assert_false(mb_slave_pending(&m, &due));

	/* a frame cut by a t3.5 gap: the first part is dropped, the rest
	 * alone fails its CRC */
	feed(f, 3, 1000, 100);
	feed(f + 3, n - 3, 1000 + 200 + 2006, 100);
	assert_int_equal(mb_slave_take(&m, resp, &heard), 0);
	assert_false(heard);

	/* more than 256 bytes without a gap: dropped whole */
	for (int i = 0; i < 300; i++)
		mb_slave_rx(&m, f[i % n], 50000 + (uint32_t)i);
	assert_int_equal(mb_slave_take(&m, resp, &heard), 0);
	assert_false(heard);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_crc_vectors, setup),
		cmocka_unit_test_setup(test_t35, setup),
		cmocka_unit_test_setup(test_read_input, setup),
		cmocka_unit_test_setup(test_read_holding, setup),
		cmocka_unit_test_setup(test_exceptions, setup),
		cmocka_unit_test_setup(test_write_single, setup),
		cmocka_unit_test_setup(test_write_multiple, setup),
		cmocka_unit_test_setup(test_silent_ignores, setup),
		cmocka_unit_test_setup(test_broadcast, setup),
		cmocka_unit_test_setup(test_framing, setup),
	};
	return cmocka_run_group_tests_name("fw_modbus", tests, NULL, NULL);
}
