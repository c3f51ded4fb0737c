package cpu

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// defaultCFSPeriod is the period the kernel uses when cpu.max gives only a
// quota (cgroup v2) — 100 ms, in microseconds.
const defaultCFSPeriod = 100000

var errEmpty = errors.New("empty")

// parseCPUMax parses a cgroup v2 cpu.max file: "$MAX $PERIOD" where $MAX is
// "max" or a quota in µs, and $PERIOD (optional, default 100000) is in µs.
// It returns the number of CPUs the quota allows and whether there is a
// limit at all.
func parseCPUMax(b []byte) (cpus float64, limited bool, err error) {
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0, false, errEmpty
	}
	if len(f) > 2 {
		return 0, false, fmt.Errorf("want \"$MAX [$PERIOD]\", got %d fields", len(f))
	}
	period := int64(defaultCFSPeriod)
	if len(f) == 2 {
		if period, err = strconv.ParseInt(f[1], 10, 64); err != nil || period <= 0 {
			return 0, false, fmt.Errorf("bad period %q", f[1])
		}
	}
	if f[0] == "max" {
		return 0, false, nil
	}
	quota, err := strconv.ParseInt(f[0], 10, 64)
	if err != nil || quota <= 0 {
		return 0, false, fmt.Errorf("bad quota %q", f[0])
	}
	return float64(quota) / float64(period), true, nil
}

// parseCFS parses the cgroup v1 pair cpu.cfs_quota_us and cpu.cfs_period_us.
// A quota of −1 means no limit.
func parseCFS(quotaFile, periodFile []byte) (cpus float64, limited bool, err error) {
	quota, err := parseInt(quotaFile)
	if err != nil {
		return 0, false, fmt.Errorf("cpu.cfs_quota_us: %w", err)
	}
	if quota == -1 {
		return 0, false, nil
	}
	if quota <= 0 {
		return 0, false, fmt.Errorf("cpu.cfs_quota_us: must be −1 or > 0, got %d", quota)
	}
	period, err := parseInt(periodFile)
	if err != nil {
		return 0, false, fmt.Errorf("cpu.cfs_period_us: %w", err)
	}
	if period <= 0 {
		return 0, false, fmt.Errorf("cpu.cfs_period_us: must be > 0, got %d", period)
	}
	return float64(quota) / float64(period), true, nil
}

// parseCPUStat returns usage_usec from a cgroup v2 cpu.stat file.
func parseCPUStat(b []byte) (time.Duration, error) {
	for line := range bytes.Lines(b) {
		key, val, ok := bytes.Cut(bytes.TrimSpace(line), []byte(" "))
		if !ok || string(key) != "usage_usec" {
			continue
		}
		us, err := strconv.ParseInt(string(bytes.TrimSpace(val)), 10, 64)
		if err != nil || us < 0 || us > math.MaxInt64/int64(time.Microsecond) {
			return 0, fmt.Errorf("bad usage_usec %q", val)
		}
		return time.Duration(us) * time.Microsecond, nil
	}
	return 0, errors.New("no usage_usec line")
}

// parseCPUAcctUsage parses a cgroup v1 cpuacct.usage file: total CPU time in
// nanoseconds.
func parseCPUAcctUsage(b []byte) (time.Duration, error) {
	ns, err := parseInt(b)
	if err != nil {
		return 0, err
	}
	if ns < 0 {
		return 0, fmt.Errorf("negative usage %d", ns)
	}
	return time.Duration(ns), nil
}

func parseInt(b []byte) (int64, error) {
	s := strings.TrimSpace(string(b))
	if s == "" {
		return 0, errEmpty
	}
	return strconv.ParseInt(s, 10, 64)
}

// cgroupEntry is one line of /proc/self/cgroup: "id:controllers:path".
// For cgroup v2 the id is 0 and controllers is empty.
type cgroupEntry struct {
	id          int
	controllers []string // nil for the v2 line
	path        string   // begins with "/"
}

func (e cgroupEntry) has(controller string) bool {
	for _, c := range e.controllers {
		if c == controller {
			return true
		}
	}
	return false
}

// parseProcCgroup parses /proc/self/cgroup. Blank lines are skipped; any
// other line must read "id:controllers:path" with a numeric id and a path
// that begins with "/" (the path may itself contain ':').
func parseProcCgroup(b []byte) ([]cgroupEntry, error) {
	var out []cgroupEntry
	n := 0
	for line := range bytes.Lines(b) {
		n++
		line = bytes.TrimRight(line, "\r\n")
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		parts := strings.SplitN(string(line), ":", 3)
		if len(parts) != 3 {
			return nil, fmt.Errorf("line %d: want id:controllers:path, got %q", n, line)
		}
		id, err := strconv.Atoi(parts[0])
		if err != nil || id < 0 {
			return nil, fmt.Errorf("line %d: bad hierarchy id %q", n, parts[0])
		}
		if !strings.HasPrefix(parts[2], "/") {
			return nil, fmt.Errorf("line %d: path %q does not begin with /", n, parts[2])
		}
		e := cgroupEntry{id: id, path: parts[2]}
		if parts[1] != "" {
			e.controllers = strings.Split(parts[1], ",")
		}
		out = append(out, e)
	}
	return out, nil
}
