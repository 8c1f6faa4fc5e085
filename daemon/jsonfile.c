#include "daemon/jsonfile.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A key as it means, after its escapes: "a\u0062" and "ab" are one key. */
struct key {
	char *s;
	size_t len;
};

/* The duplicate-key scan. It runs only over text json-c accepted, so it
 * needs no error handling of its own for the syntax, and its recursion is
 * bounded by json-c's depth limit. */
struct scan {
	const char *p;
	char dup[160]; /* the path of the first duplicate key found */
};

static void skip_ws(struct scan *s)
{
	while (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r')
		s->p++;
}

/* Steps over the string at s->p (at its opening quote); returns its start. */
static const char *skip_string(struct scan *s)
{
	const char *start = s->p++;

	while (*s->p != '"')
		s->p += *s->p == '\\' ? 2 : 1;
	s->p++;
	return start;
}

/* The string from start (its opening quote) to s->p, decoded. */
static int decode_key(const char *start, const char *end, struct key *k)
{
	char *quoted = strndup(start, (size_t)(end - start));
	json_object *o = quoted ? json_tokener_parse(quoted) : NULL;

	free(quoted);
	if (!o)
		return -1;
	k->len = (size_t)json_object_get_string_len(o);
	k->s = malloc(k->len + 1);
	if (k->s)
		memcpy(k->s, json_object_get_string(o), k->len + 1);
	json_object_put(o);
	return k->s ? 0 : -1;
}

static int cmp_key(const void *a, const void *b)
{
	const struct key *x = a, *y = b;
	int c = memcmp(x->s, y->s, x->len < y->len ? x->len : y->len);

	return c ? c : (x->len > y->len) - (x->len < y->len);
}

/* Records path.key as the duplicate when two of the n keys are equal. */
static void find_dup(struct scan *s, struct key *keys, size_t n, const char *path)
{
	if (n < 2)
		return;
	qsort(keys, n, sizeof keys[0], cmp_key);
	for (size_t i = 1; i < n && !s->dup[0]; i++)
		if (cmp_key(&keys[i - 1], &keys[i]) == 0)
			snprintf(s->dup, sizeof s->dup, "%.100s%s%.48s", path, *path ? "." : "",
				 keys[i].s);
}

static int scan_value(struct scan *s, const char *path);

static int scan_object(struct scan *s, const char *path)
{
	struct key *keys = NULL;
	size_t n = 0, cap = 0;
	char sub[160];
	int rc = 0;

	s->p++;
	for (skip_ws(s); rc == 0 && *s->p != '}';) {
		const char *start = skip_string(s);
		if (n == cap) {
			size_t ncap = cap ? 2 * cap : 8;
			struct key *k = realloc(keys, ncap * sizeof *k);
			if (!k) {
				rc = -1; /* out of memory */
				break;
			}
			keys = k;
			cap = ncap;
		}
		if (decode_key(start, s->p, &keys[n]) < 0) {
			rc = -1;
			break;
		}
		snprintf(sub, sizeof sub, "%.100s%s%.48s", path, *path ? "." : "", keys[n++].s);
		skip_ws(s);
		s->p++; /* : */
		rc = scan_value(s, sub);
		skip_ws(s);
		if (*s->p == ',') {
			s->p++;
			skip_ws(s);
		}
	}
	s->p++;
	if (rc == 0)
		find_dup(s, keys, n, path);
	while (n)
		free(keys[--n].s);
	free(keys);
	return rc;
}

static int scan_value(struct scan *s, const char *path)
{
	char sub[160];
	int rc = 0;

	skip_ws(s);
	if (*s->p == '{')
		return scan_object(s, path);
	if (*s->p == '"') {
		skip_string(s);
		return 0;
	}
	if (*s->p != '[') {
		s->p += strcspn(s->p, ",]} \t\r\n");
		return 0;
	}
	s->p++;
	skip_ws(s);
	for (size_t i = 0; rc == 0 && *s->p != ']'; i++) {
		snprintf(sub, sizeof sub, "%.140s[%zu]", path, i);
		rc = scan_value(s, sub);
		skip_ws(s);
		if (*s->p == ',')
			s->p++;
	}
	s->p++;
	return rc;
}

/* 1-based line and byte column of offset off. */
static void position(const char *text, size_t off, int *line, int *col)
{
	size_t bol = 0;

	*line = 1;
	for (size_t i = 0; i < off; i++)
		if (text[i] == '\n') {
			(*line)++;
			bol = i + 1;
		}
	*col = (int)(off - bol) + 1;
}

static json_object *parse_strict(const char *text, size_t len, const char *name, char *why,
				 size_t whylen)
{
	json_tokener *tok = json_tokener_new();
	json_object *root;
	enum json_tokener_error jerr;
	int line, col;

	if (!tok) {
		snprintf(why, whylen, "%s: out of memory", name);
		return NULL;
	}
	/* Strict: a trailing comma or a single-quoted string is a mistake an
	 * operator should hear about, not something to guess the meaning of. */
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
	root = json_tokener_parse_ex(tok, text, (int)len);
	jerr = json_tokener_get_error(tok);
	if (!root || jerr != json_tokener_success) {
		size_t end = jerr == json_tokener_continue ? len : json_tokener_get_parse_end(tok);
		position(text, end, &line, &col);
		snprintf(why, whylen, "%s:%d:%d: JSON syntax error: %s", name, line, col,
			 jerr == json_tokener_continue ? "unexpected end of file"
						       : json_tokener_error_desc(jerr));
		json_object_put(root);
		root = NULL;
	}
	json_tokener_free(tok);
	return root;
}

json_object *jsonfile_parse(const char *text, size_t len, const char *name, bool name_keys,
			    char *why, size_t whylen)
{
	struct scan s = { .p = text };
	json_object *root;

	if (memchr(text, '\0', len) || len > INT_MAX) {
		snprintf(why, whylen, "%s: contains a NUL byte or is too large; not a JSON text file",
			 name);
		return NULL;
	}
	root = parse_strict(text, len, name, why, whylen);
	if (!root)
		return NULL;
	if (!json_object_is_type(root, json_type_object)) {
		snprintf(why, whylen, "%s: the top level is not a JSON object", name);
	} else if (scan_value(&s, "") < 0) {
		snprintf(why, whylen, "%s: out of memory", name);
	} else if (s.dup[0]) {
		snprintf(why, whylen, "%s%s%s: duplicate key", name_keys ? name : "",
			 name_keys ? ": " : "", s.dup);
	} else {
		return root;
	}
	json_object_put(root);
	return NULL;
}
