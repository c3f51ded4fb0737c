//go:build !race

package httpmw

const transportRaceOn = false
