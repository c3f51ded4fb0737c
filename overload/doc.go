// Package overload detects overload from the share of busy workers and
// refuses what cannot be served in time (SEEDS.md B9, the map-search design).
//
// # Load
//
// Load is the ratio of active workers to all workers:
//
//	ratio = active / total
//
// A [Detector] takes it from samples, either given by the owner
// ([Detector.Observe]) or taken from its own inflight accounting
// ([Detector.Begin], [Token.Done] and [Detector.Sample], with the number of
// workers from [WithWorkers]). The owner samples on its own ticker: the
// Detector starts no goroutines. A sample with total < 1 counts as total = 1
// (a node has at least itself), and a negative active counts as 0; a ratio
// above 1 means more requests in flight than workers.
//
// # Phases and hysteresis
//
// Three phases, with enter threshold E (default 0.9), exit threshold X
// (default 0.7, X ≤ E), N samples to enter (default 3) and M samples to exit
// (default 5). Each sample moves the detector by this table:
//
//	phase       sample           next phase   streak after
//	Normal      ratio > E        Normal       streak+1; at N → Overloaded, 0
//	Normal      ratio ≤ E        Normal       0
//	Overloaded  ratio < X        Exiting      1; if M = 1 → Normal, 0
//	Overloaded  ratio ≥ X        Overloaded   0
//	Exiting     ratio < X        Exiting      streak+1; at M → Normal, 0
//	Exiting     ratio ≥ X        Overloaded   0
//
// So the detector enters overload after N consecutive samples above E, and
// leaves it after M consecutive samples below X; the first of those M
// samples moves it to Exiting, and any sample at or above X during Exiting
// breaks the streak and returns it to Overloaded. Between X and E nothing
// changes: that band is the hysteresis.
//
// # Admission
//
// In Normal everything is allowed. In Overloaded and in Exiting (the node
// still reports overload until it is Normal again), [Detector.Allow] allows
// a request only while
//
//	active < ⌊T × total⌋
//
// with target T (default E, [WithTarget]) and total from the last sample.
// active is the live inflight count when the Detector was built
// [WithWorkers], and the last sample's active count otherwise. Refusals
// return [ErrOverloaded]. [Detector.Capacity] reports the same limit in the
// shape of shed.Capacity, so a shed.Admitter can divide it among service
// levels.
//
// The phase feeds the Bulwark-Overload response header: "1" while
// [Detector.Overloaded] is true, so that the state climbs the call chain.
package overload
