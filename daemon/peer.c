#include "daemon/peer.h"

#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon/log.h"

/* Each level's group name (viewer has none), and its gid when /etc/group
 * has it. */
static char names[LEVEL_ADMIN + 1][sizeof(((struct config_control *)0)->admin_group)];
static gid_t level_gid[LEVEL_ADMIN + 1];
static bool level_gid_known[LEVEL_ADMIN + 1];

const char *peer_group_name(enum command_level level)
{
	return names[level][0] ? names[level] : "none";
}

/* The highest level whose group is gid: viewer when none is. */
static enum command_level level_of_gid(unsigned long gid)
{
	for (int l = LEVEL_ADMIN; l > LEVEL_VIEWER; l--)
		if (level_gid_known[l] && level_gid[l] == gid)
			return (enum command_level)l;
	return LEVEL_VIEWER;
}

/* The groups come from /proc/PID/status, which needs no NSS lookup and so
 * cannot block the loop on a slow directory service. */
enum command_level peer_level(const struct ucred *cred)
{
	enum command_level level;
	char path[64], *line = NULL;
	size_t cap = 0;
	FILE *f;

	if (cred->uid == 0 || cred->uid == geteuid())
		return LEVEL_ADMIN;
	level = level_of_gid(cred->gid);
	snprintf(path, sizeof path, "/proc/%d/status", (int)cred->pid);
	f = fopen(path, "re");
	if (!f)
		return level;
	while (getline(&line, &cap, f) > 0) {
		if (strncmp(line, "Groups:", 7) != 0)
			continue;
		char *p = line + 7, *end;
		for (;;) {
			unsigned long g = strtoul(p, &end, 10);
			if (end == p)
				break;
			if (level_of_gid(g) > level)
				level = level_of_gid(g);
			p = end;
		}
	}
	free(line);
	fclose(f);
	return level;
}

/* Looks each level's group up in /etc/group itself. getgrnam() may ask a
 * directory service (NSS: LDAP, sssd) and block the loop, at a reload as
 * much as at start; swapd's groups are local system groups (sysusers.d),
 * so the file is where they are. A group only a directory service knows is
 * reported and grants nothing. */
void peer_groups(const struct config_control *cfg)
{
	FILE *f = fopen("/etc/group", "re");
	struct group *g;

	snprintf(names[LEVEL_KIOSK], sizeof names[0], "%s", cfg->kiosk_group);
	snprintf(names[LEVEL_STAFF], sizeof names[0], "%s", cfg->staff_group);
	snprintf(names[LEVEL_ADMIN], sizeof names[0], "%s", cfg->admin_group);
	memset(level_gid_known, 0, sizeof level_gid_known);
	while (f && (g = fgetgrent(f)) != NULL)
		for (int l = LEVEL_KIOSK; l <= LEVEL_ADMIN; l++)
			if (names[l][0] && !level_gid_known[l] && strcmp(g->gr_name, names[l]) == 0) {
				level_gid[l] = g->gr_gid;
				level_gid_known[l] = true;
			}
	if (f)
		fclose(f);
	for (int l = LEVEL_KIOSK; l <= LEVEL_ADMIN; l++)
		if (names[l][0] && !level_gid_known[l])
			log_msg(LOG_NOTICE, "control: group %s is not in /etc/group; it grants no %s rights",
				names[l], command_level_name((enum command_level)l));
}
