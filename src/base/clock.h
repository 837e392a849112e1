/* One monotonic clock for timings, profiles and ETAs. */
#ifndef GRAFT_CLOCK_H
#define GRAFT_CLOCK_H

/* Seconds since an arbitrary fixed point (CLOCK_MONOTONIC). */
double now_seconds(void);
#endif
