/* The rack: every slot controller on one Modbus RTU bus, polled from the
 * loop. A cycle visits each slot in turn: queued writes first (lock, unlock,
 * charge), then a heartbeat when due, the fast registers (presence, door,
 * lock, state, faults) and, every rack.slow_every cycles or when a battery
 * came or went, the health registers. A slot that does not answer ends its
 * turn at once; after rack.offline_after misses it is offline and only
 * probed, with backoff, so it never slows the others. */
#ifndef SWAPD_RACK_H
#define SWAPD_RACK_H

#include <stdbool.h>
#include <stdint.h>

#include "daemon/err.h"
#include "drivers/rack_config.h"
#include "drivers/rack_profile.h"


/* What swapd last read from one slot. Times are wall-clock Unix ms of the
 * read (0: never); values older than the slot's last miss are stale, and
 * consumers show them with their time, never as fresh. */
struct rack_reading {
	bool online;
	bool health_pending;   /* a battery came: its identity and health are
				* not read yet (within this cycle or the next) */
	int64_t fast_at, slow_at;
	bool present, door_open, locked;
	int state;
	uint64_t fault_bits;
	uint64_t battery_id;
	double voltage, current, temperature, soc, soh, resistance, cell_min, cell_max;
	int64_t cycles;
	int fw_version;
	bool have[RF_COUNT];   /* which fields the profile gives and were read */
};

struct rack_stats {
	uint64_t transactions, timeouts, errors;
	uint64_t discarded;    /* frames that answered no request in progress */
	uint64_t line_us;      /* the least time the line needs for the
				* transactions done: their frames at 11 bits
				* a character plus two 3.5-character gaps each */
	unsigned gap_us;
	bool bus_up;
	int online, slots;
};

/* Called when a queued write finished: SW_OK when the register read back as
 * written, SW_EREADBACK when it did not, SW_ECANCELED when the emergency
 * stop or rack_lock_all overtook it, or the error of the transaction. */
typedef void (*rack_done_fn)(enum sw_err err, void *arg);

/* Reports the rack disabled in health, for a station whose config has no
 * rack (rack_open is then never called): this module alone writes the
 * "rack" entry, configured or not. */
void rack_absent(void);

/* Loads the profile, starts the bus worker and the poll cycle. Fails with a
 * reason when the profile is invalid; a missing serial device is not an
 * error here (it is retried, and reported in the rack's health). From the
 * loop it publishes EV_SLOT_READING after each transaction a slot answered
 * (its reading is updated by then), EV_SLOT_ONLINE before that when the
 * slot came back, and EV_SLOT_OFFLINE when it went (daemon/event.h), each
 * with the slot index and number. A device "sim:N" is N simulated
 * controllers in this process (drivers/rack_bus.h). */
enum sw_err rack_open(const struct rack_config *cfg, char *why, size_t whylen);

/* The latest reading of slot index i. */
const struct rack_reading *rack_reading(int i);

/* The profile in use. */
const struct rack_profile *rack_profile(void);

/* Queues a write of field f (a writable one) on slot index i, ahead of all
 * reads (but behind safety writes); it is read back before done (may be
 * NULL) is called with the outcome. SW_EINVAL when the profile does not map
 * f or value does not fit, SW_EBUSY when the queue is full, SW_ECANCELED
 * for charging on while charging is held off, or after rack_lock_all. */
enum sw_err rack_write(int i, enum rack_field f, double value, rack_done_fn done, void *arg);

/* Safety targets: what a slot is brought to whatever else is queued. Each
 * is written and read back, once a cycle, until it reads as wanted; an
 * offline slot gets it as its probe, so it comes with the slot's return.
 * It never waits for room in the command queue. */
enum rack_safe { RACK_SAFE_CHARGE_OFF, RACK_SAFE_LOCK, RACK_SAFE_COUNT };

/* An offline slot index i is probed at its next turn, its backoff started
 * afresh: its controller was just power-cycled, and the backoff grown
 * while it was silent would keep it unseen for up to 30 s. */
void rack_probe_soon(int i);

/* The emergency stop: while hold is true, charging off is a safety target
 * on every slot (again on each slot that comes back), queued charging
 * commands are cancelled and new ones refused. */
void rack_hold_charging_off(bool hold);

/* For a clean stop: cancels queued commands, refuses new ones, and makes
 * the lock a safety target on every controller-driven slot, after a
 * broadcast lock. rack_open does the same at start. */
void rack_lock_all(void);

/* Whether the broadcast lock went out, every online slot's lock read back
 * locked since the last rack_lock_all (or rack_open), and no write is with
 * the worker. */
bool rack_all_locked(void);

/* The safety targets (bits of enum rack_safe) slot index i has not
 * confirmed yet. */
unsigned rack_safe_pending(int i);

/* Counters, for status and benchmarks. */
void rack_stats(struct rack_stats *out);

/* Stops polling, ends the worker, forgets the slots. */
void rack_close(void);

#endif
