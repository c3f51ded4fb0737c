package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestMedian(t *testing.T) {
	tests := []struct {
		name string
		xs   []float64
		want float64
	}{
		{"one", []float64{3}, 3},
		{"odd, unsorted", []float64{9, 1, 5}, 5},
		{"even: mean of the middle two", []float64{4, 1, 100, 2}, 3},
		{"an outlier does not move it", []float64{10, 11, 12, 10, 5000}, 11},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := median(tt.xs); got != tt.want {
				t.Errorf("median = %v, want %v", got, tt.want)
			}
		})
	}
}

// results builds result lines: name, ns/op, allocs/op.
func results(t *testing.T, lines ...string) []Result {
	t.Helper()
	var b strings.Builder
	for _, l := range lines {
		f := strings.Fields(l)
		b.WriteString(f[0] + " 100 " + f[1] + " ns/op 0 B/op " + f[2] + " allocs/op\n")
	}
	rs, _, err := Parse(strings.NewReader(b.String()))
	if err != nil || len(rs) != len(lines) {
		t.Fatalf("Parse: %v, %d results", err, len(rs))
	}
	return rs
}

func TestJudge(t *testing.T) {
	tests := []struct {
		name    string
		lines   []string
		peer    string
		ratio   float64
		verdict string
	}{
		{
			name: "faster and allocation-free",
			lines: []string{"BenchmarkF/bulwark/serial 50 0", "BenchmarkF/bulwark/serial 60 0", "BenchmarkF/bulwark/serial 40 0",
				"BenchmarkF/slow/serial 200 1", "BenchmarkF/fast/serial 100 0"},
			peer: "fast", ratio: 0.5, verdict: "✓",
		},
		{
			name:  "a tie passes",
			lines: []string{"BenchmarkF/bulwark/serial 100 0", "BenchmarkF/peer/serial 100 0"},
			peer:  "peer", ratio: 1, verdict: "✓",
		},
		{
			name:  "slower",
			lines: []string{"BenchmarkF/bulwark/serial 110 0", "BenchmarkF/peer/serial 100 0"},
			peer:  "peer", ratio: 1.1, verdict: "✗ slower",
		},
		{
			name:  "faster but allocates",
			lines: []string{"BenchmarkF/bulwark/serial 50 1", "BenchmarkF/peer/serial 100 0"},
			peer:  "peer", ratio: 0.5, verdict: "✗ allocates",
		},
		{
			name:  "the median decides, not the mean",
			lines: []string{"BenchmarkF/bulwark/serial 90 0", "BenchmarkF/bulwark/serial 95 0", "BenchmarkF/bulwark/serial 9000 0", "BenchmarkF/peer/serial 100 0"},
			peer:  "peer", ratio: 0.95, verdict: "✓",
		},
		{
			name:  "no peer",
			lines: []string{"BenchmarkF/bulwark/serial 50 0"},
			ratio: 0, verdict: "? (no ours or no peer)",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tables := summarize(results(t, tt.lines...))
			if len(tables) != 1 || len(tables[0].rows) != 1 {
				t.Fatalf("want one table of one row, got %+v", tables)
			}
			v := judge(tables[0].rows[0])
			if got := name(v.peer); tt.peer != "" && got != tt.peer {
				t.Errorf("peer = %s, want %s", got, tt.peer)
			}
			if d := v.ratio - tt.ratio; d > 1e-9 || d < -1e-9 {
				t.Errorf("ratio = %v, want %v", v.ratio, tt.ratio)
			}
			if got := v.mark(); got != tt.verdict {
				t.Errorf("verdict = %q, want %q", got, tt.verdict)
			}
		})
	}
}

func TestSummarizeGroups(t *testing.T) {
	rs := results(t,
		"BenchmarkB/bulwark/serial-2 10 0", "BenchmarkA/bulwark/serial 10 0",
		"BenchmarkA/peer/serial 20 0", "BenchmarkA/bulwark/parallel 10 0", "BenchmarkB/peer/serial-2 5 0")
	tables := summarize(rs)
	var got []string
	for _, tb := range tables {
		for _, r := range tb.rows {
			for _, im := range r.impls {
				got = append(got, strings.Join([]string{string(rune('0' + tb.procs)), r.family, r.variant, im.name}, " "))
			}
		}
	}
	want := []string{"1 A serial bulwark", "1 A serial peer", "1 A parallel bulwark", "2 B serial bulwark", "2 B serial peer"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("grouping:\n got %q\nwant %q", got, want)
	}
}

func TestRun(t *testing.T) {
	in := "cpu: Test CPU\n" +
		"BenchmarkLeakyBucket/bulwark/parallel-2 10 54.5 ns/op 0.00176 waits/op 0 B/op 0 allocs/op\n" +
		"BenchmarkLeakyBucket/uber-ratelimit/parallel-2 10 59.5 ns/op 0 B/op 0 allocs/op\n"
	var out bytes.Buffer
	if err := run(nil, strings.NewReader(in), &out); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"cpu: Test CPU", "GOMAXPROCS=2", "uber-ratelimit", "0.92", "✓", "waits/op=0.00176"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	if err := run(nil, strings.NewReader("PASS\n"), &out); err == nil {
		t.Error("no results: want an error")
	}
}
