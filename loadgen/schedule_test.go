package loadgen

import (
	"errors"
	"math"
	"testing"
	"time"
)

func TestPacerIntegratesSchedules(t *testing.T) {
	tests := []struct {
		name string
		s    Schedule
		d    time.Duration
		want float64 // ∫₀ᵈ rate
	}{
		{"constant", Constant(5000), 3 * time.Second, 15000},
		{"constant fractional", Constant(2.5), 10 * time.Second, 25},
		{"ramp up", Ramp{From: 100, To: 2000, Over: 60 * time.Second}, 60 * time.Second, (100 + 2000) / 2.0 * 60},
		{"ramp then hold", Ramp{From: 0, To: 1000, Over: 10 * time.Second}, 20 * time.Second, 5000 + 10000},
		{"ramp down", Ramp{From: 1000, To: 10, Over: 5 * time.Second}, 5 * time.Second, (1000 + 10) / 2.0 * 5},
		{"steps", Steps{{100, 10 * time.Second}, {500, 10 * time.Second}}, 20 * time.Second, 6000},
		{"steps with a pause", Steps{{200, time.Second}, {0, time.Second}, {200, time.Second}}, 3 * time.Second, 400},
		{"last step holds", Steps{{100, time.Second}}, 3 * time.Second, 300},
		{"zero rate", Constant(0), time.Second, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := pacer{s: tc.s}
			n := 0
			last := time.Duration(-1)
			for {
				off, ok := p.advance(tc.d)
				if !ok {
					break
				}
				if off <= last || off >= tc.d {
					t.Fatalf("offset %v after %v (limit %v)", off, last, tc.d)
				}
				last = off
				n++
			}
			if diff := math.Abs(float64(n) - tc.want); diff > math.Max(1.5, tc.want*0.001) {
				t.Fatalf("sent %d, want %.0f ±0.1%%", n, tc.want)
			}
		})
	}
}

func TestPacerConstantSpacing(t *testing.T) {
	p := pacer{s: Constant(1000)}
	for i := range 100 {
		off, ok := p.advance(time.Second)
		if !ok || off != time.Duration(i)*time.Millisecond {
			t.Fatalf("send %d at %v, want %v", i, off, time.Duration(i)*time.Millisecond)
		}
	}
}

func TestParseRate(t *testing.T) {
	tests := []struct {
		in   string
		ramp time.Duration
		want Schedule
		err  bool
	}{
		{"500", 0, Constant(500), false},
		{" 2.5 ", 0, Constant(2.5), false},
		{"100:2000", time.Minute, Ramp{100, 2000, time.Minute}, false},
		{"0:100", time.Second, Ramp{0, 100, time.Second}, false},
		{"100:2000", 0, nil, true},
		{"0", 0, nil, true},
		{"-5", 0, nil, true},
		{"abc", 0, nil, true},
		{"NaN", 0, nil, true},
		{"1e9", 0, nil, true},
		{"0:0", time.Second, nil, true},
		{"5:x", time.Second, nil, true},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseRate(tc.in, tc.ramp)
			if tc.err {
				if !errors.Is(err, ErrSchedule) {
					t.Fatalf("err = %v, want ErrSchedule", err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %v, %v; want %v", got, err, tc.want)
			}
		})
	}
}

func TestParseSteps(t *testing.T) {
	got, err := ParseSteps("100x10s, 500x1m30s,0x1s")
	want := Steps{{100, 10 * time.Second}, {500, 90 * time.Second}, {0, time.Second}}
	if err != nil || len(got) != len(want) {
		t.Fatalf("got %v, %v", got, err)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("step %d = %v, want %v", i, got[i], want[i])
		}
	}
	if got.Total() != 101*time.Second {
		t.Fatalf("total %v", got.Total())
	}
	for _, bad := range []string{"", "100", "100x", "x10s", "100x10", "100x-1s", "-1x1s", "1x1s,"} {
		t.Run(bad, func(t *testing.T) {
			if _, err := ParseSteps(bad); !errors.Is(err, ErrSchedule) {
				t.Fatalf("ParseSteps(%q) err = %v", bad, err)
			}
		})
	}
}
