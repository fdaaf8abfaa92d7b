#ifndef FLOWPOOL_CZEROMQ_SHIM_H
#define FLOWPOOL_CZEROMQ_SHIM_H
#include <zmq.h>

#ifdef __linux__
#include <sys/eventfd.h>
#include <sys/prctl.h>

/// A non-blocking, close-on-exec eventfd used to wake a thread blocked in zmq_poll.
static inline int flowpool_zmq_eventfd(void) {
    return eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
}

/// Names the calling thread as the kernel shows it (top -H, perf, /proc); the kernel keeps 15 bytes.
static inline void flowpool_set_thread_name(const char *name) {
    prctl(PR_SET_NAME, (unsigned long)name, 0, 0, 0);
}
#endif

#endif
