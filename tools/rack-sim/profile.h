/* Register profiles: JSON files that map each slot field to registers
 * (function code, address, type, scale, offset, word order), the format the
 * daemon's rack driver reads (config/profiles/). The simulator loads one to
 * serve its slots as another vendor's controller would: it translates
 * between the profile and the firmware's own map, so the firmware stays the
 * one source of truth. */
#ifndef RACKSIM_PROFILE_H
#define RACKSIM_PROFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#include "firmware/mb_slave.h"
#include "firmware/slot.h"

#define PROF_FIELDS_MAX 32

struct prof_field {
	const struct slot_field *fw; /* the firmware field of the same name */
	uint8_t fc;
	uint16_t addr;
	uint8_t type; /* enum slot_type */
	double scale, offset;
	bool low_first;
	bool invert; /* a 0/1 field: the register holds 1 for 0, 0 for 1 */
};

struct prof {
	char name[64];
	size_t n;
	struct prof_field f[PROF_FIELDS_MAX];
};

/* What prof_backend serves: the profile in front of one slot. */
struct prof_port {
	const struct prof *p;
	struct slot *slot;
};

/* Loads and checks a profile file with swapd's parser, so the simulator
 * serves exactly what swapd would accept. Returns 0, or -1 with swapd's
 * first message, naming the file and the offending key, in err. */
int prof_load(const char *path, struct prof *p, char *err, size_t errlen);

/* The firmware's built-in map as a profile document (caller puts it). */
json_object *prof_builtin_json(void);

/* An mb_slave backend (ctx = struct prof_port *) serving the slot's
 * registers at the profile's addresses and encodings. Addresses between a
 * table's fields read as 0; outside them, and partial writes of a field,
 * get exception 02. A multi-field write is applied field by field. */
extern const struct mb_slave_backend prof_backend;

#endif
