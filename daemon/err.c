#include "daemon/err.h"

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
