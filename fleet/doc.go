// Package fleet shares state across the instances of a fleet through Redis (SEEDS.md B2, B8,
// B11, B14): a cluster rate limiter, shared switches, a two-level cache and the DR cache.
//
// Redis is never a critical dependency. Nothing in a request path waits on Redis beyond
// Config.OpTimeout, most of it never waits at all, and every component keeps working on its
// local state while Redis is down, then resynchronizes by itself when Redis returns. A Fleet
// starts even when Redis is unreachable.
//
// A Fleet holds the Redis client (github.com/redis/go-redis/v9's UniversalClient: a single
// node, Sentinel or Cluster), this instance's name, and the key prefix; components are made
// from it and run their background work through Fleet.Go, which Fleet.Close stops and waits
// for. Fleet.Report is where every component reports the outcome of its Redis operations, so
// that Up (and the bulwark_fleet_redis_up metric) reflects Redis as the fleet sees it, and an
// outage is logged once, not once per operation.
package fleet
