/*
 * bb_err.h — error codes shared by every Batcherbird component.
 *
 * Fallible functions return int: 0 on success, one of these negative codes otherwise.
 * bb_strerror() gives a short phrase; the caller adds what it was doing.
 */
#ifndef BB_ERR_H
#define BB_ERR_H

enum bb_err {
    BB_OK = 0,
    BB_EINVAL = -1,      /* invalid argument or malformed input */
    BB_ENOMEM = -2,      /* out of memory */
    BB_EIO = -3,         /* file or device I/O failed (errno has more) */
    BB_ENOTFOUND = -4,   /* no such thing */
    BB_ETIMEDOUT = -5,   /* deadline passed */
    BB_EPROTO = -6,      /* a peer sent something that does not decode */
    BB_EBUSY = -7,       /* already in use / running */
    BB_ENOSPACE = -8,    /* disk full or quota */
    BB_EUNAVAIL = -9,    /* peer or device unavailable */
    BB_ESTATE = -10,     /* not allowed in the current state */
    BB_EEXIST = -11,     /* already exists */
    BB_EDEVICE = -12,    /* audio or MIDI device error */
    BB_EDB = -13,        /* database error */
    BB_ERPC = -14,       /* remote call returned a non-OK status */
    BB_ECANCELLED = -15, /* stopped on request */
    BB_ETOOLONG = -16,   /* a name or path longer than its buffer or the system allows */
    BB_EACCES = -17,     /* permission denied (EACCES, EPERM) */
    BB_EMFILE = -18,     /* too many open files (EMFILE: this process, ENFILE: the system) */
    BB_EROFS = -19       /* read-only file system */
};

/* A short phrase for a bb_err code ("invalid argument", ...). Never NULL. */
const char *bb_strerror(int err);

/* Maps an errno value to the closest bb_err code. */
int bb_err_from_errno(int errnum);

#endif
