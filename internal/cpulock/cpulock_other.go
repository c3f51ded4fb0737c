//go:build !unix

package cpulock

import "testing"

// Hold does nothing where flock is not available: the tests run unserialized.
func Hold(testing.TB) {}
