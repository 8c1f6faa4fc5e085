/* Slot logic: safety cut-offs, master-lost watchdog, register image. */
#include "firmware/slot.h"

#include <string.h>

const struct slot_field slot_fields[] = {
	{ "present", 4, SLOT_IN_PRESENT, SLOT_U16, 0 },
	{ "door", 4, SLOT_IN_DOOR, SLOT_U16, 0 },
	{ "lock", 4, SLOT_IN_LOCK, SLOT_U16, 0 },
	{ "state", 4, SLOT_IN_STATE, SLOT_U16, 0 },
	{ "fault_bits", 4, SLOT_IN_FAULTS, SLOT_U16, 0 },
	{ "battery_id", 4, SLOT_IN_BATTERY_ID, SLOT_U64, 0 },
	{ "fw_version", 4, SLOT_IN_FW_VERSION, SLOT_U16, 0 },
	{ "voltage", 4, SLOT_IN_VOLTAGE, SLOT_U16, -2 },
	{ "current", 4, SLOT_IN_CURRENT, SLOT_S16, -2 },
	{ "temperature", 4, SLOT_IN_TEMPERATURE, SLOT_S16, -1 },
	{ "soc", 4, SLOT_IN_SOC, SLOT_U16, -1 },
	{ "soh", 4, SLOT_IN_SOH, SLOT_U16, -1 },
	{ "cycles", 4, SLOT_IN_CYCLES, SLOT_U32, 0 },
	{ "resistance", 4, SLOT_IN_RESISTANCE, SLOT_U16, -1 },
	{ "cell_min", 4, SLOT_IN_CELL_MIN, SLOT_U16, -3 },
	{ "cell_max", 4, SLOT_IN_CELL_MAX, SLOT_U16, -3 },
	{ "lock_cmd", 3, SLOT_HR_LOCK, SLOT_U16, 0 },
	{ "charge_enable", 3, SLOT_HR_CHARGE, SLOT_U16, 0 },
	{ "current_limit", 3, SLOT_HR_CURRENT_LIMIT, SLOT_U16, -1 },
	{ "heartbeat", 3, SLOT_HR_HEARTBEAT, SLOT_U16, 0 },
	{ "watchdog_s", 3, SLOT_HR_WATCHDOG, SLOT_U16, 0 },
	{ "fault_reset", 3, SLOT_HR_FAULT_RESET, SLOT_U16, 0 },
};
const size_t slot_field_count = sizeof(slot_fields) / sizeof(slot_fields[0]);

/* Faults that cut charging. */
#define CUT_FAULTS (SLOT_FAULT_OVER_TEMP | SLOT_FAULT_CELL_OV | SLOT_FAULT_MASTER_LOST | \
		    SLOT_FAULT_BMS_INVALID | SLOT_FAULT_CHARGER)

void slot_init(struct slot *s, uint32_t now_ms)
{
	memset(s, 0, sizeof(*s));
	s->hr[SLOT_HR_LOCK] = 1;
	s->hr[SLOT_HR_CURRENT_LIMIT] = SLOT_CURRENT_LIMIT_DEFAULT_DA;
	s->hr[SLOT_HR_WATCHDOG] = SLOT_WATCHDOG_DEFAULT_S;
	s->in[SLOT_IN_FW_VERSION] = SLOT_FW_VERSION;
	s->now_ms = now_ms;
	s->heard_ms = now_ms;
}

void slot_heard(struct slot *s, uint32_t now_ms)
{
	s->heard_ms = now_ms;
}

/* Values no BMS of a 10..100 V pack can honestly report. */
static bool bms_plausible(const struct slot_bms *b)
{
	return b->voltage_cv >= 1000 && b->voltage_cv <= 10000 &&
	       b->current_ca >= -20000 && b->current_ca <= 20000 &&
	       b->temperature_dc >= -400 && b->temperature_dc <= 1250 &&
	       b->soc_pm <= 1000 && b->soh_pm <= 1000 &&
	       b->cell_min_mv >= 1500 && b->cell_max_mv <= 5000 &&
	       b->cell_min_mv <= b->cell_max_mv;
}

/* Sets or clears bit in the fault word; a cut-off that becomes active also
 * clears charge_enable, so charging never resumes by itself afterwards: the
 * master has to enable it again once it has seen the fault. */
static void fault(struct slot *s, uint16_t bit, bool on)
{
	if (on && !(s->faults & bit) && (bit & CUT_FAULTS))
		s->hr[SLOT_HR_CHARGE] = 0;
	s->faults = on ? (uint16_t)(s->faults | bit) : (uint16_t)(s->faults & ~bit);
}

static void put_u64(uint16_t *r, uint64_t v)
{
	for (int i = 3; i >= 0; i--, v >>= 16)
		r[i] = (uint16_t)v;
}

static void update_registers(struct slot *s, const struct slot_sensors *in, bool charging)
{
	const struct slot_bms *b = &in->bms;
	bool bms = in->present && in->bms_ok;

	s->in[SLOT_IN_PRESENT] = in->present;
	s->in[SLOT_IN_DOOR] = in->door_open;
	s->in[SLOT_IN_LOCK] = in->lock_closed;
	s->in[SLOT_IN_FAULTS] = s->faults;
	if (s->faults & SLOT_FAULT_MASTER_LOST)
		s->in[SLOT_IN_STATE] = SLOT_STATE_SAFE;
	else if (s->faults)
		s->in[SLOT_IN_STATE] = SLOT_STATE_FAULT;
	else if (!in->present)
		s->in[SLOT_IN_STATE] = SLOT_STATE_EMPTY;
	else
		s->in[SLOT_IN_STATE] = charging ? SLOT_STATE_CHARGING : SLOT_STATE_IDLE;

	/* Without a battery or an answering BMS the measurements read 0: a
	 * stale value would look like a live one. */
	put_u64(&s->in[SLOT_IN_BATTERY_ID], bms ? b->id : 0);
	s->in[SLOT_IN_VOLTAGE] = bms ? b->voltage_cv : 0;
	s->in[SLOT_IN_CURRENT] = bms ? (uint16_t)b->current_ca : 0;
	s->in[SLOT_IN_TEMPERATURE] = bms ? (uint16_t)b->temperature_dc : 0;
	s->in[SLOT_IN_SOC] = bms ? b->soc_pm : 0;
	s->in[SLOT_IN_SOH] = bms ? b->soh_pm : 0;
	s->in[SLOT_IN_CYCLES] = bms ? (uint16_t)(b->cycles >> 16) : 0;
	s->in[SLOT_IN_CYCLES + 1] = bms ? (uint16_t)b->cycles : 0;
	s->in[SLOT_IN_RESISTANCE] = bms ? b->resistance_dmo : 0;
	s->in[SLOT_IN_CELL_MIN] = bms ? b->cell_min_mv : 0;
	s->in[SLOT_IN_CELL_MAX] = bms ? b->cell_max_mv : 0;
}

void slot_tick(struct slot *s, uint32_t now_ms, const struct slot_sensors *in,
	       struct slot_outputs *out)
{
	const struct slot_bms *b = &in->bms;
	bool bms_valid = in->present && in->bms_ok && bms_plausible(b);

	s->now_ms = now_ms;

	/* Master-lost: the safe state is taken once, on the transition, so a
	 * master that comes back may unlock again before acknowledging. */
	if (!(s->faults & SLOT_FAULT_MASTER_LOST) &&
	    now_ms - s->heard_ms >= (uint32_t)s->hr[SLOT_HR_WATCHDOG] * 1000u) {
		fault(s, SLOT_FAULT_MASTER_LOST, true);
		s->hr[SLOT_HR_LOCK] = 1;
	}

	/* The cut-offs trust only a valid BMS; an invalid one cuts by itself.
	 * Hysteresis keeps a value sitting on the threshold from toggling. */
	fault(s, SLOT_FAULT_BMS_INVALID, in->present && !bms_valid);
	if (bms_valid) {
		if (b->temperature_dc >= SLOT_TEMP_CUT_DC)
			fault(s, SLOT_FAULT_OVER_TEMP, true);
		else if (b->temperature_dc < SLOT_TEMP_CLEAR_DC)
			fault(s, SLOT_FAULT_OVER_TEMP, false);
		if (b->cell_max_mv >= SLOT_CELL_CUT_MV)
			fault(s, SLOT_FAULT_CELL_OV, true);
		else if (b->cell_max_mv < SLOT_CELL_CLEAR_MV)
			fault(s, SLOT_FAULT_CELL_OV, false);
	} else {
		fault(s, SLOT_FAULT_OVER_TEMP, false);
		fault(s, SLOT_FAULT_CELL_OV, false);
	}

	/* The charger's fault is latched: a line that flickers must not let
	 * charging resume unseen; the master resets it (fault_reset). */
	s->charger_line = in->charger_fault;
	if (in->charger_fault)
		fault(s, SLOT_FAULT_CHARGER, true);

	bool want_lock = s->hr[SLOT_HR_LOCK] != 0;
	if (want_lock == in->lock_closed) {
		s->lock_diff = false;
		fault(s, SLOT_FAULT_LOCK_STUCK, false);
	} else if (!s->lock_diff) {
		s->lock_diff = true;
		s->lock_diff_ms = now_ms;
	} else if (now_ms - s->lock_diff_ms >= SLOT_LOCK_STUCK_MS) {
		fault(s, SLOT_FAULT_LOCK_STUCK, true);
	}

	bool charging = in->present && s->hr[SLOT_HR_CHARGE] && !in->door_open &&
			in->lock_closed && !(s->faults & CUT_FAULTS);
	out->charger_on = charging;
	out->current_limit_da = charging ? s->hr[SLOT_HR_CURRENT_LIMIT] : 0;
	out->lock = want_lock;
	update_registers(s, in, charging);
}

static uint8_t slot_read(void *ctx, enum mb_table t, uint16_t addr, uint16_t qty, uint16_t *out)
{
	struct slot *s = ctx;
	const uint16_t *regs = t == MB_INPUT ? s->in : s->hr;
	uint32_t count = t == MB_INPUT ? SLOT_IN_COUNT : SLOT_HR_COUNT;

	if ((uint32_t)addr + qty > count)
		return MB_EX_ILLEGAL_ADDRESS;
	memcpy(out, regs + addr, qty * sizeof(*out));
	return MB_EX_NONE;
}

static bool value_ok(uint16_t reg, uint16_t v)
{
	switch (reg) {
	case SLOT_HR_LOCK:
	case SLOT_HR_CHARGE:
	case SLOT_HR_FAULT_RESET:
		return v <= 1;
	case SLOT_HR_CURRENT_LIMIT:
		return v <= SLOT_CURRENT_LIMIT_MAX_DA;
	case SLOT_HR_WATCHDOG:
		return v >= 1 && v <= SLOT_WATCHDOG_MAX_S;
	default:
		return true;
	}
}

static uint8_t slot_write(void *ctx, uint16_t addr, uint16_t qty, const uint16_t *val)
{
	struct slot *s = ctx;

	if ((uint32_t)addr + qty > SLOT_HR_COUNT)
		return MB_EX_ILLEGAL_ADDRESS;
	for (uint16_t i = 0; i < qty; i++)
		if (!value_ok((uint16_t)(addr + i), val[i]))
			return MB_EX_ILLEGAL_VALUE;
	for (uint16_t i = 0; i < qty; i++) {
		uint16_t reg = (uint16_t)(addr + i);
		if (reg == SLOT_HR_FAULT_RESET) {
			/* A command, not a setting: it reads 0. Only a latch
			 * whose condition is gone clears; a charger still
			 * faulty stays latched. */
			if (val[i] && !s->charger_line)
				s->faults &= (uint16_t)~SLOT_FAULT_CHARGER;
			continue;
		}
		s->hr[reg] = val[i];
		/* Writing the heartbeat is the master's acknowledgement that
		 * it is back: the latched master-lost flag clears. */
		if (reg == SLOT_HR_HEARTBEAT)
			s->faults &= (uint16_t)~SLOT_FAULT_MASTER_LOST;
	}
	s->in[SLOT_IN_FAULTS] = s->faults;
	return MB_EX_NONE;
}

const struct mb_slave_backend slot_backend = { slot_read, slot_write };
