/* Modbus RTU slave: framing, CRC, and the four function codes. */
#include "firmware/mb_slave.h"

#include <string.h>

/* Application protocol v1.1b3 sections 6.3, 6.4 and 6.12. */
#define READ_QTY_MAX 125
#define WRITE_QTY_MAX 123

uint16_t mb_slave_crc16(const uint8_t *p, size_t n)
{
	uint16_t crc = 0xFFFF;

	/* Bitwise rather than the 512-byte table of the spec's appendix: the
	 * frames are short and flash is scarce. */
	while (n--) {
		crc ^= *p++;
		for (int i = 0; i < 8; i++)
			crc = (crc & 1) ? (uint16_t)((crc >> 1) ^ 0xA001) : (uint16_t)(crc >> 1);
	}
	return crc;
}

uint32_t mb_slave_t35_us(uint32_t baud)
{
	if (baud == 0 || baud > 19200)
		return 1750;
	/* 3.5 characters * 11 bits, rounded up. */
	return (uint32_t)((38500000ULL + baud - 1) / baud);
}

void mb_slave_init(struct mb_slave *m, uint8_t unit, uint32_t baud,
		   const struct mb_slave_backend *be, void *ctx)
{
	memset(m, 0, sizeof(*m));
	m->unit = unit;
	m->t35_us = mb_slave_t35_us(baud);
	m->be = be;
	m->ctx = ctx;
}

/* Whether the line has been silent for t3.5 since the last byte at now_us.
 * Signed, so that a byte stamped later than now_us is no silence yet
 * rather than 71 minutes of it: the rack simulator stamps each byte with
 * the end of its time on the line, which is ahead of its clock. */
static bool t35_passed(const struct mb_slave *m, uint32_t now_us)
{
	return (int32_t)(now_us - m->last_us) >= (int32_t)m->t35_us;
}

/* The t1.5 inter-character rule of section 2.5.1.1 is not enforced: UARTs
 * with FIFOs, USB adapters, ptys and emulators all deliver bytes in bursts
 * whose spacing says nothing about the line, and a frame broken on the wire
 * fails its CRC anyway. */
void mb_slave_rx(struct mb_slave *m, uint8_t byte, uint32_t now_us)
{
	if (m->len > 0 && t35_passed(m, now_us)) {
		m->len = 0;
		m->overrun = false;
	}
	m->last_us = now_us;
	if (m->len < MB_SLAVE_FRAME_MAX)
		m->buf[m->len++] = byte;
	else
		m->overrun = true;
}

bool mb_slave_pending(const struct mb_slave *m, uint32_t *due_us)
{
	if (m->len == 0)
		return false;
	*due_us = m->last_us + m->t35_us;
	return true;
}

bool mb_slave_frame_done(const struct mb_slave *m, uint32_t now_us)
{
	return m->len > 0 && t35_passed(m, now_us);
}

size_t mb_slave_take(struct mb_slave *m, uint8_t *resp, bool *heard)
{
	size_t n = 0;

	*heard = false;
	if (!m->overrun)
		n = mb_slave_handle(m, m->buf, m->len, resp, heard);
	m->len = 0;
	m->overrun = false;
	return n;
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

/* 03 and 04 (sections 6.3, 6.4): the checks in the order of the spec's
 * state diagrams: quantity (03), then address range (02), then the read. */
static uint8_t do_read(struct mb_slave *m, enum mb_table t, const uint8_t *pdu, size_t plen,
		       uint8_t *rpdu, size_t *rlen)
{
	uint16_t regs[READ_QTY_MAX];

	if (plen != 5)
		return MB_EX_ILLEGAL_VALUE;
	uint16_t addr = get16(pdu + 1), qty = get16(pdu + 3);
	if (qty < 1 || qty > READ_QTY_MAX)
		return MB_EX_ILLEGAL_VALUE;
	if ((uint32_t)addr + qty > 0x10000)
		return MB_EX_ILLEGAL_ADDRESS;
	uint8_t ex = m->be->read(m->ctx, t, addr, qty, regs);
	if (ex != MB_EX_NONE)
		return ex;
	rpdu[1] = (uint8_t)(2 * qty);
	for (uint16_t i = 0; i < qty; i++)
		put16(rpdu + 2 + 2 * i, regs[i]);
	*rlen = 2 + 2u * qty;
	return MB_EX_NONE;
}

/* 06 (section 6.6): the reply echoes the request. */
static uint8_t do_write_single(struct mb_slave *m, const uint8_t *pdu, size_t plen,
			       uint8_t *rpdu, size_t *rlen)
{
	if (plen != 5)
		return MB_EX_ILLEGAL_VALUE;
	uint16_t val = get16(pdu + 3);
	uint8_t ex = m->be->write(m->ctx, get16(pdu + 1), 1, &val);
	if (ex != MB_EX_NONE)
		return ex;
	memcpy(rpdu, pdu, 5);
	*rlen = 5;
	return MB_EX_NONE;
}

/* 16 (section 6.12): quantity and byte count (03), address range (02). */
static uint8_t do_write_multiple(struct mb_slave *m, const uint8_t *pdu, size_t plen,
				 uint8_t *rpdu, size_t *rlen)
{
	uint16_t regs[WRITE_QTY_MAX];

	if (plen < 6)
		return MB_EX_ILLEGAL_VALUE;
	uint16_t addr = get16(pdu + 1), qty = get16(pdu + 3);
	uint8_t count = pdu[5];
	if (qty < 1 || qty > WRITE_QTY_MAX || count != 2 * qty || plen != 6u + count)
		return MB_EX_ILLEGAL_VALUE;
	if ((uint32_t)addr + qty > 0x10000)
		return MB_EX_ILLEGAL_ADDRESS;
	for (uint16_t i = 0; i < qty; i++)
		regs[i] = get16(pdu + 6 + 2 * i);
	uint8_t ex = m->be->write(m->ctx, addr, qty, regs);
	if (ex != MB_EX_NONE)
		return ex;
	memcpy(rpdu, pdu, 5);
	*rlen = 5;
	return MB_EX_NONE;
}

size_t mb_slave_handle(struct mb_slave *m, const uint8_t *f, size_t n, uint8_t *resp, bool *heard)
{
	*heard = false;
	/* Address, function code and CRC at least. */
	if (n < 4 || n > MB_SLAVE_FRAME_MAX)
		return 0;
	if (f[0] != m->unit && f[0] != MB_SLAVE_BROADCAST)
		return 0;
	if (mb_slave_crc16(f, n - 2) != (uint16_t)(f[n - 2] | f[n - 1] << 8))
		return 0;
	*heard = true;

	bool broadcast = f[0] == MB_SLAVE_BROADCAST;
	const uint8_t *pdu = f + 1;
	size_t plen = n - 3, rlen = 0;
	uint8_t *rpdu = resp + 1;
	uint8_t fc = pdu[0], ex;

	rpdu[0] = fc;
	switch (fc) {
	case MB_HOLDING:
	case MB_INPUT:
		/* Serial line v1.02 section 2.2: a broadcast is a write. */
		if (broadcast)
			return 0;
		ex = do_read(m, (enum mb_table)fc, pdu, plen, rpdu, &rlen);
		break;
	case 6:
		ex = do_write_single(m, pdu, plen, rpdu, &rlen);
		break;
	case 16:
		ex = do_write_multiple(m, pdu, plen, rpdu, &rlen);
		break;
	default:
		ex = MB_EX_ILLEGAL_FUNCTION;
		break;
	}
	if (broadcast)
		return 0;
	if (ex != MB_EX_NONE) {
		rpdu[0] = (uint8_t)(fc | 0x80);
		rpdu[1] = ex;
		rlen = 2;
	}
	resp[0] = m->unit;
	uint16_t crc = mb_slave_crc16(resp, 1 + rlen);
	resp[1 + rlen] = (uint8_t)crc;
	resp[2 + rlen] = (uint8_t)(crc >> 8);
	return 3 + rlen;
}
