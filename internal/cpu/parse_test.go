package cpu

import (
	"math"
	"reflect"
	"testing"
	"time"
)

func TestParseCPUMax(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		cpus    float64
		limited bool
		wantErr bool
	}{
		{"unlimited", "max 100000\n", 0, false, false},
		{"two CPUs", "200000 100000\n", 2, true, false},
		{"half a CPU", "50000 100000", 0.5, true, false},
		{"odd period", "150000 50000", 3, true, false},
		{"quota only uses default period", "300000", 3, true, false},
		{"max only", "max", 0, false, false},
		{"extra spaces", "  200000   100000  \n", 2, true, false},
		{"empty", "", 0, false, true},
		{"blank", " \n", 0, false, true},
		{"three fields", "1 2 3", 0, false, true},
		{"zero quota", "0 100000", 0, false, true},
		{"negative quota", "-1 100000", 0, false, true},
		{"zero period", "100000 0", 0, false, true},
		{"bad period with max", "max x", 0, false, true},
		{"words", "lots 100000", 0, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cpus, limited, err := parseCPUMax([]byte(tt.in))
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if cpus != tt.cpus || limited != tt.limited {
				t.Fatalf("= (%v, %v), want (%v, %v)", cpus, limited, tt.cpus, tt.limited)
			}
		})
	}
}

func TestParseCFS(t *testing.T) {
	tests := []struct {
		name          string
		quota, period string
		cpus          float64
		limited       bool
		wantErr       bool
	}{
		{"unlimited", "-1\n", "100000\n", 0, false, false},
		{"unlimited ignores a bad period", "-1", "", 0, false, false},
		{"two CPUs", "200000\n", "100000\n", 2, true, false},
		{"quarter CPU", "25000", "100000", 0.25, true, false},
		{"zero quota", "0", "100000", 0, false, true},
		{"other negative quota", "-2", "100000", 0, false, true},
		{"empty quota", "", "100000", 0, false, true},
		{"zero period", "100000", "0", 0, false, true},
		{"empty period", "100000", "", 0, false, true},
		{"garbage", "1e5", "100000", 0, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cpus, limited, err := parseCFS([]byte(tt.quota), []byte(tt.period))
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if cpus != tt.cpus || limited != tt.limited {
				t.Fatalf("= (%v, %v), want (%v, %v)", cpus, limited, tt.cpus, tt.limited)
			}
		})
	}
}

func TestParseCPUStat(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    time.Duration
		wantErr bool
	}{
		{"kernel layout", "usage_usec 104918375\nuser_usec 78450461\nsystem_usec 26467914\n", 104918375 * time.Microsecond, false},
		{"not first line", "nr_periods 0\nusage_usec 5\n", 5 * time.Microsecond, false},
		{"no trailing newline", "usage_usec 7", 7 * time.Microsecond, false},
		{"zero", "usage_usec 0\n", 0, false},
		{"missing", "user_usec 1\n", 0, true},
		{"empty", "", 0, true},
		{"negative", "usage_usec -1\n", 0, true},
		{"not a number", "usage_usec x\n", 0, true},
		{"overflows a Duration", "usage_usec 9223372036854776\n", 0, true},
		{"prefix is not the key", "usage_usecs 5\n", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseCPUStat([]byte(tt.in))
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if got != tt.want {
				t.Fatalf("= %v, want %v", got, tt.want)
			}
		})
	}
}

func TestParseCPUAcctUsage(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    time.Duration
		wantErr bool
	}{
		{"kernel layout", "107003931013\n", 107003931013, false},
		{"zero", "0", 0, false},
		{"empty", "", 0, true},
		{"negative", "-5", 0, true},
		{"too big", "18446744073709551615", 0, true},
		{"garbage", "12ns", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseCPUAcctUsage([]byte(tt.in))
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if got != tt.want {
				t.Fatalf("= %v, want %v", got, tt.want)
			}
		})
	}
}

func TestParseProcCgroup(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    []cgroupEntry
		wantErr bool
	}{
		{"v2 only", "0::/user.slice/session-1.scope\n", []cgroupEntry{{0, nil, "/user.slice/session-1.scope"}}, false},
		{"v2 root (namespaced)", "0::/\n", []cgroupEntry{{0, nil, "/"}}, false},
		{
			"hybrid, this machine's layout",
			"2:cpuacct:/\n1:cpu:/\n0::/\n",
			[]cgroupEntry{{2, []string{"cpuacct"}, "/"}, {1, []string{"cpu"}, "/"}, {0, nil, "/"}},
			false,
		},
		{
			"v1 co-mounted and named",
			"4:cpu,cpuacct:/docker/abc\n1:name=systemd:/docker/abc\n",
			[]cgroupEntry{{4, []string{"cpu", "cpuacct"}, "/docker/abc"}, {1, []string{"name=systemd"}, "/docker/abc"}},
			false,
		},
		{"colon in path", "0::/a:b\n", []cgroupEntry{{0, nil, "/a:b"}}, false},
		{"blank lines and CRLF", "\n0::/x\r\n\n", []cgroupEntry{{0, nil, "/x"}}, false},
		{"empty", "", nil, false},
		{"two fields", "0:/x\n", nil, true},
		{"bad id", "a::/x\n", nil, true},
		{"negative id", "-1::/x\n", nil, true},
		{"relative path", "0::x\n", nil, true},
		{"empty path", "0::\n", nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseProcCgroup([]byte(tt.in))
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("= %+v, want %+v", got, tt.want)
			}
		})
	}
}

func checkLimit(t *testing.T, cpus float64, limited bool, err error) {
	t.Helper()
	if err != nil && (cpus != 0 || limited) {
		t.Fatalf("error %v with a result (%v, %v)", err, cpus, limited)
	}
	if limited && (!(cpus > 0) || math.IsInf(cpus, 0)) {
		t.Fatalf("limited with cpus = %v", cpus)
	}
	if !limited && cpus != 0 {
		t.Fatalf("unlimited with cpus = %v", cpus)
	}
}

func FuzzParseCPUMax(f *testing.F) {
	for _, s := range []string{"max 100000\n", "200000 100000", "300000", "0 1", "max x", ""} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		cpus, limited, err := parseCPUMax(b)
		checkLimit(t, cpus, limited, err)
	})
}

func FuzzParseCFS(f *testing.F) {
	f.Add([]byte("-1\n"), []byte("100000\n"))
	f.Add([]byte("200000"), []byte("100000"))
	f.Add([]byte("0"), []byte("0"))
	f.Fuzz(func(t *testing.T, quota, period []byte) {
		cpus, limited, err := parseCFS(quota, period)
		checkLimit(t, cpus, limited, err)
	})
}

func FuzzParseCPUStat(f *testing.F) {
	for _, s := range []string{"usage_usec 104918375\nuser_usec 1\n", "usage_usec -1", "usage_usec 9223372036854776", ""} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := parseCPUStat(b)
		if d < 0 || (err != nil && d != 0) {
			t.Fatalf("= (%v, %v)", d, err)
		}
	})
}

func FuzzParseCPUAcctUsage(f *testing.F) {
	for _, s := range []string{"107003931013\n", "-5", "18446744073709551615", ""} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := parseCPUAcctUsage(b)
		if d < 0 || (err != nil && d != 0) {
			t.Fatalf("= (%v, %v)", d, err)
		}
	})
}

func FuzzParseProcCgroup(f *testing.F) {
	for _, s := range []string{"0::/\n", "2:cpuacct:/\n1:cpu:/\n0::/\n", "4:cpu,cpuacct:/docker/a:b\n", "x", "0:/\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		entries, err := parseProcCgroup(b)
		if err != nil {
			if entries != nil {
				t.Fatalf("error %v with entries %v", err, entries)
			}
			return
		}
		for _, e := range entries {
			if e.id < 0 || len(e.path) == 0 || e.path[0] != '/' {
				t.Fatalf("bad entry %+v", e)
			}
			if e.controllers != nil && len(e.controllers) == 0 {
				t.Fatalf("empty non-nil controllers in %+v", e)
			}
			// Walking up from any parsed path must end at "/".
			last := ""
			for dir := range ancestors(e.path) {
				last = dir
			}
			if last != "/" {
				t.Fatalf("ancestors(%q) ended at %q", e.path, last)
			}
		}
	})
}
