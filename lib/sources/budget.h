/*
 * budget.h - the request budget: at most N requests to Google's APIs in any
 * window (a minute), per service account, so that the module stays under
 * Google's per-user quotas instead of running into their 429s.
 *
 * Google counts quotas per user per project per minute (Sheets: 60 read
 * requests; Forms: 390 reads, of which 180 "expensive" responses.list;
 * see README "Quotas").  A service account is one user, shared by every
 * server that uses its key.  The budget is a sliding window: a request is
 * sent only when fewer than N were sent in the window before it, so no
 * minute, however it is aligned, ever holds more than N.  A request that
 * does not fit is not sent: the caller learns how long until one fits.
 *
 * Budgets are shared per service account (client_email) within the
 * process: module instances in one radiusd reading as the same account
 * draw on one budget, whose size is the smallest any of them configured.
 * Thread-safe (one mutex for the registry and the windows).
 */
#ifndef CETBYOD_SOURCES_BUDGET_H
#define CETBYOD_SOURCES_BUDGET_H

#include <stdbool.h>
#include <stdint.h>

#define CB_BUDGET_WINDOW_MS	60000		/* Google's quotas are per minute. */
#define CB_BUDGET_MAX		100000		/* Largest budget accepted, requests per window. */

typedef struct cb_budget cb_budget_t;

/**
 * cb_budget_get - the budget of user (a service account's client_email),
 * made on first use, with at most limit requests (1..CB_BUDGET_MAX) in any
 * window_ms (0: CB_BUDGET_WINDOW_MS).  A budget the user already has keeps
 * its window and takes the smaller limit.  Release with cb_budget_put.
 * NULL when memory runs out or limit is 0 (no budget).
 */
cb_budget_t *cb_budget_get(char const *user, uint32_t limit, uint32_t window_ms);

/** cb_budget_put - release a budget from cb_budget_get (NULL is fine); the last release frees it. */
void cb_budget_put(cb_budget_t *b);

/**
 * cb_budget_take - whether a request may be sent at now_ms (a monotonic
 * clock in ms, cb_clock_ms()).  true: it is counted and may be sent.
 * false: it must not be sent; *wait_ms (when not NULL) is how long until
 * one fits (at least 1).
 */
bool cb_budget_take(cb_budget_t *b, int64_t now_ms, uint32_t *wait_ms);

/** cb_budget_used - requests counted in the window that ends at now_ms. */
uint32_t cb_budget_used(cb_budget_t *b, int64_t now_ms);

/** cb_budget_limit - the budget's size (requests per window). */
uint32_t cb_budget_limit(cb_budget_t *b);

#endif
