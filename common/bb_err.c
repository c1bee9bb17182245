/* bb_err.c — phrases for the bb_err codes and the errno mapping. */
#include "bb_err.h"

#include <errno.h>

const char *bb_strerror(int err)
{
    switch (err) {
    case BB_OK:
        return "success";
    case BB_EINVAL:
        return "invalid argument";
    case BB_ENOMEM:
        return "out of memory";
    case BB_EIO:
        return "input/output error";
    case BB_ENOTFOUND:
        return "not found";
    case BB_ETIMEDOUT:
        return "timed out";
    case BB_EPROTO:
        return "malformed message";
    case BB_EBUSY:
        return "busy";
    case BB_ENOSPACE:
        return "no space left on device";
    case BB_EUNAVAIL:
        return "unavailable";
    case BB_ESTATE:
        return "not allowed in the current state";
    case BB_EEXIST:
        return "already exists";
    case BB_EDEVICE:
        return "device error";
    case BB_EDB:
        return "database error";
    case BB_ERPC:
        return "remote call failed";
    case BB_ECANCELLED:
        return "cancelled";
    case BB_ETOOLONG:
        return "name or path too long";
    case BB_EACCES:
        return "permission denied (check the folder's owner and permissions)";
    case BB_EMFILE:
        return "too many open files (raise the open-file limit, e.g. LimitNOFILE in the "
               "systemd unit)";
    case BB_EROFS:
        return "read-only file system";
    default:
        return "unknown error";
    }
}

int bb_err_from_errno(int errnum)
{
    switch (errnum) {
    case 0:
        return BB_OK;
    case ENOENT:
        return BB_ENOTFOUND;
    case ENOMEM:
        return BB_ENOMEM;
    case ENOSPC:
    case EDQUOT:
        return BB_ENOSPACE;
    case EEXIST:
        return BB_EEXIST;
    case EINVAL:
        return BB_EINVAL;
    case ETIMEDOUT:
        return BB_ETIMEDOUT;
    case EBUSY:
        return BB_EBUSY;
    case ENAMETOOLONG:
        return BB_ETOOLONG;
    case EACCES:
    case EPERM:
        return BB_EACCES;
    case EMFILE:
    case ENFILE:
        return BB_EMFILE;
    case EROFS:
        return BB_EROFS;
    default:
        return BB_EIO;
    }
}
