#ifndef FLOWPOOL_CSQLITE_SHIM_H
#define FLOWPOOL_CSQLITE_SHIM_H
#include <sqlite3.h>
#endif
