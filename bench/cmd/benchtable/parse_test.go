package main

import (
	"math"
	"reflect"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name   string
		in     string
		want   []Result
		config map[string]string
	}{
		{
			name: "go test output",
			in: "goos: linux\ngoarch: amd64\npkg: github.com/bulwark-go/bulwark/bench\ncpu: AMD EPYC\n" +
				"BenchmarkTokenBucket/bulwark/serial         \t 5604058\t        64.20 ns/op\t       0 B/op\t       0 allocs/op\n" +
				"BenchmarkTokenBucket/bulwark/serial-2       \t 5599068\t        64.15 ns/op\t       0 B/op\t       0 allocs/op\n" +
				"PASS\nok  \tgithub.com/bulwark-go/bulwark/bench\t26.952s\n",
			want: []Result{
				{"BenchmarkTokenBucket/bulwark/serial", 1, 5604058, []Value{{64.20, "ns/op"}, {0, "B/op"}, {0, "allocs/op"}}},
				{"BenchmarkTokenBucket/bulwark/serial", 2, 5599068, []Value{{64.15, "ns/op"}, {0, "B/op"}, {0, "allocs/op"}}},
			},
			config: map[string]string{"goos": "linux", "goarch": "amd64", "pkg": "github.com/bulwark-go/bulwark/bench", "cpu": "AMD EPYC"},
		},
		{
			name: "custom metric in the middle, CRLF",
			in:   "BenchmarkLeakyBucket/uber-ratelimit/parallel-2 \t 6780793\t 59.52 ns/op\t 0.01179 waits/op\t 0 B/op\t 0 allocs/op\r\n",
			want: []Result{{"BenchmarkLeakyBucket/uber-ratelimit/parallel", 2, 6780793,
				[]Value{{59.52, "ns/op"}, {0.01179, "waits/op"}, {0, "B/op"}, {0, "allocs/op"}}}},
		},
		{
			name: "no trailing newline, no values",
			in:   "BenchmarkX-4 10",
			want: []Result{{"BenchmarkX", 4, 10, nil}},
		},
		{
			name: "a dash that is not a GOMAXPROCS suffix",
			in: "BenchmarkSlidingWindow/proxy-xtime-rate/serial 3 1 ns/op\n" +
				"BenchmarkA/b-0 3 1 ns/op\nBenchmarkA/b- 3 1 ns/op\nBenchmarkA/b-99999999999999999999 3 1 ns/op\n",
			want: []Result{
				{"BenchmarkSlidingWindow/proxy-xtime-rate/serial", 1, 3, []Value{{1, "ns/op"}}},
				{"BenchmarkA/b-0", 1, 3, []Value{{1, "ns/op"}}},
				{"BenchmarkA/b-", 1, 3, []Value{{1, "ns/op"}}},
				{"BenchmarkA/b-99999999999999999999", 1, 3, []Value{{1, "ns/op"}}},
			},
		},
		{
			name: "malformed lines are skipped",
			in: "BenchmarkA\n" + // a name printed before a log line
				"BenchmarkA 10 5\n" + // a value without a unit
				"BenchmarkA ten 5 ns/op\n" + // iterations not a number
				"BenchmarkA 0 5 ns/op\n" + // no iterations
				"BenchmarkA 10 five ns/op\n" + // value not a number
				"BenchmarkA 10 NaN ns/op\nBenchmarkA 10 +Inf ns/op\n" +
				"Benchmarking 10 5 ns/op\n" + // not a benchmark name
				"    BenchmarkA 10 5 ns/op\n" + // indented: not a result line
				"--- FAIL: BenchmarkB\n" +
				"Benchmark 7 2 ns/op\n",
			want: []Result{
				{"Benchmark", 1, 7, []Value{{2, "ns/op"}}},
			},
		},
		{
			name:   "config keys must be lower-case without spaces",
			in:     "Key: no\nsome key: no\nkey: yes: and more\ncpu:   padded  \n",
			config: map[string]string{"key": "yes: and more", "cpu": "padded"},
		},
		{name: "empty", in: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, config, err := Parse(strings.NewReader(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("results:\n got %#v\nwant %#v", got, tt.want)
			}
			if tt.config == nil {
				tt.config = map[string]string{}
			}
			if !reflect.DeepEqual(config, tt.config) {
				t.Errorf("config: got %v, want %v", config, tt.config)
			}
		})
	}
}

func TestSplit(t *testing.T) {
	tests := []struct{ name, family, impl, variant string }{
		{"BenchmarkTokenBucket/bulwark/serial", "TokenBucket", "bulwark", "serial"},
		{"BenchmarkTokenBucket/bulwark", "TokenBucket", "bulwark", ""},
		{"BenchmarkTokenBucket", "TokenBucket", "", ""},
		{"BenchmarkA/b/c/d", "A", "b", "c/d"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, i, v := Result{Name: tt.name}.Split()
			if f != tt.family || i != tt.impl || v != tt.variant {
				t.Errorf("got %q %q %q, want %q %q %q", f, i, v, tt.family, tt.impl, tt.variant)
			}
		})
	}
}

// FuzzParse checks that Parse never fails or panics on any input, that every
// result it returns is well formed, and that each reads back from its own
// String unchanged.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"BenchmarkTokenBucket/bulwark/serial-2 \t 5599068\t 64.15 ns/op\t 0 B/op\t 0 allocs/op\n",
		"BenchmarkLeakyBucket/uber-ratelimit/parallel \t 6780793\t 59.52 ns/op\t 0.01179 waits/op\n",
		"goos: linux\ncpu: AMD EPYC\nPASS\nok \tx\t1s\n",
		"BenchmarkA-0-3 1 -0 x\nBenchmarkA-3 +5 1e308 y\nBenchmark- 1 0x1p-2 z\r\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		results, _, err := Parse(strings.NewReader(in))
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range results {
			if !strings.HasPrefix(r.Name, "Benchmark") || r.Procs < 1 || r.Iters < 1 {
				t.Fatalf("malformed result %#v", r)
			}
			for _, v := range r.Values {
				if math.IsNaN(v.Value) || math.IsInf(v.Value, 0) || v.Unit == "" {
					t.Fatalf("malformed value %#v in %#v", v, r)
				}
			}
			again, _, err := Parse(strings.NewReader(r.String()))
			if err != nil || len(again) != 1 || !reflect.DeepEqual(again[0], r) {
				t.Fatalf("%#v\nformats as %q\nwhich reads back as %#v", r, r.String(), again)
			}
		}
	})
}
