// Package degrade holds degrade switches: knobs that let a configurable
// fraction of calls through to a dependency and answer the rest at once, so
// that the caller serves a default, fallback or cached answer instead
// (SEEDS.md B8).
//
// # Algorithm
//
// A [Switch] has a pass fraction p in [0, 1]. For each call,
//
//	p = 1: pass                      (the default; the random source is not consulted)
//	p = 0: degrade                   (the module is off; the random source is not consulted)
//	else:  pass iff rand() < p       (rand uniform in [0, 1))
//
// so in the long run a fraction p of calls pass. A degraded call gets
// [ErrDegraded]. [Do] wraps a call and its fallback in one typed helper.
//
// The switches here are manual: an operator (through [Registry] and the
// admin API) or an automatic controller of the caller's (on load, timeout
// rate, failure count) moves p with [Switch.SetPass]; this package decides
// nothing by itself. It starts no goroutines and does no I/O.
package degrade
