package cpu

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// Default locations, replaceable with WithCgroupRoot and WithProcCgroup.
const (
	DefaultCgroupRoot = "/sys/fs/cgroup"
	DefaultProcCgroup = "/proc/self/cgroup"
)

// Limit says how many CPUs the process may use and where that figure came
// from.
type Limit struct {
	// CPUs is the number of CPUs the process may use; always > 0, and may be
	// fractional ("50000 100000" in cpu.max is 0.5).
	CPUs float64
	// Source says where CPUs came from, for logs: "override", "host", or
	// "cgroup v2 <file>" / "cgroup v1 <file>" naming the file that set it.
	Source string
	// Usage names the CPU time that Sampler measures against CPUs: "process"
	// (getrusage of this process) or the cgroup file it reads.
	Usage string
}

// usageReader returns the cumulative CPU time of whatever is measured.
type usageReader func() (time.Duration, error)

// detectLimit finds the CPU limit of the process and the usage reader that
// goes with it, as the package comment describes. Missing files are not
// errors (they mean "no limit here"); a file that exists but cannot be read
// or parsed is, and the error names it.
func detectLimit(root, procCgroup string, numCPU int) (Limit, usageReader, error) {
	host := Limit{CPUs: float64(numCPU), Source: "host", Usage: "process"}
	data, err := os.ReadFile(procCgroup)
	if errors.Is(err, fs.ErrNotExist) {
		return host, processCPUTime, nil // not Linux, or /proc not mounted
	}
	if err != nil {
		return Limit{}, nil, err
	}
	entries, err := parseProcCgroup(data)
	if err != nil {
		return Limit{}, nil, fmt.Errorf("%s: %w", procCgroup, err)
	}

	best, err := findV2(root, entries)
	if err != nil {
		return Limit{}, nil, err
	}
	if best.file == "" {
		if best, err = findV1(root, entries); err != nil {
			return Limit{}, nil, err
		}
	}
	if best.file == "" {
		return host, processCPUTime, nil
	}
	lim := Limit{CPUs: min(best.cpus, float64(numCPU)), Source: best.source, Usage: "process"}
	read := usageReader(processCPUTime)
	if best.usageFile != "" {
		lim.Usage = best.usageFile
		read = cgroupCPUTime(best.usageFile, best.parseUsage)
	}
	return lim, read, nil
}

// found is the tightest cgroup limit seen so far.
type found struct {
	cpus       float64
	file       string // the limit file; "" when nothing was found
	source     string
	usageFile  string // the cgroup usage file that goes with it; "" for process usage
	parseUsage func([]byte) (time.Duration, error)
}

func (f *found) offer(cpus float64, file, source, usageFile string, parse func([]byte) (time.Duration, error)) {
	if f.file == "" || cpus < f.cpus {
		*f = found{cpus: cpus, file: file, source: source, usageFile: usageFile, parseUsage: parse}
	}
}

// findV2 looks for cpu.max along the v2 path, under root and root/unified.
func findV2(root string, entries []cgroupEntry) (found, error) {
	var best found
	for _, e := range entries {
		if e.id != 0 || e.controllers != nil {
			continue
		}
		for _, mount := range []string{root, filepath.Join(root, "unified")} {
			for dir := range ancestors(e.path) {
				file := filepath.Join(mount, dir, "cpu.max")
				data, ok, err := readOptional(file)
				if err != nil {
					return found{}, err
				}
				if !ok {
					continue
				}
				cpus, limited, err := parseCPUMax(data)
				if err != nil {
					return found{}, fmt.Errorf("%s: %w", file, err)
				}
				if !limited {
					continue
				}
				usageFile := filepath.Join(mount, dir, "cpu.stat")
				if !exists(usageFile) {
					usageFile = "" // measure the process instead
				}
				best.offer(cpus, file, "cgroup v2 "+file, usageFile, parseCPUStat)
			}
		}
	}
	return best, nil
}

// findV1 looks for cpu.cfs_quota_us along the path of the v1 cpu controller,
// and pairs it with cpuacct.usage at the same place in the cpuacct hierarchy.
func findV1(root string, entries []cgroupEntry) (found, error) {
	var best found
	cpuMount, cpuPath := v1Mount(root, entries, "cpu")
	if cpuMount == "" {
		return best, nil
	}
	acctMount, _ := v1Mount(root, entries, "cpuacct")
	for dir := range ancestors(cpuPath) {
		quotaFile := filepath.Join(cpuMount, dir, "cpu.cfs_quota_us")
		quota, ok, err := readOptional(quotaFile)
		if err != nil {
			return found{}, err
		}
		if !ok {
			continue
		}
		periodFile := filepath.Join(cpuMount, dir, "cpu.cfs_period_us")
		period, err := os.ReadFile(periodFile)
		if err != nil {
			return found{}, err
		}
		cpus, limited, err := parseCFS(quota, period)
		if err != nil {
			return found{}, fmt.Errorf("%s: %w", filepath.Join(cpuMount, dir), err)
		}
		if !limited {
			continue
		}
		usageFile := ""
		if acctMount != "" {
			if f := filepath.Join(acctMount, dir, "cpuacct.usage"); exists(f) {
				usageFile = f
			}
		}
		best.offer(cpus, quotaFile, "cgroup v1 "+quotaFile, usageFile, parseCPUAcctUsage)
	}
	return best, nil
}

// v1Mount returns the directory where the v1 hierarchy holding controller is
// mounted (root/"cpu,cpuacct" or root/"cpu", whichever exists) and the
// process's path in it.
func v1Mount(root string, entries []cgroupEntry, controller string) (mount, cgPath string) {
	for _, e := range entries {
		if !e.has(controller) {
			continue
		}
		for _, name := range []string{strings.Join(e.controllers, ","), controller} {
			if dir := filepath.Join(root, name); isDir(dir) {
				return dir, e.path
			}
		}
	}
	return "", ""
}

// ancestors yields p (cleaned) and each parent up to "/".
func ancestors(p string) func(yield func(string) bool) {
	return func(yield func(string) bool) {
		p = path.Clean("/" + p)
		for {
			if !yield(p) || p == "/" {
				return
			}
			p = path.Dir(p)
		}
	}
}

// readOptional reads file; ok is false when it does not exist (or a parent
// is not a directory), which means "no setting here".
func readOptional(file string) (data []byte, ok bool, err error) {
	data, err = os.ReadFile(file)
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	return data, true, nil
}

func exists(file string) bool {
	_, err := os.Stat(file)
	return err == nil
}

func isDir(dir string) bool {
	st, err := os.Stat(dir)
	return err == nil && st.IsDir()
}

// cgroupCPUTime returns a reader of a cgroup's cumulative CPU time.
func cgroupCPUTime(file string, parse func([]byte) (time.Duration, error)) usageReader {
	return func() (time.Duration, error) {
		data, err := os.ReadFile(file)
		if err != nil {
			return 0, err
		}
		d, err := parse(data)
		if err != nil {
			return 0, fmt.Errorf("%s: %w", file, err)
		}
		return d, nil
	}
}
