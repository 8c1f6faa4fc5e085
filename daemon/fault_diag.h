/* Level-2 diagnosis of faults (issue 13, daemon/FAULTS.md "Level 2:
 * diagnosis"): diagnose(fault, history) -> likelihood, cause, recommended
 * action, behind one ops table so that a model (the models issue) can
 * replace the built-in heuristics, which stay the fallback. The history is
 * in memory: a ring of recent readings per slot (fault_diag_history.c,
 * from EV_SLOT_READING) and the faults raised in the last 30 days (loaded
 * from the store at start, counted as they are raised), so a diagnosis
 * never reads the disk on the loop's path. */
#ifndef SWAPD_FAULT_DIAG_H
#define SWAPD_FAULT_DIAG_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <json-c/json.h>
#include "daemon/config.h"
#include "daemon/err.h"
#include "daemon/fault.h"
#include "daemon/store.h"

/* One reading kept in a slot's ring; at: wall ms, 0: none. */
struct fault_diag_sample {
	int64_t at;
	float temp_c, current_a, soc, spread_mv;
};

/* A slot's ring holds one sample every FAULT_DIAG_SAMPLE_S over 30 min. */
#define FAULT_DIAG_SAMPLE_S 10
#define FAULT_DIAG_SAMPLES 180

/* What the history knows of one slot. */
struct fault_diag_slot {
	int slot_no;                       /* 0: not a slot */
	bool online, present;
	uint64_t battery;                  /* 0: none read */
	struct fault_diag_sample now;      /* the latest reading */
	struct fault_diag_sample ring[FAULT_DIAG_SAMPLES];
	int n, next;                       /* samples kept; where the next goes */
};

/* One fault raised in the past (cleared or still open). */
struct fault_diag_past {
	enum fault_code code;
	int slot_no;
	uint64_t battery;
	int64_t at;                        /* wall ms raised */
};

/* The past faults kept at most (the oldest give way). */
#define FAULT_DIAG_PAST 1024

/* The history a diagnoser reads: every slot (its peers are the others)
 * and the past faults, in any order, not including the one diagnosed. */
struct fault_diag_history {
	int64_t now;                       /* wall ms */
	int nslots;
	const struct fault_diag_slot *slots;
	int npast;
	const struct fault_diag_past *past;
};

/* The fault being diagnosed. */
struct fault_diag_input {
	enum fault_code code;
	int slot_no;                       /* 0: not a slot */
	uint64_t battery;                  /* 0: none */
	const char *detail;                /* what the detector saw */
	int64_t raised_at;                 /* wall ms: its own entry in the past
					    * faults (code, slot, battery, raised
					    * then) is not a prior of itself */
};

/* A diagnosis. */
struct fault_diag {
	double likelihood;  /* 0..1 of a real, lasting failure */
	char cause[24];     /* "battery", "slot_charger", "slot_sensor", "slot_lock",
			     * "slot_controller", "bus", "site", "transient" */
	char detail[240];   /* plain words with the numbers */
	char action[24];    /* "none", "watch", "inspect_slot", "inspect_battery",
			     * "retire_battery", "inspect_bus", "inspect_site" */
	const char *by;     /* the diagnoser's name; NULL: no diagnosis */
	int level;          /* 1, 2 or 3: what the diagnosis says the fault needs */
};

/* A diagnoser (chrony's RefclockDriver style): diagnose fills out and
 * returns true, or returns false to leave it to the heuristics. */
struct fault_diagnoser {
	const char *name;
	bool (*diagnose)(const struct fault_diag_input *in, const struct fault_diag_history *h,
			 struct fault_diag *out);
};

/* The built-in heuristics ("heuristic"), which always diagnose. */
extern const struct fault_diagnoser fault_diag_heuristic;

/* Uses d (NULL: the heuristics alone) for the diagnoses from now on; d
 * must outlive its use. */
void fault_diag_set(const struct fault_diagnoser *d);

/* Diagnoses in against h with the diagnoser set, falling back to the
 * heuristics when it declines; out->by says which one answered. */
void fault_diag_with(const struct fault_diag_input *in, const struct fault_diag_history *h,
		     struct fault_diag *out);

/* fault_diag_with() on the live history (empty when the history module
 * has not started). Memory only. */
void fault_diag_run(const struct fault_diag_input *in, struct fault_diag *out);

/* The diagnosis as fault.raised's `diagnosis` and the faults table's
 * column: {likelihood, cause, detail, action, by, level}. */
json_object *fault_diag_json(const struct fault_diag *d);

/* Reads a fault record's diagnosis (fault_diag_json()'s text) back into
 * out; false when there is none or it does not read. by is the diagnoser
 * set or the heuristics when it names one of them, else "stored". */
bool fault_diag_parse(const char *json, struct fault_diag *out);

/* The history module: subscribes to EV_SLOT_READING and loads the faults
 * raised in the last 30 days (cleared ones too) from st. */
enum sw_err fault_diag_start(const struct config *cfg, struct store *st, char *why,
			     size_t whylen);

/* Unsubscribes and forgets the history. */
void fault_diag_stop(void);

/* Counts a fault just raised in the history (fault.c, after the raise). */
void fault_diag_note(enum fault_code code, int slot_no, uint64_t battery, int64_t at);

/* The live history, valid until the next reading or fault_diag_note. */
void fault_diag_history(struct fault_diag_history *out);
#endif
