/* The simulated rack: N slot controllers (the real firmware core, unit ids
 * 1..N) on one bus, the batteries that move between them keeping their own
 * state, the doors and locks, and the verbs that change all of it. The
 * verbs are the same for scenario files and the control socket
 * (tools/rack-sim/README.md): rack.c is the model, rack_verbs.c the
 * engineer's verbs, rack_rider.c what riders do, rack_args.c the reading
 * of their arguments. */
#ifndef RACKSIM_RACK_H
#define RACKSIM_RACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#include "firmware/fw.h"
#include "firmware/hal_host.h"
#include "tools/rack-sim/battery.h"
#include "tools/rack-sim/profile.h"

struct rack;

struct rack_slot {
	struct rack *rack;
	struct fw fw;
	struct hal_host_port port;
	struct prof_port pport;
	int bat;           /* index in rack.bats, -1 when empty */
	bool door_open;
	bool lock_closed;  /* mechanical bolt position */
	bool stuck_lock;   /* the bolt no longer follows its actuator */
	bool silent;       /* cut off the bus: hears and says nothing */
	bool charger_fault; /* the charger's fault line is on */
	bool charger_dead; /* the charger is on but delivers no current */
	bool relay_welded; /* current flows whatever the charger output says */
	uint64_t unlocks;  /* times the lock actuator let go, for the tests */
	uint64_t unlocked_at_us; /* rack_poll's clock when it last let go, 0 never */
	double close_at;   /* simulated time a rider shuts the door, < 0 none */
};

struct rack {
	int n;
	struct rack_slot *slots;
	struct bat *bats;
	size_t nbats, capbats;
	double ambient_c;
	double noise;      /* probability that a frame is hit by line noise */
	uint64_t rng;
	double sim_s;      /* simulated seconds since start */
	void (*tx)(void *bus, const uint8_t *buf, size_t len);
	void *bus;
};

/* Builds n slots at baud, all doors closed and locked, empty. Replies go
 * to tx(bus, ...). profile NULL serves the firmware's own map. Returns 0 or
 * -1 when memory ran out. */
int rack_init(struct rack *r, int n, uint32_t baud, const struct prof *profile,
	      void (*tx)(void *bus, const uint8_t *buf, size_t len), void *bus, uint32_t now_us);

/* Frees what rack_init and the verbs allocated. */
void rack_free(struct rack *r);

/* Runs every controller's step at now_us (answers finished frames; the
 * firmware sees the low 32 bits). A lock actuator that lets go in it is
 * stamped with now_us: rack-sim passes CLOCK_MONOTONIC, so a benchmark on
 * the same machine can time an unlock against its own clock. */
void rack_poll(struct rack *r, uint64_t now_us);

/* Advances the physics by dt simulated seconds, shuts the doors riders
 * were holding open until then, and refreshes what every controller
 * senses. */
void rack_physics(struct rack *r, double dt);

/* A byte heard on the bus at now_us, to every slot not silenced; line noise
 * may flip a bit of it on the way. */
void rack_rx(struct rack *r, uint8_t byte, uint32_t now_us);

/* Executes one verb (a JSON object with "op"). Returns the reply object
 * ({"ok": true, ...}); on a bad request returns NULL and says why in err. */
json_object *rack_exec(struct rack *r, json_object *cmd, char *err, size_t errlen);

/* Whether op names a verb (for checking scenario files up front). */
bool rack_known_op(const char *op);

#endif
