/* `swapctl faults [--all]` for a person (daemon/FAULTS.md): one line a
 * fault (id, level, code, slot, battery, age, ticket), then indented its
 * detail, the level-2 diagnosis and each level-1 action with its outcome,
 * oldest first; the cleared ones (--all) say how they cleared. --json
 * gives the reply as it came. */
#include <stdio.h>
#include <string.h>

#include "tools/swapctl.h"

static bool has(json_object *o, const char *key, json_object **v)
{
	return json_object_object_get_ex(o, key, v) && *v;
}

static void print_ticket(json_object *f)
{
	json_object *t, *by;

	if (!has(f, "ticket", &t))
		return;
	printf(" %s %s", swapctl_str(t, "ticket"), swapctl_str(t, "state"));
	if (has(t, "by", &by))
		printf(" by %s", json_object_get_string(by));
}

static void print_diagnosis(json_object *f)
{
	json_object *d, *v;

	if (!has(f, "diagnosis", &d))
		return;
	double like = has(d, "likelihood", &v) ? json_object_get_double(v) : 0;
	printf("      diagnosis (%s): %s, %s, level %s, likelihood %.2f: %s\n",
	       swapctl_str(d, "by"), swapctl_str(d, "cause"), swapctl_str(d, "action"),
	       swapctl_str(d, "level"), like, swapctl_str(d, "detail"));
}

/* The reply lists them newest first; a person reads what was done in order. */
static void print_actions(json_object *f)
{
	json_object *a;

	if (!has(f, "actions", &a) || !json_object_is_type(a, json_type_array))
		return;
	for (size_t k = json_object_array_length(a); k-- > 0;) {
		json_object *x = json_object_array_get_idx(a, k);
		printf("      action: %s: %s\n", swapctl_str(x, "action"), swapctl_str(x, "outcome"));
	}
}

void swapctl_print_faults(json_object *result)
{
	json_object *list, *v;
	char age[24];

	if (!has(result, "faults", &list) || !json_object_is_type(list, json_type_array)) {
		printf("%s\n", json_object_to_json_string_ext(result, JSON_C_TO_STRING_PRETTY));
		return;
	}
	if (json_object_array_length(list) == 0) {
		printf("no open faults\n");
		return;
	}
	printf("%-6s %-3s %-26s %-4s %-10s %-7s %s\n", "FAULT", "LVL", "CODE", "SLOT", "BATTERY",
	       "AGE", "TICKET");
	for (size_t i = 0; i < json_object_array_length(list); i++) {
		json_object *f = json_object_array_get_idx(list, i);
		int64_t a = has(f, "age_s", &v) ? json_object_get_int64(v) : 0;
		printf("%-6s %-3s %-26s %-4s %-10s %-7s", swapctl_str(f, "fault"), swapctl_str(f, "level"),
		       swapctl_str(f, "code"), has(f, "slot", &v) ? json_object_get_string(v) : "-",
		       has(f, "battery", &v) ? json_object_get_string(v) : "-",
		       swapctl_duration(a, age, sizeof age));
		print_ticket(f);
		printf("\n      %s\n", swapctl_str(f, "detail"));
		if (has(f, "cleared_at", &v))
			printf("      cleared: %s\n", swapctl_str(f, "how"));
		print_diagnosis(f);
		print_actions(f);
	}
}
