/* Register profiles: where each slot field lives in a slot controller's
 * Modbus registers, as a JSON file rather than code, so a rack from another
 * vendor works by writing a profile (config/profiles/), with no rebuild.
 * The format is described in drivers/RACK.md, "Register profiles". */
#ifndef SWAPD_RACK_PROFILE_H
#define SWAPD_RACK_PROFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct config_errors; /* daemon/config_errors.h */
struct rack_reading;  /* drivers/rack.h */

enum rack_field {
	/* fast group: read every cycle */
	RF_PRESENT, RF_DOOR, RF_LOCK, RF_STATE, RF_FAULT_BITS,
	/* slow group: read every rack.slow_every cycles */
	RF_BATTERY_ID, RF_VOLTAGE, RF_CURRENT, RF_TEMPERATURE, RF_SOC, RF_SOH,
	RF_CYCLES, RF_RESISTANCE, RF_CELL_MIN, RF_CELL_MAX, RF_FW_VERSION,
	/* written by swapd (holding registers) */
	RF_LOCK_CMD, RF_CHARGE_ENABLE, RF_CURRENT_LIMIT, RF_HEARTBEAT, RF_WATCHDOG_S,
	RF_FAULT_RESET, /* a command: write 1 to reset latched faults; reads 0 */
	RF_COUNT
};

/* The heartbeat counter swapd writes runs 0..RACK_HEARTBEAT_MAX (the
 * modulo in drivers/rack.c); a profile must write each value exactly. */
#define RACK_HEARTBEAT_MAX 9999

#define RF_FIRST_SLOW RF_BATTERY_ID
#define RF_FIRST_WRITABLE RF_LOCK_CMD

enum rack_type { RT_U16, RT_S16, RT_U32, RT_S32, RT_U64 };

/* Fault bits the daemon acts on; a profile maps each to its bit number. */
enum rack_fault {
	RFLT_OVER_TEMP, RFLT_CELL_OV, RFLT_MASTER_LOST, RFLT_LOCK_STUCK, RFLT_BMS_INVALID,
	RFLT_CHARGER, /* latched: cleared by a fault_reset write once the line is off */
	RFLT_COUNT
};

struct rack_field_map {
	bool mapped;
	uint8_t fc;        /* 3 holding, 4 input */
	uint16_t addr;     /* protocol address, 0-based */
	enum rack_type type;
	bool low_first;    /* 32/64-bit: low word at the lower address */
	double scale, offset; /* value = raw * scale + offset */
	bool invert;       /* a 0/1 field: value = raw == 0 (scale and offset unused) */
};

/* One read transaction: contiguous registers of one function code. */
struct rack_block {
	uint8_t fc;
	uint16_t addr, count;
	bool fast;
};

/* Modbus allows at most 125 registers in one read (Application Protocol
 * v1.1b3, 6.3 and 6.4). */
#define RACK_MAX_READ 125
#define RACK_MAX_BLOCKS 32

struct rack_profile {
	char name[64];
	struct rack_field_map f[RF_COUNT];
	int8_t fault_bit[RFLT_COUNT]; /* -1: this rack does not report it */
	struct rack_block blocks[RACK_MAX_BLOCKS];
	size_t nblocks;
};

/* Reads and validates a profile file; errors (into errs, as with the config)
 * name the field and the value: "fields.soc.addr: 70000 is not a 0-based
 * register address 0..65535", "fields.soh: registers 30..30 (fc 4) overlap fields.soc". */
int rack_profile_load(const char *path, struct rack_profile *p, struct config_errors *errs);

/* The same for JSON text in memory; name stands for the file in messages. */
int rack_profile_parse(const char *text, size_t len, const char *name, struct rack_profile *p,
		       struct config_errors *errs);

/* The profile's field name ("voltage") of f. */
const char *rack_field_name(enum rack_field f);

/* Number of 16-bit registers a type takes. */
unsigned rack_type_words(enum rack_type t);

/* Decodes field f from the registers of block b (regs[0] is register
 * b->addr). Returns false when f is not mapped or not inside b. raw gets
 * the integer as the slave sent it (sign-extended for s16/s32). */
bool rack_profile_raw(const struct rack_profile *p, enum rack_field f, const struct rack_block *b,
		      const uint16_t *regs, int64_t *raw);

/* raw * scale + offset for field f; for an inverted 0/1 field, 1 when raw
 * is 0 and 0 otherwise. */
double rack_profile_scale(const struct rack_profile *p, enum rack_field f, int64_t raw);

/* How many decimals show every value field f can take exactly: those of
 * its scale and offset (0.1 gives 1, 0.25 gives 2), at least 1 so a value
 * stays a JSON double, at most 6. The resolution a reading is shown at. */
int rack_profile_decimals(const struct rack_profile *p, enum rack_field f);

/* The registers to write so that field f reads as value (rounded), in the
 * field's word order; returns how many (1, 2 or 4), or 0 when the value
 * does not fit the field's type (or, inverted, is not 0 or 1). A loaded
 * profile writes every value swapd sends to a command field exactly. */
unsigned rack_profile_unscale(const struct rack_profile *p, enum rack_field f, double value,
			      uint16_t regs[4]);

/* Decodes every read field that block b holds from its registers into r
 * (marking it in r->have) and stamps the block's group with at: the time
 * of the request that read them. */
void rack_profile_decode(const struct rack_profile *p, const struct rack_block *b,
			 const uint16_t *regs, int64_t at, struct rack_reading *r);

#endif
