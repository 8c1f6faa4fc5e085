/* swapd error codes: every module returns these, the caller that decides
 * what to do logs them once (with sw_strerror and its own context). */
#ifndef SWAPD_ERR_H
#define SWAPD_ERR_H

enum sw_err {
	SW_OK = 0,
	SW_EINVAL,    /* bad input: config, request, frame, token */
	SW_ENOMEM,    /* allocation failed */
	SW_EIO,       /* I/O error on a device, socket or file */
	SW_ENOSPC,    /* disk (or database) full */
	SW_ECORRUPT,  /* stored data failed its integrity check */
	SW_EPERM,     /* permission denied, or read-only */
	SW_ENOENT,    /* no such file, device or item */
	SW_EBUSY,     /* resource held by someone else */
	SW_ETIMEDOUT, /* peer did not answer in time */
	SW_EEXIST,    /* already exists */
	SW_EREADBACK, /* a register did not read back as written */
	SW_ECANCELED, /* not done: the emergency stop, or swapd stopping */
};

/* The sw_err for a failed system call's errno: no such file or device is
 * SW_ENOENT, permission or a read-only file system SW_EPERM, in use
 * SW_EBUSY, already there (or an address in use) SW_EEXIST, a full disk
 * SW_ENOSPC, no memory SW_ENOMEM, a timeout SW_ETIMEDOUT, everything else
 * SW_EIO. The one place errno values become swapd's errors. */
enum sw_err sw_from_errno(int e);

/* A short, stable, lower-case description of e ("disk full"); never NULL. */
const char *sw_strerror(enum sw_err e);

#endif
