/* Scenario files: the simulated customers, transporters and faults of a
 * run, one step per line, each a control-socket verb with the simulated
 * time it happens at (tools/rack-sim/README.md). */
#ifndef RACKSIM_SCENARIO_H
#define RACKSIM_SCENARIO_H

#include <stddef.h>

#include <json-c/json.h>

struct scn_step {
	double at; /* simulated seconds from start */
	int line;
	json_object *cmd;
};

struct scn {
	char path[256];
	struct scn_step *steps;
	size_t n, next;
};

/* Reads and checks a whole scenario file (JSON syntax, "at" present and
 * not going back in time, "op" a known verb). Returns 0, or -1 with
 * "FILE:LINE: what is wrong" in err. */
int scn_load(struct scn *s, const char *path, char *err, size_t errlen);

/* The next step due at or before sim_s, or NULL. */
const struct scn_step *scn_due(struct scn *s, double sim_s);

void scn_free(struct scn *s);

#endif
