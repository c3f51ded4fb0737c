package fleet

import (
	"math"
	"strconv"
	"testing"
)

// FuzzLimiterReply: whatever the sync script's reply holds, decoding it fails cleanly or
// yields values a Limiter can use.
func FuzzLimiterReply(f *testing.F) {
	f.Add(int64(900), int64(3), "0.333", int64(10), int64(0), true, uint8(2))
	f.Add(int64(-1), int64(0), "NaN", int64(-5), int64(1), false, uint8(0))
	f.Add(int64(0), int64(1), "1", int64(0), int64(0), true, uint8(7))
	f.Fuzz(func(t *testing.T, total, live int64, share string, g1, g2 int64, shareAsInt bool, r uint8) {
		var third any = share
		if shareAsInt {
			third = int64(len(share))
		}
		reply := []any{total, live, third, g1, g2}
		want := int(r % 4)
		rep, err := parseLimiterReply(reply, want)
		if err != nil {
			return
		}
		if want != 2 || rep.live < 1 || rep.total < 0 || !(rep.share >= 0 && rep.share <= 1) || math.IsNaN(rep.share) {
			t.Fatalf("accepted %v as %+v for %d grants", reply, rep, want)
		}
		for _, g := range rep.grants {
			if g < 0 {
				t.Fatalf("negative grant in %+v", rep)
			}
		}
		if s, _ := strconv.ParseFloat(share, 64); s != rep.share {
			t.Fatalf("share %q decoded as %v", share, rep.share)
		}
	})
}

func TestLimiterReplyRejects(t *testing.T) {
	tests := []struct {
		name  string
		reply any
		r     int
	}{
		{"not a slice", "x", 0},
		{"short", []any{int64(1), int64(1)}, 0},
		{"grant count", []any{int64(1), int64(1), "0.5"}, 1},
		{"share not text", []any{int64(1), int64(1), int64(1)}, 0},
		{"share out of range", []any{int64(1), int64(1), "1.5"}, 0},
		{"no live instance", []any{int64(1), int64(0), "0.5"}, 0},
		{"negative total", []any{int64(-1), int64(1), "0.5"}, 0},
		{"negative grant", []any{int64(1), int64(1), "0.5", int64(-2)}, 1},
		{"grant not a number", []any{int64(1), int64(1), "0.5", "7"}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := parseLimiterReply(tt.reply, tt.r); err == nil {
				t.Fatal("accepted")
			}
		})
	}
	rep, err := parseLimiterReply([]any{int64(7), int64(2), "0.25", int64(3)}, 1)
	if err != nil || rep.total != 7 || rep.live != 2 || rep.share != 0.25 || rep.grants[0] != 3 {
		t.Fatalf("%+v, %v", rep, err)
	}
}
