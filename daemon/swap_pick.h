/* The swap's choices, as pure functions over a view of the slots (so a
 * test can set up any rack): which empty slot takes the returned battery,
 * which charged battery goes out, and what a returned battery is. */
#ifndef SWAPD_SWAP_PICK_H
#define SWAPD_SWAP_PICK_H

#include <stdbool.h>
#include <stdint.h>

#include "drivers/rack_profile.h"

/* One slot as the swap module sees it when it chooses. */
struct swap_slot_view {
	bool online;
	bool present;
	bool identified;     /* present, and its id and health were read */
	bool door_open, locked;
	bool fault;          /* any fault bit at all (the slot is not healthy) */
	unsigned faults;     /* the ones swapd knows, as 1 << enum rack_fault */
	bool held;           /* in a swap or a job (slots_hold) */
	bool out_of_service; /* store_slot_service */
	bool alarm;          /* its door was left open and has not closed since */
	bool blocked;        /* an open fault of its own blocks it (fault_blocks_own_slot) */
	bool quarantined;    /* its battery is quarantined in the ledger */
	uint64_t battery;    /* 0: none, or the BMS gave no id */
	double soc, soh;     /* % */
};

/* The empty slot for a returned battery: online, empty, door closed and
 * locked, no fault, in service, not blocked, not held, no door alarm; the
 * lowest index of those, or -1. */
int swap_pick_in(const struct swap_slot_view *v, int n);

/* The battery to hand out: charged (SOC >= min_soc), identified, with a
 * BMS that makes sense, not quarantined, in a healthy, closed, locked, free slot; healthiest first
 * (SOH, then SOC, then the lowest index). When soc_in >= 0 (the returned
 * battery's SOC) and some candidate has at least that much charge, only
 * those count: a rider never gets less than they brought when more is
 * there. The slot index, or -1. */
int swap_pick_out(const struct swap_slot_view *v, int n, double min_soc, double soc_in);

/* How many batteries swap_pick_out could choose from (soc_in unknown). */
int swap_pick_charged(const struct swap_slot_view *v, int n, double min_soc);

/* After the returned battery's SOC is known: the slot_out to use instead of
 * cur (held by this swap, so its own hold does not count against it). cur
 * itself while it is still a candidate and has at least soc_in, or when no
 * free candidate has that much; the best free candidate when cur is one no
 * longer; -1 when there is none at all. */
int swap_pick_recheck(const struct swap_slot_view *v, int n, int cur, double min_soc,
		      double soc_in);

/* What a returned battery is. */
enum swap_in_kind {
	SWAP_IN_EMPTY,   /* nothing in the slot */
	SWAP_IN_PENDING, /* present, its id and health not read yet */
	SWAP_IN_KNOWN,   /* a battery of the fleet, healthy */
	SWAP_IN_BAD,     /* SOH under quarantine_soh, or over-temperature or a
			  * cell over-voltage: quarantined, never handed out */
	SWAP_IN_UNKNOWN, /* id 0 (a silent BMS), a BMS flagged invalid, or one
			  * whose SOC or SOH is no percentage */
};

/* Classifies the battery in slot view v. */
enum swap_in_kind swap_pick_classify(const struct swap_slot_view *v, double quarantine_soh);

#endif
