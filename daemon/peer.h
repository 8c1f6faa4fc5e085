/* Who a control client is: its permission level, from its credentials and
 * the groups named in the config (control.kiosk_group, staff_group,
 * admin_group). Nothing here asks a directory service (NSS), so nothing
 * here can block the loop. */
#ifndef SWAPD_PEER_H
#define SWAPD_PEER_H

#include <sys/socket.h>

#include "daemon/command.h"
#include "daemon/config.h"

/* Takes the group names of cfg and looks them up in /etc/group (at start
 * and at each reload); a name not there grants nothing and is logged. */
void peer_groups(const struct config_control *cfg);

/* The level of the peer with cred: admin for root and swapd's own user,
 * otherwise the highest level among its groups (from /proc/PID/status),
 * viewer when it has none of them. */
enum command_level peer_level(const struct ucred *cred);

/* The group that gives level, for messages: its name, or "none". */
const char *peer_group_name(enum command_level level);

#endif
