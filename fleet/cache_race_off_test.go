//go:build !race

package fleet

const cacheRaceEnabled = false
