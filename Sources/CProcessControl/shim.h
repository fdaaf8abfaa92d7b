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

#endif
