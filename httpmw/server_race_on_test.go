//go:build race

package httpmw_test

// raceOn: under the race detector sync.Pool drops items at random, so allocation counts of
// pooled paths are not meaningful.
const raceOn = true
