package main

import (
	"bufio"
	"errors"
	"io"
	"math"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// This parses the Go benchmark data format (the one `go test -bench`
// writes; golang.org/design/14313-benchmark-format) by hand, instead of with
// golang.org/x/perf/benchfmt: pinning x/perf would pull its large
// requirement graph into this module and, through minimal version
// selection, raise golang.org/x/sys, x/net and x/text under the peers being
// measured. The subset needed here is small: result lines and configuration
// lines; everything else (PASS, ok, logs) is skipped.

// A Result is one benchmark result line, such as
//
//	BenchmarkTokenBucket/bulwark/serial-2   5604058   64.20 ns/op   0 B/op   0 allocs/op
type Result struct {
	// Name is the benchmark's full name without its GOMAXPROCS suffix,
	// "BenchmarkTokenBucket/bulwark/serial" above.
	Name string
	// Procs is the GOMAXPROCS the benchmark ran with: the "-N" suffix of the
	// name, or 1 when there is none (go test omits it for 1).
	Procs int
	// Iters is the number of iterations, ≥ 1.
	Iters int64
	// Values are the measurements in the order of the line, each a finite
	// number and a unit.
	Values []Value
}

// A Value is one measurement of a Result.
type Value struct {
	Value float64
	Unit  string
}

// Get returns the first value with the given unit.
func (r Result) Get(unit string) (float64, bool) {
	for _, v := range r.Values {
		if v.Unit == unit {
			return v.Value, true
		}
	}
	return 0, false
}

// String formats r as a result line that Parse reads back as r. Unlike go
// test, it always writes the GOMAXPROCS suffix, even "-1": a name that
// itself ends in "-N" would otherwise be read back with N as its GOMAXPROCS.
func (r Result) String() string {
	var b strings.Builder
	b.WriteString(r.Name)
	b.WriteByte('-')
	b.WriteString(strconv.Itoa(r.Procs))
	b.WriteByte('\t')
	b.WriteString(strconv.FormatInt(r.Iters, 10))
	for _, v := range r.Values {
		b.WriteByte('\t')
		b.WriteString(strconv.FormatFloat(v.Value, 'g', -1, 64))
		b.WriteByte(' ')
		b.WriteString(v.Unit)
	}
	return b.String()
}

// Split returns the parts of the name as this module uses them:
// Benchmark<family>/<impl>/<variant>. impl and variant are "" when the name
// has fewer levels; variant holds every level after impl.
func (r Result) Split() (family, impl, variant string) {
	parts := strings.SplitN(strings.TrimPrefix(r.Name, "Benchmark"), "/", 3)
	family = parts[0]
	if len(parts) > 1 {
		impl = parts[1]
	}
	if len(parts) > 2 {
		variant = parts[2]
	}
	return family, impl, variant
}

// Parse reads benchmark output and returns its result lines, in order, and
// its configuration lines ("cpu: AMD EPYC"), the last value of each key. A
// line that starts like a result but is malformed (a log line printed under
// a benchmark's name, a truncated line) is skipped, as is anything else.
// The only errors are the reader's.
func Parse(r io.Reader) ([]Result, map[string]string, error) {
	var results []Result
	config := map[string]string{}
	br := bufio.NewReader(r)
	for {
		line, err := br.ReadString('\n')
		if line != "" {
			line = strings.TrimRight(line, "\r\n")
			if res, ok := parseResult(line); ok {
				results = append(results, res)
			} else if k, v, ok := parseConfig(line); ok {
				config[k] = v
			}
		}
		if errors.Is(err, io.EOF) {
			return results, config, nil
		}
		if err != nil {
			return results, config, err
		}
	}
}

// parseResult parses one result line.
func parseResult(line string) (Result, bool) {
	if !strings.HasPrefix(line, "Benchmark") {
		return Result{}, false
	}
	fields := strings.Fields(line)
	if len(fields) < 2 || len(fields)%2 != 0 || !isBenchmarkName(fields[0]) {
		return Result{}, false
	}
	iters, err := strconv.ParseInt(fields[1], 10, 64)
	if err != nil || iters < 1 {
		return Result{}, false
	}
	name, procs := splitProcs(fields[0])
	res := Result{Name: name, Procs: procs, Iters: iters}
	for i := 2; i < len(fields); i += 2 {
		v, err := strconv.ParseFloat(fields[i], 64)
		if err != nil || math.IsInf(v, 0) || math.IsNaN(v) {
			return Result{}, false
		}
		res.Values = append(res.Values, Value{Value: v, Unit: fields[i+1]})
	}
	return res, true
}

// isBenchmarkName reports whether s is "Benchmark" followed by nothing or by
// a rune that is not a lower-case letter, as the testing package requires.
func isBenchmarkName(s string) bool {
	rest, ok := strings.CutPrefix(s, "Benchmark")
	if !ok {
		return false
	}
	if rest == "" {
		return true
	}
	r, _ := utf8.DecodeRuneInString(rest)
	return !unicode.IsLower(r)
}

// splitProcs splits a "-N" GOMAXPROCS suffix (N ≥ 1) off a name; without
// one, GOMAXPROCS is 1.
func splitProcs(s string) (name string, procs int) {
	i := strings.LastIndexByte(s, '-')
	if i < 0 {
		return s, 1
	}
	digits := s[i+1:]
	if digits == "" || strings.TrimLeft(digits, "0123456789") != "" {
		return s, 1
	}
	n, err := strconv.Atoi(digits)
	if err != nil || n < 1 {
		return s, 1
	}
	return s[:i], n
}

// parseConfig parses a configuration line, "key: value", where the key
// starts with a lower-case letter and has no spaces or upper-case letters.
func parseConfig(line string) (key, value string, ok bool) {
	key, value, ok = strings.Cut(line, ":")
	if !ok || key == "" {
		return "", "", false
	}
	first, _ := utf8.DecodeRuneInString(key)
	if !unicode.IsLower(first) || strings.IndexFunc(key, func(r rune) bool {
		return unicode.IsSpace(r) || unicode.IsUpper(r)
	}) >= 0 {
		return "", "", false
	}
	return key, strings.TrimSpace(value), true
}
