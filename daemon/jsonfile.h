/* Strict JSON for the files swapd reads: the config, register profiles and
 * the token key file all parse through here, so they refuse the same
 * mistakes the same way. */
#ifndef SWAPD_JSONFILE_H
#define SWAPD_JSONFILE_H

#include <stdbool.h>
#include <stddef.h>

#include <json-c/json.h>

/* Parses text (len bytes, named `name` in messages) as one strict JSON
 * object: no comments, no trailing commas, nothing after it, no NUL byte,
 * and no key twice in one object at any depth (json-c would keep the last
 * one silently). Returns the object (json_object_put() it), or NULL with
 * one reason in why:
 *   "NAME:LINE:COL: JSON syntax error: WHAT" (1-based line, byte column),
 *   "NAME: the top level is not a JSON object",
 *   "KEY.PATH: duplicate key" ("NAME: KEY.PATH: duplicate key" with
 *   name_keys), the path as in "rack.slots[1].unit".
 * No message quotes the text, which may hold secrets. */
json_object *jsonfile_parse(const char *text, size_t len, const char *name, bool name_keys,
			    char *why, size_t whylen);

#endif
