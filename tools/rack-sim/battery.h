/* Battery physics of the rack simulator: simple but honest, so that a state
 * estimator run against the simulated BMS has something true to estimate.
 *
 * Equivalent circuit per pack: open-circuit voltage OCV(SOC) of `cells`
 * NMC cells in series, a series resistance R0 and one RC pair (R1, C1):
 *   v = OCV(soc) + v1 + i * R0,   dv1/dt = i/C1 - v1/(R1*C1)
 * SOC integrates the current over the usable capacity (nominal * SOH). A
 * CC/CV charger drives i: the current limit until v reaches the CV voltage,
 * then the current that holds v there, until it tapers below C/20. Heat
 * i^2 (R0 + R1) plus any injected heater warms a lumped thermal mass that
 * loses heat to ambient. Charge throughput counts equivalent full cycles,
 * SOH fades with cycles and R0 grows as SOH falls. */
#ifndef RACKSIM_BATTERY_H
#define RACKSIM_BATTERY_H

#include <stdbool.h>
#include <stdint.h>

#include "firmware/slot.h"

struct bat {
	uint64_t id;
	int cells;           /* in series */
	double capacity_ah;  /* nominal, when new */
	double soc;          /* 0..1 */
	double soh;          /* 0..1 */
	double cycles;       /* equivalent full cycles */
	double r0_new;       /* ohm, pack, when new */
	double r1, c1;       /* ohm, farad */
	double v1;           /* volt across the RC pair */
	double current;      /* A, + charging */
	double temp_c;
	bool full;           /* charge terminated at the CV taper */
	/* injected faults, they travel with the battery */
	double heater_w;     /* slow heating: an internal heat source */
	double imbalance_v;  /* highest cell above the mean */
	bool nonsense;       /* the BMS reports garbage */
};

/* A healthy 14-cell 40 Ah pack at soc (0..1), 25 C. */
void bat_init(struct bat *b, uint64_t id, double soc);

/* Open-circuit voltage of one cell at soc (0..1), volt. */
double bat_ocv_cell(double soc);

/* Present series resistance, ohm (grows as SOH falls). */
double bat_r0(const struct bat *b);

/* Terminal voltage of the pack at its present current, volt. */
double bat_voltage(const struct bat *b);

/* Lowest and highest cell voltage, volt. */
void bat_cells(const struct bat *b, double *vmin, double *vmax);

/* Advances the battery by dt seconds at ambient temperature. It charges
 * (CC/CV up to limit_a) when charger_on, else rests at zero current. */
void bat_step(struct bat *b, double dt, bool charger_on, double limit_a, double ambient_c);

/* What the battery's BMS reports, in the firmware's register units. */
void bat_bms(const struct bat *b, struct slot_bms *out);

#endif
