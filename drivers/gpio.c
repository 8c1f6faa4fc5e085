#include "drivers/gpio.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "daemon/health.h"
#include "daemon/log.h"
#include "daemon/loop.h"
#include "drivers/gpio_backend.h"

#define SIM_PREFIX "sim:"
/* More edges than this in one second make a line "flapping" (a loose
 * wire, a bouncing contact); it is steady again after FLAP_QUIET_MS
 * without an edge. Either change is one log line; repeats are summarised. */
#define FLAP_EDGES 20
#define FLAP_QUIET_MS 5000

static const char *const role_names[] = {
	[GPIO_LOCK] = "lock", [GPIO_DOOR] = "door", [GPIO_ESTOP] = "estop", [GPIO_LIGHT] = "light",
	[GPIO_POWER] = "power_sense", [GPIO_SLOT_POWER] = "slot_power",
};

struct line_state {
	struct gpio_line_config cfg;
	int value;                  /* logical: debounced (inputs) or driven (outputs) */
	bool broken;                /* its last read or write failed */
	struct loop_timer debounce; /* inputs: read the level when it fires */
	struct loop_timer quiet;    /* inputs: flapping is over when it fires */
	int64_t window_start;
	unsigned edges;             /* in the window that began at window_start */
	struct log_cond flap;
};

static struct {
	const struct gpio_backend *be;
	struct gpio_chip *chip;
	char chip_name[128];
	struct line_state lines[GPIO_MAX_LINES];
	size_t n;
	gpio_input_fn on_input;
	void *arg;
	struct log_cond io_cond;
	bool open;
} g;

/* The logical level that means "locked" on a lock line. */
static int locked_level(const struct gpio_line_config *lc)
{
	return lc->locked_active ? 1 : 0;
}

static void report_health(void)
{
	for (size_t i = 0; i < g.n; i++)
		if (g.lines[i].broken) {
			health_set("gpio", HEALTH_FAILED, "chip %s: line %s failed", g.chip_name,
				   g.lines[i].cfg.name);
			return;
		}
	health_set("gpio", HEALTH_OK, "%zu lines on %s", g.n, g.chip_name);
}

/* Marks line i failed or fine, logging the change once. */
static void line_io(struct line_state *l, bool ok, const char *what, int err)
{
	if (l->broken == !ok)
		return;
	l->broken = !ok;
	if (ok)
		log_msg(LOG_NOTICE, "gpio: line %s works again", l->cfg.name);
	else
		log_cond(&g.io_cond, 1, LOG_ERR, "gpio: cannot %s line %s on %s: %s", what,
			 l->cfg.name, g.chip_name, strerror(err));
	report_health();
}

static void on_debounced(void *arg)
{
	struct line_state *l = arg;
	int v = g.be->get(g.chip, (size_t)(l - g.lines));

	if (v < 0) {
		line_io(l, false, "read", errno);
		return;
	}
	line_io(l, true, "read", 0);
	if (v == l->value)
		return;
	l->value = v;
	log_msg(LOG_DEBUG, "gpio: %s %s (slot %d) %s", role_names[l->cfg.role], l->cfg.name,
		l->cfg.slot, v ? "active" : "inactive");
	g.on_input(l->cfg.role, l->cfg.slot, v != 0, g.arg);
}

static void on_quiet(void *arg)
{
	struct line_state *l = arg;

	log_cond(&l->flap, 0, LOG_NOTICE, "gpio: line %s is steady again", l->cfg.name);
}

static void on_edge(size_t i, void *arg)
{
	struct line_state *l = &g.lines[i];
	int64_t now = loop_now();

	(void)arg;
	if (now - l->window_start >= 1000) {
		l->window_start = now;
		l->edges = 0;
	}
	if (++l->edges == FLAP_EDGES + 1)
		log_cond(&l->flap, 1, LOG_WARNING, "gpio: line %s is flapping (over %d edges in 1 s)",
			 l->cfg.name, FLAP_EDGES);
	if (l->flap.state)
		loop_timer_arm(&l->quiet, FLAP_QUIET_MS);
	/* each edge restarts the wait: only a level that holds is reported */
	loop_timer_arm(&l->debounce, l->cfg.debounce_ms);
}

static enum sw_err bad(char *why, size_t whylen, size_t i, const char *fmt, const char *detail)
{
	snprintf(why, whylen, "gpio.lines[%zu].%s", i, fmt);
	size_t len = strlen(why);
	snprintf(why + len, whylen > len ? whylen - len : 0, "%s", detail);
	return SW_EINVAL;
}

enum sw_err gpio_check(const struct gpio_config *cfg, char *why, size_t whylen)
{
	char d[96];
	int estops = 0, senses = 0;

	if (cfg->chip[0] == '\0') {
		snprintf(why, whylen, "gpio.chip: empty");
		return SW_EINVAL;
	}
	if (cfg->nlines > GPIO_MAX_LINES) {
		snprintf(why, whylen, "gpio.lines: %zu lines, at most %d", cfg->nlines, GPIO_MAX_LINES);
		return SW_EINVAL;
	}
	for (size_t i = 0; i < cfg->nlines; i++) {
		const struct gpio_line_config *lc = &cfg->lines[i];
		bool slotted = lc->role == GPIO_LOCK || lc->role == GPIO_DOOR ||
			       lc->role == GPIO_SLOT_POWER;
		if ((unsigned)lc->role > GPIO_SLOT_POWER)
			return bad(why, whylen, i, "role: ",
				   "not lock, door, estop, light, power_sense or slot_power");
		if (lc->name[0] == '\0' || !memchr(lc->name, '\0', sizeof lc->name))
			return bad(why, whylen, i, "line: ", "empty or too long");
		if (strpbrk(lc->name, " \t\r\n="))
			return bad(why, whylen, i, "line: ", "contains a space or '='");
		if (slotted && (lc->slot < 1 || lc->slot > 999)) {
			snprintf(d, sizeof d, "%d is out of range 1..999", lc->slot);
			return bad(why, whylen, i, "slot: ", d);
		}
		if (!slotted && lc->slot != 0)
			return bad(why, whylen, i, "slot: ", "only locks, doors and slot_power have a slot");
		if (lc->locked_active && lc->role != GPIO_LOCK)
			return bad(why, whylen, i, "locked_active: ", "only for locks");
		if (lc->debounce_ms < 0 || lc->debounce_ms > 1000) {
			snprintf(d, sizeof d, "%d is out of range 0..1000", lc->debounce_ms);
			return bad(why, whylen, i, "debounce_ms: ", d);
		}
		if (lc->role == GPIO_ESTOP && ++estops > 1)
			return bad(why, whylen, i, "role: ", "a second estop (wire them in series)");
		if (lc->role == GPIO_POWER && ++senses > 1)
			return bad(why, whylen, i, "role: ", "a second power_sense (one mains feed)");
		for (size_t j = 0; j < i; j++) {
			const struct gpio_line_config *o = &cfg->lines[j];
			if (strcmp(o->name, lc->name) == 0) {
				snprintf(d, sizeof d, "\"%s\" is also lines[%zu]", lc->name, j);
				return bad(why, whylen, i, "line: ", d);
			}
			if (slotted && o->role == lc->role && o->slot == lc->slot) {
				snprintf(d, sizeof d, "slot %d has a %s already (lines[%zu])", lc->slot,
					 role_names[lc->role], j);
				return bad(why, whylen, i, "slot: ", d);
			}
		}
	}
	return SW_OK;
}

enum sw_err gpio_open(const struct gpio_config *cfg, gpio_input_fn on_input, void *arg,
		      char *why, size_t whylen)
{
	struct gpio_line_config lines[GPIO_MAX_LINES];
	int init[GPIO_MAX_LINES];
	size_t n = 0;

	if (g.open) {
		snprintf(why, whylen, "gpio already open");
		return SW_EBUSY;
	}
	enum sw_err e = gpio_check(cfg, why, whylen);
	if (e != SW_OK)
		return e;
	/* Locks first, so that if a later line fails every lock that could
	 * be reached is already held locked. */
	for (int pass = 0; pass < 2; pass++)
		for (size_t i = 0; i < cfg->nlines; i++)
			if ((cfg->lines[i].role == GPIO_LOCK) == (pass == 0)) {
				lines[n] = cfg->lines[i];
				init[n] = pass == 0 ? locked_level(&lines[n]) : 0;
				n++;
			}
	bool sim = strncmp(cfg->chip, SIM_PREFIX, strlen(SIM_PREFIX)) == 0;
	const struct gpio_backend *be = sim ? &gpio_backend_sim : &gpio_backend_gpiod;
	const char *name = sim ? cfg->chip + strlen(SIM_PREFIX) : cfg->chip;

	memset(&g, 0, sizeof g);
	snprintf(g.chip_name, sizeof g.chip_name, "%s", cfg->chip);
	e = be->open(name, lines, init, n, on_edge, NULL, &g.chip, why, whylen);
	if (e != SW_OK) {
		health_set("gpio", HEALTH_FAILED, "%s", why);
		return e;
	}
	g.be = be;
	g.n = n;
	g.on_input = on_input;
	g.arg = arg;
	for (size_t i = 0; i < n; i++) {
		struct line_state *l = &g.lines[i];
		l->cfg = lines[i];
		l->value = init[i];
		loop_timer_init(&l->debounce, on_debounced, l);
		loop_timer_init(&l->quiet, on_quiet, l);
		if (gpio_role_is_output(l->cfg.role))
			continue;
		int v = be->get(g.chip, i);
		if (v < 0)
			line_io(l, false, "read", errno);
		else
			l->value = v;
	}
	g.open = true;
	log_msg(LOG_INFO, "gpio: %zu lines on %s (%s backend)", n, g.chip_name, be->name);
	report_health();
	return SW_OK;
}

static struct line_state *find(enum gpio_role role, int slot, const char *name)
{
	if (!g.open)
		return NULL;
	for (size_t i = 0; i < g.n; i++)
		if (g.lines[i].cfg.role == role && g.lines[i].cfg.slot == slot &&
		    (!name || strcmp(g.lines[i].cfg.name, name) == 0))
			return &g.lines[i];
	return NULL;
}

bool gpio_has_lock(int slot)
{
	return find(GPIO_LOCK, slot, NULL) != NULL;
}

/* Drives output l to v; on failure tries fallback (its safe level) and
 * reports the line broken. */
static enum sw_err drive(struct line_state *l, int v, int fallback)
{
	size_t i = (size_t)(l - g.lines);

	if (g.be->set(g.chip, i, v) == 0) {
		l->value = v;
		line_io(l, true, "drive", 0);
		return SW_OK;
	}
	int err = errno;
	if (g.be->set(g.chip, i, fallback) == 0)
		l->value = fallback;
	line_io(l, false, "drive", err);
	return SW_EIO;
}

enum sw_err gpio_set_lock(int slot, bool locked)
{
	struct line_state *l = find(GPIO_LOCK, slot, NULL);

	if (!l)
		return SW_ENOENT;
	int lv = locked_level(&l->cfg);
	enum sw_err e = drive(l, locked ? lv : !lv, lv);
	if (e == SW_OK)
		log_msg(LOG_INFO, "gpio: slot %d %s", slot, locked ? "locked" : "unlocked");
	return e;
}

bool gpio_has_slot_power(int slot)
{
	return find(GPIO_SLOT_POWER, slot, NULL) != NULL;
}

enum sw_err gpio_cut_slot_power(int slot, bool cut)
{
	struct line_state *l = find(GPIO_SLOT_POWER, slot, NULL);

	if (!l)
		return SW_ENOENT;
	enum sw_err e = drive(l, cut, 0);
	if (e == SW_OK)
		log_msg(LOG_NOTICE, "gpio: slot %d controller supply %s", slot, cut ? "cut" : "restored");
	return e;
}

enum sw_err gpio_set_light(const char *name, bool on)
{
	struct line_state *l = find(GPIO_LIGHT, 0, name);

	if (!l)
		return SW_ENOENT;
	return drive(l, on, 0);
}

enum sw_err gpio_get(enum gpio_role role, int slot, bool *active)
{
	struct line_state *l = find(role, slot, NULL);

	if (!l || role == GPIO_LIGHT)
		return SW_ENOENT;
	*active = role == GPIO_LOCK ? l->value == locked_level(&l->cfg) : l->value != 0;
	return SW_OK;
}

void gpio_close(void)
{
	if (!g.open)
		return;
	for (size_t i = 0; i < g.n; i++) {
		struct line_state *l = &g.lines[i];
		loop_timer_cancel(&l->debounce);
		loop_timer_cancel(&l->quiet);
		if (l->cfg.role == GPIO_LOCK && l->value != locked_level(&l->cfg))
			drive(l, locked_level(&l->cfg), locked_level(&l->cfg));
		if (l->cfg.role == GPIO_SLOT_POWER && l->value)
			drive(l, 0, 0); /* no controller is left without supply */
	}
	g.be->close(g.chip);
	health_set("gpio", HEALTH_DISABLED, "closed");
	memset(&g, 0, sizeof g);
}
