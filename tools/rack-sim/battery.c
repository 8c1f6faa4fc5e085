/* Battery equivalent-circuit, thermal and ageing model. */
#include "tools/rack-sim/battery.h"

#include <math.h>

/* NMC cell OCV at SOC 0, 10, ..., 100 %: a typical published curve shape
 * (steep below 10 %, a plateau, a rise towards full). */
static const double ocv_table[11] = { 3.00, 3.45, 3.55, 3.62, 3.68, 3.74,
				      3.82, 3.90, 3.98, 4.07, 4.18 };

#define CELL_CV 4.15          /* charger CV setpoint per cell */
#define TAPER_C 0.05          /* terminate below C/20 */
#define RECHARGE_SOC 0.97     /* a full battery is topped up below this */
#define CELL_SPREAD 0.005     /* natural spread of a balanced pack, volt */
#define THERMAL_MASS 4000.0   /* J/K */
#define THERMAL_LOSS 2.0      /* W/K to ambient */
#define SOH_FADE 0.0002       /* per equivalent full cycle: 80 % at 1000 */
#define R0_GROWTH 2.5         /* R0 = R0_new * (1 + 2.5 * (1 - SOH)) */
#define STEP_MAX 1.0          /* s; keeps the explicit integration stable */

void bat_init(struct bat *b, uint64_t id, double soc)
{
	*b = (struct bat){
		.id = id, .cells = 14, .capacity_ah = 40.0, .soc = soc, .soh = 1.0,
		.r0_new = 0.040, .r1 = 0.015, .c1 = 2000.0, .temp_c = 25.0,
	};
}

double bat_ocv_cell(double soc)
{
	if (soc <= 0)
		return ocv_table[0];
	if (soc >= 1)
		return ocv_table[10];
	double x = soc * 10;
	int i = (int)x;
	return ocv_table[i] + (x - i) * (ocv_table[i + 1] - ocv_table[i]);
}

double bat_r0(const struct bat *b)
{
	return b->r0_new * (1 + R0_GROWTH * (1 - b->soh));
}

double bat_voltage(const struct bat *b)
{
	return b->cells * bat_ocv_cell(b->soc) + b->v1 + b->current * bat_r0(b);
}

void bat_cells(const struct bat *b, double *vmin, double *vmax)
{
	double mean = bat_voltage(b) / b->cells;

	*vmin = mean - CELL_SPREAD;
	*vmax = mean + CELL_SPREAD + b->imbalance_v;
}

/* The CC/CV charger's current for the present state. */
static double charge_current(const struct bat *b, double limit_a)
{
	double vcv = b->cells * CELL_CV;
	double ocv = b->cells * bat_ocv_cell(b->soc);
	double i = (vcv - ocv - b->v1) / bat_r0(b);

	if (i > limit_a)
		i = limit_a;
	return i > 0 ? i : 0;
}

static void substep(struct bat *b, double dt, bool charger_on, double limit_a, double ambient_c)
{
	if (!charger_on || limit_a <= 0 || b->soc < RECHARGE_SOC)
		b->full = false;
	b->current = charger_on && !b->full ? charge_current(b, limit_a) : 0;
	/* in CV (below the limit) and tapered below C/20: charge done */
	if (charger_on && !b->full && b->soc >= RECHARGE_SOC && b->current < limit_a &&
	    b->current < TAPER_C * b->capacity_ah) {
		b->full = true;
		b->current = 0;
	}

	double i = b->current;
	double usable_ah = b->capacity_ah * b->soh;
	b->soc += i * dt / 3600.0 / usable_ah;
	if (b->soc > 1)
		b->soc = 1;
	/* exact solution of the RC pair over dt at constant current */
	double decay = exp(-dt / (b->r1 * b->c1));
	b->v1 = b->v1 * decay + i * b->r1 * (1 - decay);

	double heat = i * i * (bat_r0(b) + b->r1) + b->heater_w;
	b->temp_c += (heat - THERMAL_LOSS * (b->temp_c - ambient_c)) * dt / THERMAL_MASS;

	b->cycles += fabs(i) * dt / 3600.0 / b->capacity_ah;
	b->soh = 1 - SOH_FADE * b->cycles;
	if (b->soh < 0.5)
		b->soh = 0.5;
}

void bat_step(struct bat *b, double dt, bool charger_on, double limit_a, double ambient_c)
{
	while (dt > 0) {
		double h = dt > STEP_MAX ? STEP_MAX : dt;
		substep(b, h, charger_on, limit_a, ambient_c);
		dt -= h;
	}
}

static int64_t clampi(double v, int64_t lo, int64_t hi)
{
	long long r = llround(v);
	return r < lo ? lo : r > hi ? hi : r;
}

void bat_bms(const struct bat *b, struct slot_bms *out)
{
	double vmin, vmax;

	if (b->nonsense) {
		/* What a BMS with a broken firmware or a bad ADC reference
		 * might say: SOC of 6553.5 %, -300 C, 0 V, cells inverted. */
		*out = (struct slot_bms){ .id = b->id, .voltage_cv = 0, .current_ca = -32768,
			.temperature_dc = -3000, .soc_pm = 0xFFFF, .soh_pm = 0xFFFF,
			.cycles = 0xFFFFFFFFu, .resistance_dmo = 0, .cell_min_mv = 4900,
			.cell_max_mv = 1200 };
		return;
	}
	bat_cells(b, &vmin, &vmax);
	out->id = b->id;
	out->voltage_cv = (uint16_t)clampi(bat_voltage(b) * 100, 0, 65535);
	out->current_ca = (int16_t)clampi(b->current * 100, -32768, 32767);
	out->temperature_dc = (int16_t)clampi(b->temp_c * 10, -32768, 32767);
	out->soc_pm = (uint16_t)clampi(b->soc * 1000, 0, 1000);
	out->soh_pm = (uint16_t)clampi(b->soh * 1000, 0, 1000);
	out->cycles = (uint32_t)clampi(floor(b->cycles), 0, UINT32_MAX);
	out->resistance_dmo = (uint16_t)clampi(bat_r0(b) * 10000, 0, 65535);
	out->cell_min_mv = (uint16_t)clampi(vmin * 1000, 0, 65535);
	out->cell_max_mv = (uint16_t)clampi(vmax * 1000, 0, 65535);
}
