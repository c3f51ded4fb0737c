//go:build !race

package httpmw_test

const raceOn = false
