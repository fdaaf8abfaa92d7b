#ifndef FLOWPOOL_CPROCESSCONTROL_SHIM_H
#define FLOWPOOL_CPROCESSCONTROL_SHIM_H

#ifdef __linux__
#include <sys/prctl.h>
#include <signal.h>

/// Asks the kernel to send `signal` to the calling process when its parent exits (Linux `PR_SET_PDEATHSIG`;
/// `prctl` is variadic and so not callable from Swift). Returns 0, or -1 with `errno` set.
static inline int flowpool_set_parent_death_signal(int signal) {
    return prctl(PR_SET_PDEATHSIG, (unsigned long)signal, 0UL, 0UL, 0UL);
}
#endif

#if defined(__linux__) && defined(__GLIBC__)
#include <malloc.h>

/// Sets glibc malloc's trim threshold (free memory an arena keeps instead of returning it to the kernel) and
/// its mmap threshold (allocations at least this large get pages of their own). Setting either also turns
/// off glibc's adjustment of both. Returns 1 when both were set (`mallopt`'s convention).
static inline int flowpool_set_malloc_thresholds(int trimBytes, int mmapBytes) {
    return mallopt(M_TRIM_THRESHOLD, trimBytes) && mallopt(M_MMAP_THRESHOLD, mmapBytes);
}
#endif

#ifdef __linux__
#include <errno.h>
#include <limits.h>
#include <sys/resource.h>

/// Sets the nice value of thread `tid` (0: the calling thread). On Linux a nice value belongs to a thread, and
/// a thread starts with the nice value of the thread that started it. Returns 0, or -1 with `errno` set.
static inline int flowpool_set_thread_nice(int tid, int nice) {
    return setpriority(PRIO_PROCESS, (id_t)tid, nice);
}

/// The nice value of thread `tid` (0: the calling thread), or `INT_MIN` with `errno` set.
static inline int flowpool_thread_nice(int tid) {
    errno = 0;
    int nice = getpriority(PRIO_PROCESS, (id_t)tid);
    return (nice == -1 && errno != 0) ? INT_MIN : nice;
}

/// Raises the soft `RLIMIT_NICE` so that an unprivileged process may lower its nice value to `nice`, when the
/// hard limit allows it. Returns 1 when the soft limit now allows `nice`, 0 otherwise.
static inline int flowpool_allow_nice(int nice) {
    struct rlimit limit;
    if (getrlimit(RLIMIT_NICE, &limit) != 0) return 0;
    rlim_t needed = (rlim_t)(20 - nice);
    if (limit.rlim_cur == RLIM_INFINITY || limit.rlim_cur >= needed) return 1;
    if (limit.rlim_max != RLIM_INFINITY && limit.rlim_max < needed) return 0;
    limit.rlim_cur = needed;
    return setrlimit(RLIMIT_NICE, &limit) == 0;
}
#endif

#endif
