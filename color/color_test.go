package color_test

import (
	"context"
	"strings"
	"testing"

	"github.com/bulwark-go/bulwark/color"
)

func TestWithFrom(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"plain", "stress", "stress"},
		{"all classes", "Load_test-2.b", "Load_test-2.b"},
		{"empty", "", ""},
		{"space", "st ress", ""},
		{"comma", "a,b", ""},
		{"non-ascii", "strëss", ""},
		{"longest", strings.Repeat("a", color.MaxLen), strings.Repeat("a", color.MaxLen)},
		{"too long", strings.Repeat("a", color.MaxLen+1), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := color.From(color.With(context.Background(), tt.in)); got != tt.want {
				t.Fatalf("From(With(%q)) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestInvalidKeepsOuterColor(t *testing.T) {
	ctx := color.With(context.Background(), "stress")
	if got := color.From(color.With(ctx, "bad value")); got != "stress" {
		t.Fatalf("an invalid color replaced the outer one: %q", got)
	}
	if got := color.From(color.With(ctx, "shadow")); got != "shadow" {
		t.Fatalf("inner color = %q, want shadow", got)
	}
}

func FuzzValid(f *testing.F) {
	for _, s := range []string{"", "stress", "a b", strings.Repeat("x", 70), "ü"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ok := color.Valid(s)
		got := color.From(color.With(context.Background(), s))
		if (ok && got != s) || (!ok && got != "") {
			t.Fatalf("Valid(%q) = %v but From(With) = %q", s, ok, got)
		}
		if ok && (len(s) > color.MaxLen || strings.ContainsAny(s, " ,;=\r\n\t")) {
			t.Fatalf("Valid accepted %q", s)
		}
	})
}
