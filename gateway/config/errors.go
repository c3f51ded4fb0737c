package config

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// ErrInvalid is matched, under errors.Is, by every error that Load, Parse and Validate return
// because the configuration itself is wrong (an Error or Errors), as opposed to a file that
// could not be read.
var ErrInvalid = errors.New("config: invalid")

// MaxReported is how many problems Errors.Error prints before it summarises the rest as
// "... and N more". Errors itself always holds every problem found.
const MaxReported = 20

// Error is one problem in a configuration. Line is 0 when the problem has no place in a file
// (a Config built in memory, an empty file); File is "" for a Config built in memory.
type Error struct {
	File string // the file as given to Load or Parse
	Line int    // 1-based line of the offending key or value; 0 = unknown
	Path string // key path, e.g. services.songs.timeout.tavg or routes[1].service; "" = the file
	Msg  string // what is wrong and what is allowed
}

// Error formats e as "FILE:LINE: PATH: MSG", leaving out the parts that are unknown:
// "FILE: PATH: MSG" without a line, "line LINE: PATH: MSG" without a file, "PATH: MSG"
// without either.
func (e Error) Error() string {
	var b strings.Builder
	switch {
	case e.File != "" && e.Line > 0:
		b.WriteString(e.File)
		b.WriteByte(':')
		b.WriteString(strconv.Itoa(e.Line))
		b.WriteString(": ")
	case e.File != "":
		b.WriteString(e.File)
		b.WriteString(": ")
	case e.Line > 0:
		b.WriteString("line ")
		b.WriteString(strconv.Itoa(e.Line))
		b.WriteString(": ")
	}
	if e.Path != "" {
		b.WriteString(e.Path)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Is reports whether target is ErrInvalid.
func (e Error) Is(target error) bool { return target == ErrInvalid }

// Errors is every problem found in one configuration, sorted by line (problems without a line
// first, in the order they were found). Load, Parse and Validate return a non-empty Errors or
// nil, never an empty Errors.
type Errors []Error

// Error prints one problem per line, at most MaxReported of them, then "... and N more".
func (es Errors) Error() string {
	var b strings.Builder
	for i, e := range es {
		if i == MaxReported {
			fmt.Fprintf(&b, "\n... and %d more", len(es)-MaxReported)
			break
		}
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(e.Error())
	}
	return b.String()
}

// Is reports whether target is ErrInvalid.
func (es Errors) Is(target error) bool { return target == ErrInvalid }

// problems collects Errors for one file. It keeps one problem per key path (the first), so
// that a value that is both negative and out of range is reported once.
type problems struct {
	file  string
	lines map[string]int // key path -> line of its value (or of its key)
	errs  Errors
	seen  map[string]bool
	// failed holds the paths whose value could not be decoded. Validate sees such a value as
	// unset, so its problems at or below these paths only restate the decode problem.
	failed map[string]bool
}

func newProblems(file string, lines map[string]int) *problems {
	return &problems{file: file, lines: lines, seen: map[string]bool{}, failed: map[string]bool{}}
}

// at records a problem with an explicit line.
func (p *problems) at(line int, path, format string, args ...any) {
	if p.seen[path] {
		return
	}
	p.seen[path] = true
	p.errs = append(p.errs, Error{File: p.file, Line: line, Path: path, Msg: fmt.Sprintf(format, args...)})
}

// add records a problem at path, on the line of path or of its nearest ancestor in the file,
// unless path or an ancestor failed to decode.
func (p *problems) add(path, format string, args ...any) {
	if len(p.failed) > 0 {
		for a := path; a != ""; a = parent(a) {
			if p.failed[a] {
				return
			}
		}
	}
	p.at(lineOf(p.lines, path), path, format, args...)
}

// result returns the problems sorted by line, or nil.
func (p *problems) result() error {
	if len(p.errs) == 0 {
		return nil
	}
	sort.SliceStable(p.errs, func(i, j int) bool { return p.errs[i].Line < p.errs[j].Line })
	return p.errs
}

// lineOf returns the line of path, or of its nearest ancestor that has one, or 0.
func lineOf(lines map[string]int, path string) int {
	for ; path != ""; path = parent(path) {
		if l, ok := lines[path]; ok {
			return l
		}
	}
	return 0
}

// parent strips the last key or index from a key path ("" at the top).
func parent(path string) string {
	i := strings.LastIndexAny(path, ".[")
	if i < 0 {
		return ""
	}
	return path[:i]
}

// join appends a key to a key path.
func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// index appends a list index to a key path.
func index(path string, i int) string { return path + "[" + strconv.Itoa(i) + "]" }
