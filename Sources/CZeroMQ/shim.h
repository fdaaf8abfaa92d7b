#ifndef FLOWPOOL_CZEROMQ_SHIM_H
#define FLOWPOOL_CZEROMQ_SHIM_H
#include <zmq.h>
#endif
