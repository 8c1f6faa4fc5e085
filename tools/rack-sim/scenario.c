/* Scenario file loading. */
#include "tools/rack-sim/scenario.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tools/rack-sim/rack.h"

static int line_error(char *err, size_t errlen, const struct scn *s, int line, const char *what,
		      const char *detail)
{
	snprintf(err, errlen, "%s:%d: %s%s", s->path, line, what, detail ? detail : "");
	return -1;
}

/* One line; 1 = a step was added, 0 = blank or comment, -1 = error. */
static int parse_line(struct scn *s, char *text, int line, double *last, char *err, size_t errlen)
{
	char *p = text + strspn(text, " \t\r");
	json_object *o, *v;
	enum json_tokener_error jerr;

	p[strcspn(p, "\r\n")] = '\0';
	if (*p == '\0' || *p == '#')
		return 0;
	o = json_tokener_parse_verbose(p, &jerr);
	if (!o)
		return line_error(err, errlen, s, line, "bad JSON: ", json_tokener_error_desc(jerr));
	if (!json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		return line_error(err, errlen, s, line, "not a JSON object", NULL);
	}
	if (!json_object_object_get_ex(o, "at", &v) ||
	    !(json_object_is_type(v, json_type_int) || json_object_is_type(v, json_type_double)) ||
	    json_object_get_double(v) < *last) {
		json_object_put(o);
		return line_error(err, errlen, s, line,
				  "at: missing, not a number, or earlier than the step before", NULL);
	}
	*last = json_object_get_double(v);
	if (!json_object_object_get_ex(o, "op", &v) || !json_object_is_type(v, json_type_string) ||
	    !rack_known_op(json_object_get_string(v))) {
		json_object_put(o);
		return line_error(err, errlen, s, line, "op: missing or not a verb of the control socket",
				  NULL);
	}
	struct scn_step *ns = realloc(s->steps, (s->n + 1) * sizeof(*ns));
	if (!ns) {
		json_object_put(o);
		return line_error(err, errlen, s, line, "out of memory", NULL);
	}
	s->steps = ns;
	s->steps[s->n++] = (struct scn_step){ *last, line, o };
	return 1;
}

int scn_load(struct scn *s, const char *path, char *err, size_t errlen)
{
	FILE *f;
	char *text = NULL;
	size_t cap = 0;
	int line = 0, rc = 0;
	double last = 0;

	memset(s, 0, sizeof(*s));
	snprintf(s->path, sizeof(s->path), "%s", path);
	if (!(f = fopen(path, "r"))) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	while (rc >= 0 && getline(&text, &cap, f) >= 0)
		rc = parse_line(s, text, ++line, &last, err, errlen);
	free(text);
	fclose(f);
	if (rc < 0)
		scn_free(s);
	return rc < 0 ? -1 : 0;
}

const struct scn_step *scn_due(struct scn *s, double sim_s)
{
	if (s->next < s->n && s->steps[s->next].at <= sim_s)
		return &s->steps[s->next++];
	return NULL;
}

void scn_free(struct scn *s)
{
	for (size_t i = 0; i < s->n; i++)
		json_object_put(s->steps[i].cmd);
	free(s->steps);
	s->steps = NULL;
	s->n = s->next = 0;
}
