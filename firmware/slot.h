/* The slot logic behind the registers: what the slot controller senses
 * (battery BMS, door, lock), what it drives (charger, lock actuator), the
 * safety cut-offs it enforces whatever the master says, and its register map
 * (firmware/REGISTERS.md). Pure logic: time and I/O come from the caller, so
 * the MCU and the rack simulator run exactly this code. */
#ifndef FIRMWARE_SLOT_H
#define FIRMWARE_SLOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "firmware/mb_slave.h"

/* Firmware version as served in register fw_version: major << 8 | minor. */
#define SLOT_FW_VERSION 0x0100

/* Input registers (function code 04). */
enum slot_input {
	/* fast group: polled every cycle */
	SLOT_IN_PRESENT = 0,
	SLOT_IN_DOOR = 1,
	SLOT_IN_LOCK = 2,
	SLOT_IN_STATE = 3,
	SLOT_IN_FAULTS = 4,
	/* identity */
	SLOT_IN_BATTERY_ID = 5, /* 4 words, high word first */
	SLOT_IN_FW_VERSION = 9,
	/* health group */
	SLOT_IN_VOLTAGE = 10,
	SLOT_IN_CURRENT = 11,
	SLOT_IN_TEMPERATURE = 12,
	SLOT_IN_SOC = 13,
	SLOT_IN_SOH = 14,
	SLOT_IN_CYCLES = 15, /* 2 words, high word first */
	SLOT_IN_RESISTANCE = 17,
	SLOT_IN_CELL_MIN = 18,
	SLOT_IN_CELL_MAX = 19,
	SLOT_IN_COUNT = 20,
};

/* Holding registers (function codes 03, 06, 16). */
enum slot_holding {
	SLOT_HR_LOCK = 0,
	SLOT_HR_CHARGE = 1,
	SLOT_HR_CURRENT_LIMIT = 2,
	SLOT_HR_HEARTBEAT = 3,
	SLOT_HR_WATCHDOG = 4,
	SLOT_HR_FAULT_RESET = 5, /* write 1: clear latched bits whose condition is gone; reads 0 */
	SLOT_HR_COUNT = 6,
};

/* Register fault_bits. */
enum slot_fault {
	SLOT_FAULT_OVER_TEMP = 1u << 0,    /* charging cut: >= 60.0 C, clears < 55.0 C */
	SLOT_FAULT_CELL_OV = 1u << 1,      /* charging cut: a cell >= 4.250 V, clears < 4.200 V */
	SLOT_FAULT_MASTER_LOST = 1u << 2,  /* safe state taken; latched until a heartbeat write */
	SLOT_FAULT_LOCK_STUCK = 1u << 3,   /* sensed lock != commanded for 2 s */
	SLOT_FAULT_BMS_INVALID = 1u << 4,  /* BMS silent or its values implausible: charging cut */
	SLOT_FAULT_CHARGER = 1u << 5,      /* the charger's fault line: charging cut; latched until
					    * a fault_reset write finds the line off */
};

/* Register state. */
enum slot_state {
	SLOT_STATE_EMPTY = 0,
	SLOT_STATE_IDLE = 1,
	SLOT_STATE_CHARGING = 2,
	SLOT_STATE_FAULT = 3,
	SLOT_STATE_SAFE = 4,
};

/* Safety thresholds and defaults. */
#define SLOT_TEMP_CUT_DC 600      /* 0.1 C */
#define SLOT_TEMP_CLEAR_DC 550
#define SLOT_CELL_CUT_MV 4250
#define SLOT_CELL_CLEAR_MV 4200
#define SLOT_LOCK_STUCK_MS 2000
#define SLOT_WATCHDOG_DEFAULT_S 5
#define SLOT_WATCHDOG_MAX_S 3600
#define SLOT_CURRENT_LIMIT_DEFAULT_DA 100 /* 0.1 A */
#define SLOT_CURRENT_LIMIT_MAX_DA 500

/* What the BMS reports, in register units (see REGISTERS.md). */
struct slot_bms {
	uint64_t id;
	uint16_t voltage_cv;     /* 0.01 V */
	int16_t current_ca;      /* 0.01 A, + charging */
	int16_t temperature_dc;  /* 0.1 C */
	uint16_t soc_pm;         /* 0.1 % */
	uint16_t soh_pm;         /* 0.1 % */
	uint32_t cycles;
	uint16_t resistance_dmo; /* 0.1 milliohm */
	uint16_t cell_min_mv;
	uint16_t cell_max_mv;
};

/* Inputs, read by the HAL each tick. */
struct slot_sensors {
	bool present;     /* battery detected in the slot */
	bool bms_ok;      /* the BMS answered; bms is meaningful only then */
	bool door_open;
	bool lock_closed; /* sensed lock position */
	bool charger_fault; /* the charger's own fault output */
	struct slot_bms bms;
};

/* Outputs, driven by the HAL each tick. */
struct slot_outputs {
	bool charger_on;
	uint16_t current_limit_da; /* 0.1 A */
	bool lock;                 /* actuator: true = locked */
};

/* One register field, for documentation and register profiles: the value in
 * engineering units is raw * 10^scale_exp. */
enum slot_type { SLOT_U16, SLOT_S16, SLOT_U32, SLOT_S32, SLOT_U64 };
struct slot_field {
	const char *name;
	uint8_t fc; /* 4 input, 3 holding */
	uint16_t addr;
	uint8_t type; /* enum slot_type */
	int8_t scale_exp;
};
extern const struct slot_field slot_fields[];
extern const size_t slot_field_count;

struct slot {
	uint16_t in[SLOT_IN_COUNT];
	uint16_t hr[SLOT_HR_COUNT];
	uint16_t faults;
	uint32_t now_ms;
	uint32_t heard_ms;        /* last valid frame from the master */
	uint32_t lock_diff_ms;    /* since when sensed lock != commanded */
	bool lock_diff;
	bool charger_line;        /* the charger's fault line at the last tick */
};

/* The register backend (ctx = struct slot *) that mb_slave serves. Writes
 * are checked against REGISTERS.md: out-of-range values get exception 03,
 * addresses outside the map exception 02, and nothing is written then. */
extern const struct mb_slave_backend slot_backend;

/* Power-up state at now_ms: locked, charging off, default limit and
 * watchdog; the watchdog counts from now_ms. */
void slot_init(struct slot *s, uint32_t now_ms);

/* A valid frame from the master arrived (feeds the master-lost watchdog). */
void slot_heard(struct slot *s, uint32_t now_ms);

/* One control step at now_ms (a millisecond clock that may wrap): takes the
 * sensors, applies the cut-offs and the watchdog, refreshes the input
 * registers and fills *out. The charger is on only with a battery, door
 * closed, lock sensed closed, charging enabled and no cut-off active. */
void slot_tick(struct slot *s, uint32_t now_ms, const struct slot_sensors *in,
	       struct slot_outputs *out);

#endif
