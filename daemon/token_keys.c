/* The token module's key file (config/KEYS.md): loading it with its mode
 * checked, parsing every entry, and wiping the secrets from every copy
 * that is not the keyring. */
#include "daemon/token.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "daemon/fileio.h"
#include "daemon/jsonfile.h"
#include "daemon/token_priv.h"

/* A key file holds a few keys; anything bigger is not one. */
#define KEYS_MAX_BYTES (64 * 1024)

void token_keyring_clear(struct token_keyring *ring)
{
	OPENSSL_cleanse(ring, sizeof *ring);
}

/* Standard base64 (with padding, as `openssl rand -base64 32` writes it) of
 * exactly 32 bytes, in canonical form. */
static bool decode_secret(const char *s, size_t n, unsigned char secret[TOKEN_SECRET_LEN])
{
	unsigned char raw[33], again[45];
	bool ok;

	if (n != 44 || s[43] != '=')
		return false;
	for (size_t i = 0; i < 43; i++)
		if (!token_is_alnum(s[i]) && s[i] != '+' && s[i] != '/')
			return false;
	ok = EVP_DecodeBlock(raw, (const unsigned char *)s, 44) == 33 &&
	     EVP_EncodeBlock(again, raw, TOKEN_SECRET_LEN) == 44 && memcmp(again, s, 44) == 0;
	if (ok)
		memcpy(secret, raw, TOKEN_SECRET_LEN);
	OPENSSL_cleanse(raw, sizeof raw);
	OPENSSL_cleanse(again, sizeof again);
	return ok;
}

/* "YYYY-MM-DDTHH:MM:SSZ", RFC 3339 in UTC with no fraction or offset. */
static bool parse_utc(const char *s, int64_t *out)
{
	static const char pattern[] = "dddd-dd-ddTdd:dd:ddZ";
	struct tm tm = { 0 }, back;
	time_t t;

	if (strlen(s) != sizeof pattern - 1)
		return false;
	for (size_t i = 0; pattern[i]; i++)
		if (pattern[i] == 'd' ? !token_is_digit(s[i]) : s[i] != pattern[i])
			return false;
	if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2dZ", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
		   &tm.tm_hour, &tm.tm_min, &tm.tm_sec) != 6)
		return false;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	back = tm;
	t = timegm(&tm);
	/* timegm normalises 2026-02-30 into March: a changed field means the
	 * date did not exist. */
	if (tm.tm_year != back.tm_year || tm.tm_mon != back.tm_mon ||
	    tm.tm_mday != back.tm_mday || tm.tm_hour != back.tm_hour || tm.tm_min != back.tm_min ||
	    tm.tm_sec != back.tm_sec)
		return false;
	*out = (int64_t)t;
	return true;
}

/* The JSON string s, wiped: json-c keeps its own copy of every value. */
static void wipe_json_string(json_object *s)
{
	OPENSSL_cleanse((char *)json_object_get_string(s), (size_t)json_object_get_string_len(s));
}

/* One entry of "keys"; `where` names it in messages ("keys.json: keys[1]"). */
static int parse_key(json_object *obj, const char *where, struct token_key *k, char *err,
		     size_t errlen)
{
	json_object *kid = NULL, *secret = NULL, *nb = NULL, *na = NULL;
	char who[128];

	if (!json_object_is_type(obj, json_type_object)) {
		token_set_err(err, errlen, "%s: is not an object", where);
		return -1;
	}
	json_object_object_foreach(obj, name, v) {
		if (name[0] == '_')
			continue;
		if (strcmp(name, "kid") == 0)
			kid = v;
		else if (strcmp(name, "secret") == 0)
			secret = v;
		else if (strcmp(name, "not_before") == 0)
			nb = v;
		else if (strcmp(name, "not_after") == 0)
			na = v;
		else {
			token_set_err(err, errlen, "%s.%.32s: unknown key", where, name);
			return -1;
		}
	}
	if (!kid) {
		token_set_err(err, errlen, "%s: kid: missing (required)", where);
		return -1;
	}
	if (!json_object_is_type(kid, json_type_string) ||
	    strlen(json_object_get_string(kid)) != (size_t)json_object_get_string_len(kid) ||
	    !token_all_of(json_object_get_string(kid), strlen(json_object_get_string(kid)), 1,
		    TOKEN_KID_MAX, token_is_alnum)) {
		token_set_err(err, errlen, "%s: kid: is not a string of 1 to 8 of A-Z a-z 0-9", where);
		return -1;
	}
	snprintf(k->kid, sizeof k->kid, "%s", json_object_get_string(kid));
	snprintf(who, sizeof who, "%s (kid \"%s\")", where, k->kid);
	if (!secret) {
		token_set_err(err, errlen, "%s: secret: missing (required)", who);
		return -1;
	}
	/* The message never shows the value, whatever it is. */
	if (!json_object_is_type(secret, json_type_string) ||
	    !decode_secret(json_object_get_string(secret),
			   (size_t)json_object_get_string_len(secret), k->secret)) {
		token_set_err(err, errlen, "%s: secret: is not standard base64 of 32 bytes", who);
		return -1;
	}
	k->not_before = INT64_MIN;
	k->not_after = INT64_MAX;
	if (nb && (!json_object_is_type(nb, json_type_string) ||
		   !parse_utc(json_object_get_string(nb), &k->not_before))) {
		token_set_err(err, errlen,
			"%s: not_before: is not an RFC 3339 UTC time like \"2026-01-01T00:00:00Z\"",
			who);
		return -1;
	}
	if (na && (!json_object_is_type(na, json_type_string) ||
		   !parse_utc(json_object_get_string(na), &k->not_after))) {
		token_set_err(err, errlen,
			"%s: not_after: is not an RFC 3339 UTC time like \"2026-01-01T00:00:00Z\"",
			who);
		return -1;
	}
	if (k->not_before >= k->not_after) {
		token_set_err(err, errlen, "%s: not_before is not earlier than not_after", who);
		return -1;
	}
	return 0;
}

/* Walks the parsed file into ring; wipes every secret string json-c holds,
 * also after an error. */
static int parse_keys(json_object *root, const char *name, struct token_keyring *ring, char *err,
		      size_t errlen)
{
	json_object *keys = NULL;
	char where[96];
	size_t n;
	int rc = 0;

	if (!json_object_is_type(root, json_type_object)) {
		token_set_err(err, errlen, "%s: the top level is not a JSON object", name);
		return -1;
	}
	json_object_object_foreach(root, key, v) {
		if (key[0] == '_')
			continue;
		if (strcmp(key, "keys") != 0) {
			token_set_err(err, errlen, "%s: %.32s: unknown key", name, key);
			return -1;
		}
		keys = v;
	}
	if (!keys || !json_object_is_type(keys, json_type_array)) {
		token_set_err(err, errlen, "%s: keys: %s", name,
			keys ? "is not an array" : "missing (required)");
		return -1;
	}
	n = json_object_array_length(keys);
	for (size_t i = 0; i < n; i++) {
		json_object *entry = json_object_array_get_idx(keys, i), *secret;
		if (rc == 0 && i >= TOKEN_MAX_KEYS) {
			token_set_err(err, errlen, "%s: keys: %zu entries, more than the %d a station holds",
				name, n, TOKEN_MAX_KEYS);
			rc = -1;
		}
		if (rc == 0) {
			snprintf(where, sizeof where, "%s: keys[%zu]", name, i);
			rc = parse_key(entry, where, &ring->keys[i], err, errlen);
		}
		for (size_t j = 0; rc == 0 && j < i; j++)
			if (strcmp(ring->keys[j].kid, ring->keys[i].kid) == 0) {
				token_set_err(err, errlen, "%s (kid \"%s\"): kid: also used by keys[%zu]",
					where, ring->keys[i].kid, j);
				rc = -1;
			}
		if (rc == 0)
			ring->n = i + 1;
		if (json_object_object_get_ex(entry, "secret", &secret) &&
		    json_object_is_type(secret, json_type_string))
			wipe_json_string(secret);
	}
	if (rc == 0 && n == 0) {
		token_set_err(err, errlen, "%s: keys: is empty; a station needs at least one key", name);
		rc = -1;
	}
	return rc;
}

int token_keys_parse(const char *text, size_t len, const char *name, struct token_keyring *ring,
		     char *err, size_t errlen)
{
	json_object *root;
	int rc;

	token_keyring_clear(ring);
	/* A position but never an excerpt: the text holds secrets. */
	root = jsonfile_parse(text, len, name, true, err, errlen);
	if (!root)
		return -1;
	rc = parse_keys(root, name, ring, err, errlen);
	json_object_put(root);
	if (rc != 0)
		token_keyring_clear(ring);
	return rc;
}

int token_keys_load(const char *path, struct token_keyring *ring, char *err, size_t errlen)
{
	struct stat st;
	char *text;
	size_t len;
	int fd, rc;

	token_keyring_clear(ring);
	fd = fileio_open(path, err, errlen);
	if (fd < 0)
		return -1;
	/* Checked on the open file, so a chmod race cannot slip past. Write
	 * access is as bad as read: it would let someone plant a key. */
	if (fstat(fd, &st) == 0 && (st.st_mode & 0077)) {
		token_set_err(err, errlen,
			"%s: mode %04o lets group or others access the keys; "
			"refusing it (chmod 0600 and owned by the daemon's user)",
			path, (unsigned)(st.st_mode & 07777));
		close(fd);
		return -1;
	}
	rc = fileio_read(fd, path, KEYS_MAX_BYTES, &text, &len, err, errlen);
	close(fd);
	if (rc < 0)
		return -1;
	rc = token_keys_parse(text, len, path, ring, err, errlen);
	OPENSSL_cleanse(text, len);
	free(text);
	return rc;
}
