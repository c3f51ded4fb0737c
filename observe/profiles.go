package observe

import (
	"cmp"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Profile kinds, the last part of a profile's file name.
const (
	ProfileCPU  = "cpu"
	ProfileHeap = "heap"
)

// ProfileExt ends every profile file name.
const ProfileExt = ".pprof"

// profileTimeLayout is the UTC time in profile names: sortable, and without ':' so that the
// names are valid on every file system.
const profileTimeLayout = "20060102T150405Z"

// maxNamePart bounds the service and instance parts of a profile name.
const maxNamePart = 64

// DefaultProfileDir is where profiles go when no directory is configured, and where
// `bulwark profiles ls` looks by default: bulwark-profiles under the system's temporary
// directory.
func DefaultProfileDir() string { return filepath.Join(os.TempDir(), "bulwark-profiles") }

// ProfileFile is one profile found by List.
type ProfileFile struct {
	Path     string    `json:"path"`     // dir joined with the file name
	Service  string    `json:"service"`  // as written in the name (made safe)
	Instance string    `json:"instance"` // as written in the name (made safe)
	Kind     string    `json:"kind"`     // ProfileCPU or ProfileHeap
	Time     time.Time `json:"time"`     // when the profile started, UTC, to the second
	Size     int64     `json:"size"`     // bytes
}

// ProfileName returns the file name of a profile: <service>_<instance>_<UTC time>_<kind>.pprof,
// e.g. bulwark_sz-gw1-8080_20260301T120000Z_cpu.pprof. Service and instance are made safe
// by SafeNamePart.
func ProfileName(service, instance string, t time.Time, kind string) string {
	return SafeNamePart(service) + "_" + SafeNamePart(instance) + "_" + t.UTC().Format(profileTimeLayout) +
		"_" + kind + ProfileExt
}

// SafeNamePart makes s usable as one part of a profile name: every character outside
// [A-Za-z0-9.-] becomes '-' (so '_', the separator, and '/' never appear), a leading '.'
// becomes '-' (no hidden files, no ".."), the result is cut to 64 bytes, and "" becomes
// "unknown".
func SafeNamePart(s string) string {
	if s == "" {
		return "unknown"
	}
	if len(s) > maxNamePart {
		s = s[:maxNamePart]
	}
	b := []byte(s)
	for i, c := range b {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.') {
			b[i] = '-'
		}
	}
	if b[0] == '.' {
		b[0] = '-'
	}
	return string(b)
}

// ParseProfileName parses a name written by ProfileName. It reports false for anything else,
// so List skips foreign files and temporary files. Path and Size are left empty.
func ParseProfileName(name string) (ProfileFile, bool) {
	base, ok := strings.CutSuffix(name, ProfileExt)
	if !ok {
		return ProfileFile{}, false
	}
	parts := strings.Split(base, "_")
	if len(parts) != 4 {
		return ProfileFile{}, false
	}
	svc, inst, ts, kind := parts[0], parts[1], parts[2], parts[3]
	if kind != ProfileCPU && kind != ProfileHeap {
		return ProfileFile{}, false
	}
	if svc == "" || inst == "" || SafeNamePart(svc) != svc || SafeNamePart(inst) != inst {
		return ProfileFile{}, false
	}
	t, err := time.Parse(profileTimeLayout, ts)
	if err != nil || t.Format(profileTimeLayout) != ts {
		return ProfileFile{}, false
	}
	return ProfileFile{Service: svc, Instance: inst, Kind: kind, Time: t}, true
}

// List returns the profiles in dir, oldest first (then by service, instance and kind),
// that started at or after since (the zero time: all) and belong to service (compared after
// SafeNamePart; "": every service). Files whose names ProfileName did not write are
// ignored. An unreadable dir is an error.
func List(dir string, since time.Time, service string) ([]ProfileFile, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	if service != "" {
		service = SafeNamePart(service)
	}
	var out []ProfileFile
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		pf, ok := ParseProfileName(e.Name())
		if !ok || (service != "" && pf.Service != service) || (!since.IsZero() && pf.Time.Before(since)) {
			continue
		}
		info, err := e.Info()
		if err != nil { // removed meanwhile, by retention
			continue
		}
		pf.Path = filepath.Join(dir, e.Name())
		pf.Size = info.Size()
		out = append(out, pf)
	}
	slices.SortFunc(out, func(a, b ProfileFile) int {
		return cmp.Or(a.Time.Compare(b.Time), cmp.Compare(a.Service, b.Service),
			cmp.Compare(a.Instance, b.Instance), cmp.Compare(a.Kind, b.Kind))
	})
	return out, nil
}
