/* How config_fields.c describes the keys of struct config: one table of
 * fields per section. Private to the config module: the parser (config.c)
 * and the reload check (config_reload.c) walk the same tables, so a key
 * added to a table is both parsed and compared on reload. */
#ifndef SWAPD_CONFIG_FIELD_H
#define SWAPD_CONFIG_FIELD_H

#include <stdbool.h>
#include <stddef.h>

enum ftype {
	F_STR,   /* copied into a char buffer of `size`, then `conv` may check it */
	F_CONV,  /* a string that `conv` turns into the destination (`size` bytes) */
	F_INT,   /* JSON integer within [min, max], then `check` may refuse it */
	F_BOOL,  /* JSON true or false */
	F_OBJ,   /* a section, described by `sub` */
	F_ARRAY, /* up to `max` objects described by `sub`, each `size` bytes,
		  * their number stored at `count_off` as an int, or as a
		  * size_t when `count_size` says so */
};

/* conv returns NULL when s is good (having stored it), else the reason,
 * written after the quoted value: "is not an absolute path". */
typedef const char *(*conv_fn)(const char *s, void *dst);

struct field {
	const char *key;
	enum ftype type;
	size_t off;
	size_t size;
	long long min, max;
	bool required;
	conv_fn conv;
	const char *(*check)(long long v);
	const struct field *sub;
	size_t count_off;
	size_t count_size;
	bool optional;      /* F_OBJ: may be absent; its presence sets the */
	size_t enabled_off; /* bool at this offset */
};

/* Every top-level key of struct config; ends with a zero entry. */
extern const struct field config_top_fields[];

#endif
