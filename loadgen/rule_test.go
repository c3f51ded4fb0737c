package loadgen

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestParseRule(t *testing.T) {
	tests := []struct {
		in     string
		metric string
		op     string
		thr    float64
		window time.Duration
	}{
		{"error_rate>5%", "error_rate", ">", 0.05, DefaultRuleWindow},
		{"error_rate > 0.05", "error_rate", ">", 0.05, DefaultRuleWindow},
		{"p99>200ms", "p99", ">", float64(200 * time.Millisecond), DefaultRuleWindow},
		{"P99.9>=1s over 10s", "p99.9", ">=", float64(time.Second), 10 * time.Second},
		{"rate<100", "rate", "<", 100, DefaultRuleWindow},
		{"reject_rate<=50%", "reject_rate", "<=", 0.5, DefaultRuleWindow},
		{"max>2s over 60s", "max", ">", float64(2 * time.Second), time.Minute},
		{"drop_rate>0", "drop_rate", ">", 0, DefaultRuleWindow},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			r, err := ParseRule(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			if r.Metric != tc.metric || r.Op != tc.op || r.Threshold != tc.thr || r.Window != tc.window || r.Text != strings.TrimSpace(tc.in) {
				t.Fatalf("got %+v", r)
			}
		})
	}
	bad := map[string]string{
		"":                      "no operator",
		"p99":                   "no operator",
		">5%":                   "no metric",
		"latency>5ms":           `unknown metric "latency"`,
		"p99>":                  "no value",
		"p99>200":               "duration with a unit",
		"error_rate>150%":       "within 0%..100%",
		"error_rate>lots":       "share such as 5%",
		"rate<-1":               "rate takes",
		"p99>1s over 0s":        "whole seconds",
		"p99>1s over 90s":       "whole seconds",
		"p99>1s over 1500ms":    "whole seconds",
		"error_rate=>5%":        `unknown metric "error_rate="`,
		"error_rate>5% over xs": "whole seconds",
	}
	for in, want := range bad {
		t.Run("bad "+in, func(t *testing.T) {
			_, err := ParseRule(in)
			if !errors.Is(err, ErrRule) || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "metrics:") {
				t.Fatalf("ParseRule(%q) = %v; want ErrRule mentioning %q and the allowed metrics", in, err, want)
			}
			if !strings.Contains(err.Error(), in) {
				t.Fatalf("error %q does not name the rule", err)
			}
		})
	}
}

func TestRuleEvaluation(t *testing.T) {
	h := newIvHist()
	for i := 1; i <= 100; i++ {
		_ = h.RecordValue(int64(i) * 1000) // 1ms .. 100ms
	}
	w := &windowStats{seconds: 5, latency: h, finished: 100, errors: 10, rejected: 3, sent: 100, late: 1, scheduled: 110, dropped: 10}
	tests := []struct {
		rule string
		trip bool
	}{
		{"error_rate>5%", true},
		{"error_rate>10%", false},
		{"error_rate>=10%", true},
		{"reject_rate>2%", true},
		{"late_rate>1%", false},
		{"drop_rate>9%", true},
		{"p99>90ms", true},
		{"p50>60ms", false},
		{"max>=100ms", true},
		{"rate<20", false},
		{"rate<=20", true},
		{"mean>40ms", true},
	}
	for _, tc := range tests {
		t.Run(tc.rule, func(t *testing.T) {
			r, err := ParseRule(tc.rule)
			if err != nil {
				t.Fatal(err)
			}
			v, ok := r.value(w)
			if !ok || r.tripped(v) != tc.trip {
				t.Fatalf("value %v ok %v, tripped %v, want %v", v, ok, r.tripped(v), tc.trip)
			}
		})
	}
	empty := &windowStats{seconds: 5, latency: newIvHist()}
	for _, s := range []string{"error_rate>0", "p99>0ms", "late_rate>0"} {
		r, _ := ParseRule(s)
		if _, ok := r.value(empty); ok {
			t.Fatalf("%s judged an empty window", s)
		}
	}
}

func FuzzParseRule(f *testing.F) {
	for _, s := range []string{"error_rate>5%", "p99>200ms over 10s", "rate<=1e3", "p99.99>=1h", "x<y", "><", "drop_rate>0.5 over 60s"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseRule(s)
		if err != nil {
			if !errors.Is(err, ErrRule) {
				t.Fatalf("error %v is not ErrRule", err)
			}
			return
		}
		if _, ok := ruleMetrics[r.Metric]; !ok || r.Window < time.Second || r.Window > maxRuleWindow || r.Threshold < 0 {
			t.Fatalf("accepted %q as %+v", s, r)
		}
		switch r.Op {
		case ">", ">=", "<", "<=":
		default:
			t.Fatalf("op %q", r.Op)
		}
		if again, err := ParseRule(r.Text); err != nil || again != r {
			t.Fatalf("reparse of %q: %+v, %v", r.Text, again, err)
		}
	})
}
