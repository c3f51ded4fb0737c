//go:build race

package fleet

// cacheRaceEnabled: the race detector instruments memory accesses and changes allocation
// counts, so the Alloc pins skip under it.
const cacheRaceEnabled = true
