// Package bench compares Bulwark's algorithms with the libraries people
// would otherwise use, side by side in one `go test -bench` run. It is a
// separate module so that the peers (golang.org/x/time/rate,
// go.uber.org/ratelimit, sony/gobreaker, go-zero, aegis, failsafe-go) never
// become dependencies of Bulwark itself.
//
// Every benchmark measures the same thing: the admitted path, one decision
// plus its report (Allow then Done, Allow then Accept, ...), on an instance
// configured so that nothing is rejected during the run, with the real
// clock, with b.ReportAllocs. Each is named
//
//	Benchmark<Family>/<implementation>/<serial|parallel>
//
// where the implementation "bulwark" is always ours, so that a tool can
// group them; cmd/benchtable does, and ./run runs the lot and prints the
// table. A benchmark whose instance rejected any call reports the share as
// rejected/op; leaky buckets report how often a call was told to wait as
// waits/op. `go test ./...` without -bench compiles every benchmark and
// checks, in TestNothingRejected, that every instance admits every call.
package bench
