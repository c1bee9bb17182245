/*
 * bb_fs.c — directories, durable file writes and safe names.
 */
#include "bb_fs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bb_crc32.h"
#include "bb_err.h"

int bb_mkdir_p(const char *path)
{
    char buf[4096];
    if (!path || !*path || strlen(path) >= sizeof buf)
        return BB_EINVAL;
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1; *p; p++) {
        if (*p == '/') {
            *p = '\0';
            if (mkdir(buf, 0755) != 0 && errno != EEXIST)
                return bb_err_from_errno(errno);
            *p = '/';
        }
    }
    if (mkdir(buf, 0755) != 0 && errno != EEXIST)
        return bb_err_from_errno(errno);
    struct stat st;
    if (stat(buf, &st) != 0 || !S_ISDIR(st.st_mode))
        return BB_EEXIST;
    return 0;
}

int bb_fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    if (fd < 0)
        return bb_err_from_errno(errno);
    int rc = fsync(fd) == 0 ? 0 : bb_err_from_errno(errno);
    close(fd);
    return rc;
}

void bb_dirname(const char *path, char *out, size_t len)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        snprintf(out, len, ".");
    else if (slash == path)
        snprintf(out, len, "/");
    else
        snprintf(out, len, "%.*s", (int)(slash - path), path);
}

int bb_write_file_atomic(const char *path, const void *data, size_t len)
{
    char tmp[4200];
    if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp)
        return BB_EINVAL;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0)
        return bb_err_from_errno(errno);
    const char *p = data;
    size_t left = len;
    while (left > 0) {
        ssize_t w = write(fd, p, left);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            int rc = bb_err_from_errno(errno);
            close(fd);
            unlink(tmp);
            return rc;
        }
        p += w;
        left -= (size_t)w;
    }
    if (fsync(fd) != 0) {
        int rc = bb_err_from_errno(errno);
        close(fd);
        unlink(tmp);
        return rc;
    }
    close(fd);
    if (rename(tmp, path) != 0) {
        int rc = bb_err_from_errno(errno);
        unlink(tmp);
        return rc;
    }
    char dir[4096];
    bb_dirname(path, dir, sizeof dir);
    return bb_fsync_dir(dir);
}

int bb_read_file(const char *path, char **data, size_t *len)
{
    *data = NULL;
    FILE *f = fopen(path, "rb");
    if (!f)
        return bb_err_from_errno(errno);
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    if (!buf) {
        fclose(f);
        return BB_ENOMEM;
    }
    for (;;) {
        if (n + 1 >= cap) {
            char *nb = realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                fclose(f);
                return BB_ENOMEM;
            }
            buf = nb;
            cap *= 2;
        }
        size_t r = fread(buf + n, 1, cap - n - 1, f);
        n += r;
        if (r == 0)
            break;
    }
    int err = ferror(f);
    fclose(f);
    if (err) {
        free(buf);
        return BB_EIO;
    }
    buf[n] = '\0';
    *data = buf;
    if (len)
        *len = n;
    return 0;
}

bool bb_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

#define S_RM_DEPTH_MAX 512 /* directory levels below the root (one descriptor each) */

/* Removes `name` in the directory dirfd, recursively. Returns the first error. */
static int s_rm_at(int parent, const char *name, int depth)
{
    struct stat st;
    if (fstatat(parent, name, &st, AT_SYMLINK_NOFOLLOW) != 0)
        return errno == ENOENT ? 0 : bb_err_from_errno(errno);
    if (!S_ISDIR(st.st_mode))
        return unlinkat(parent, name, 0) == 0 || errno == ENOENT ? 0 : bb_err_from_errno(errno);
    if (depth >= S_RM_DEPTH_MAX)
        return BB_ETOOLONG;
    int fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return bb_err_from_errno(errno);
    DIR *d = fdopendir(fd); /* owns fd from here */
    if (!d) {
        int rc = bb_err_from_errno(errno);
        close(fd);
        return rc;
    }
    int first = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        int rc = s_rm_at(dirfd(d), e->d_name, depth + 1);
        if (rc && !first)
            first = rc;
    }
    closedir(d);
    if (unlinkat(parent, name, AT_REMOVEDIR) != 0 && errno != ENOENT && !first)
        first = bb_err_from_errno(errno);
    return first;
}

int bb_rm_rf(const char *path)
{
    if (!path || !*path)
        return BB_EINVAL;
    return s_rm_at(AT_FDCWD, path, 0);
}

int bb_path_fmt(char *out, size_t len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(out, len, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= len) {
        if (len)
            out[0] = '\0';
        return BB_ETOOLONG;
    }
    return 0;
}

static int s_safe_char(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-' || c == '+';
}

void bb_safe_name(const char *in, char *out, size_t len)
{
    if (!in)
        in = "";
    char buf[BB_SAFE_NAME_MAX + 1];
    size_t n = 0;
    int lossy = 0; /* something other than a space was dropped or replaced */
    int last_dash = 0;
    for (const unsigned char *p = (const unsigned char *)in; *p; p++) {
        unsigned char c = *p;
        if (!s_safe_char(c) || (n == 0 && c == '.')) {
            if (c != ' ')
                lossy = 1;
            if (c >= 0x80 && (c & 0xC0) == 0x80)
                continue; /* UTF-8 continuation byte: one dash per character */
            if (last_dash || n == 0)
                continue;
            c = '-';
        }
        if (n >= BB_SAFE_NAME_MAX) {
            lossy = 1;
            break;
        }
        if (c == '.' && n > 0 && buf[n - 1] == '.') {
            lossy = 1; /* no ".." anywhere */
            continue;
        }
        buf[n++] = (char)c;
        last_dash = c == '-';
    }
    while (n > 0 && (buf[n - 1] == '-' || buf[n - 1] == '.')) {
        n--;
        lossy = 1;
    }
    buf[n] = '\0';
    if (n == 0) {
        snprintf(buf, sizeof buf, "unnamed");
        lossy = 1;
    }
    /* A lossy reduction could make two names one: a hash of the original keeps them apart.
     * Spaces becoming dashes is the common, readable case and gets no hash; a batch
     * refuses two instruments whose names still meet. */
    if (lossy)
        snprintf(out, len, "%s-%06x", buf, (unsigned)(bb_crc32(0, in, strlen(in)) & 0xFFFFFF));
    else
        snprintf(out, len, "%s", buf);
}
