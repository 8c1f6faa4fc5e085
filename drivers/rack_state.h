/* The rack's state, shared by rack.c (the poll cycle, the worker's results)
 * and rack_cmd.c (commands, safety targets, counters) and by nothing else:
 * one module in two files, as libmodbus keeps modbus-private.h. */
#ifndef SWAPD_RACK_STATE_H
#define SWAPD_RACK_STATE_H

#include "daemon/log.h"
#include "daemon/loop.h"
#include "drivers/rack.h"
#include "drivers/rack_bus.h"

#define WRITE_QUEUE 64

enum job_kind {
	JOB_BROADCAST,  /* lock every door at once: unit 0, no answer */
	JOB_SAFE_WRITE, /* a safety target, see safe_targets */
	JOB_WRITE,      /* a queued command */
	JOB_VERIFY,     /* reads back what the last write wrote */
	JOB_HEARTBEAT,
	JOB_WATCHDOG,
	JOB_READ,
};

struct pending_write {
	int slot;
	enum rack_field field;
	uint16_t values[4];
	unsigned count;
	rack_done_fn done;
	void *arg;
};

struct slot_state {
	struct rack_reading r;
	int misses;
	int64_t retry_at;       /* monotonic ms; offline slots are probed then */
	int64_t mute_until;     /* monotonic ms; see LATE_WINDOWS */
	int backoff_ms;
	int64_t heartbeat_at;   /* monotonic ms the next heartbeat is due */
	bool watchdog_set;      /* rack.watchdog_s written since it came online */
	bool need_slow;         /* read the health registers this turn */
	unsigned safe_pending;  /* bit per enum rack_safe not read back yet */
	uint64_t safe_cycle[RACK_SAFE_COUNT]; /* cycle of each target's last
						* write: one a cycle */
	struct log_cond cond;
	struct log_cond safe_cond;
};

struct rack_state {
	struct rack_config cfg;
	struct rack_profile prof;
	struct rack_bus *bus;
	struct slot_state slots[RACK_MAX_SLOTS];
	struct pending_write q[WRITE_QUEUE]; /* in order; taken from anywhere */
	size_t qlen;
	bool hold_off;          /* the emergency stop: no charging anywhere */
	bool stopping;          /* rack_lock_all: no more commands */
	bool broadcast_due;
	uint64_t broadcast_cycle; /* the cycle it last went out in */
	/* the cycle in progress */
	int cur;                /* slot index whose turn it is */
	size_t step;            /* next step of its turn: 0 heartbeat, 1 watchdog, 2.. blocks */
	bool turn_over;
	bool slow_turn;         /* this turn reads the health registers too */
	uint64_t cycle;
	int64_t cycle_start;
	struct loop_timer cycle_timer;
	/* the job with the worker */
	bool busy;
	enum job_kind kind;
	int job_slot;
	int64_t job_at;         /* wall ms it was handed over: its values' read time */
	size_t job_block;
	enum rack_safe job_safe;
	struct pending_write job_write; /* JOB_WRITE, JOB_SAFE_WRITE, JOB_VERIFY */
	bool verify_due;        /* the last write succeeded: read it back next */
	bool verify_safe;       /* and it was a safety write */
	uint16_t heartbeat;
	uint64_t timeouts, errors;
	struct log_cond bus_cond;
	bool open;
};

extern struct rack_state rk;

/* Starts the next job at once when the worker is idle between cycles
 * (the cycle timer is re-armed when it runs out of work). */
void rack_kick(void);

#endif
