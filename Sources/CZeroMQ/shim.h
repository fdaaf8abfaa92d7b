#ifndef FLOWPOOL_CZEROMQ_SHIM_H
#define FLOWPOOL_CZEROMQ_SHIM_H
#include <zmq.h>

#ifdef __linux__
#include <sys/eventfd.h>

/// A non-blocking, close-on-exec eventfd used to wake a thread blocked in zmq_poll.
static inline int flowpool_zmq_eventfd(void) {
    return eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
}
#endif

#endif
