//go:build race

package httpmw

// transportRaceOn: the race detector adds allocations of its own, so the transport's allocation
// pins are checked only without it (scripts/test reruns the "Alloc" tests without -race).
const transportRaceOn = true
