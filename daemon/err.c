#include "daemon/err.h"

#include <errno.h>

enum sw_err sw_from_errno(int e)
{
	switch (e) {
	case ENOENT: case ENOTDIR: case ENODEV: case ENXIO: return SW_ENOENT;
	case EACCES: case EPERM: case EROFS: return SW_EPERM;
	case EBUSY: return SW_EBUSY;
	case EEXIST: case EADDRINUSE: return SW_EEXIST;
	case ENOSPC: case EDQUOT: return SW_ENOSPC;
	case ENOMEM: return SW_ENOMEM;
	case ETIMEDOUT: return SW_ETIMEDOUT;
	default: return SW_EIO;
	}
}

const char *sw_strerror(enum sw_err e)
{
	switch (e) {
	case SW_OK: return "success";
	case SW_EINVAL: return "invalid input";
	case SW_ENOMEM: return "out of memory";
	case SW_EIO: return "input/output error";
	case SW_ENOSPC: return "disk full";
	case SW_ECORRUPT: return "data corrupt";
	case SW_EPERM: return "permission denied";
	case SW_ENOENT: return "not found";
	case SW_EBUSY: return "busy";
	case SW_ETIMEDOUT: return "timed out";
	case SW_EEXIST: return "already exists";
	case SW_EREADBACK: return "did not read back as written";
	case SW_ECANCELED: return "cancelled";
	}
	return "unknown error";
}
