//go:build unix

// Package cpulock serializes the test suite's CPU-heavy tests across packages. `go test ./...`
// runs packages in parallel, and two tests that each need the machine's cores (a gateway
// pinned to one core and flooded, a load engine held to 1 % at 5,000 req/s) would spoil each
// other's measurements. Each takes Hold first: an flock on one file in the temp directory,
// released when the test ends.
package cpulock

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// Hold blocks until no other CPU-heavy test of the module runs, and holds the lock until t
// ends. When the lock cannot be taken it logs why and carries on unserialized.
func Hold(t testing.TB) {
	t.Helper()
	f, err := os.OpenFile(filepath.Join(os.TempDir(), "bulwark-cpu-heavy-tests.lock"), os.O_CREATE|os.O_RDWR, 0o666)
	if err != nil {
		t.Logf("cpulock: not serialized: %v", err)
		return
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		t.Logf("cpulock: not serialized: %v", err)
		return
	}
	t.Cleanup(func() { f.Close() }) // closing the file releases the lock
}
