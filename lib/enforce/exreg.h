/*
 * exreg.h - the module's copy of the exceptions register.
 *
 * IT keeps the register in the store with `cetbyodctl exception add/end`;
 * the enforcer thread calls cb_exreg_refresh() on every pass, which reads
 * the store, keeps the exceptions in force in memory for the request
 * threads (cb_exreg_find), reports the ones that stopped being in force
 * since the last refresh (so their sessions can be disconnected), and puts
 * grants and ends into the audit trail exactly once, also across restarts
 * and for changes made while radiusd was down (the instants recorded are
 * kept in the store's status table).
 */
#ifndef CETBYOD_EXCEPTIONS_H
#define CETBYOD_EXCEPTIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "audit/audit.h"
#include "store/store.h"

#define CB_EXREG_AUDIT_GRANTED	"audit.exceptions_granted_until"
#define CB_EXREG_AUDIT_ENDED	"audit.exceptions_ended_until"

typedef struct cb_exreg cb_exreg_t;

/** cb_exreg_new - an empty register copy; audit may be NULL.  NULL on allocation failure. */
cb_exreg_t *cb_exreg_new(cb_store_t *store, cb_audit_t *audit);

/**
 * cb_exreg_refresh - read the register from the store.  Exceptions that
 * were in force at the previous refresh and are not now (ended by IT, or
 * lapsed) are copied to *gone (the caller frees it with
 * cb_store_exceptions_free); the first refresh reports none.  Returns 0, or
 * -1 when the store could not be read (the copy is kept as it was).
 */
int cb_exreg_refresh(cb_exreg_t *reg, time_t now, cb_store_exceptions_t *gone);

/**
 * cb_exreg_find - the exception in force at now for identity on the device
 * whose MAC (any spelling) is calling_station: one for that device wins
 * over one for any device.  For a request, calling_station is its
 * Calling-Station-Id: "" (none) or not a MAC, and only an exception for any
 * device counts; one bound to a device never matches a request that does
 * not name that device.  NULL asks about the person, not a request (the
 * directory watcher, reports): any of the person's counts.  Returns true
 * and fills out (may be NULL).  Safe from any thread.
 */
bool cb_exreg_find(cb_exreg_t *reg, char const *identity, char const *calling_station, time_t now,
		   cb_store_exception_t *out);

void cb_exreg_free(cb_exreg_t *reg);

#endif
