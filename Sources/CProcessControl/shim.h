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

#endif
