//go:build !race

package fleet

// limRaceEnabled says the race detector is on: allocation pins skip.
const limRaceEnabled = false
