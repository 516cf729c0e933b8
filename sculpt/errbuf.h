/*
 * sculpt: the error buffer convention of its pure-C modules
 *
 * hostmem.c and uffd-sample.c return a negative errno and, when the caller
 * passes a buffer, a message saying which syscall failed on what and why.
 * This is the one formatter both use.  No QEMU headers.
 *
 * This work is licensed under the terms of the GNU GPL, version 2 or later.
 * See the COPYING file in the top-level directory.
 */

#ifndef SCULPT_ERRBUF_H
#define SCULPT_ERRBUF_H

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

/* Format into err[errlen]; a NULL or empty buffer takes nothing. */
static inline void sculpt_errf(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static inline void sculpt_errf(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    if (!err || !errlen) {
        return;
    }
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

#endif /* SCULPT_ERRBUF_H */
