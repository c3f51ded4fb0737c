package observe_test

import (
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/bulwark-go/bulwark/observe"
)

func obsMasker(t testing.TB, keys, patterns []string) *observe.Masker {
	t.Helper()
	m, err := observe.NewMasker(keys, patterns)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestMaskValue(t *testing.T) {
	def := obsMasker(t, nil, nil)
	custom := obsMasker(t, []string{"X-Api-Key", "token"}, []string{`\d{12,19}`, `(?i)bearer\s+[A-Za-z0-9._-]+`})
	none := obsMasker(t, []string{}, nil)
	var nilM *observe.Masker
	tests := []struct {
		name   string
		m      *observe.Masker
		key, v string
		want   string
	}{
		{"default Authorization", def, "Authorization", "Bearer abc", "***"},
		{"default key any case", def, "cOOKIE", "sid=1", "***"},
		{"default leaves others", def, "X-Order-Id", "o-1", "o-1"},
		{"empty key list masks no key", none, "Authorization", "Bearer abc", "Bearer abc"},
		{"nil masker masks nothing", nilM, "Authorization", "x", "x"},
		{"custom key", custom, "x-api-key", "k", "***"},
		{"custom replaces defaults", custom, "Authorization", "Basic Zm9v", "Basic Zm9v"},
		{"pattern in any value", custom, "X-Note", "card 4111111111111111 ok", "card *** ok"},
		{"two patterns, many matches", custom, "q", "bearer abc and 123456789012 and BEARER x", "*** and *** and ***"},
		{"no match unchanged", custom, "q", "short 1234", "short 1234"},
		{"masked key wins over pattern", custom, "token", "123456789012", "***"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.m.MaskValue(tt.key, tt.v); got != tt.want {
				t.Fatalf("MaskValue(%q, %q) = %q, want %q", tt.key, tt.v, got, tt.want)
			}
		})
	}
}

func TestNewMaskerRejects(t *testing.T) {
	tests := []struct {
		name           string
		keys, patterns []string
		want           string
	}{
		{"empty key", []string{"Authorization", " "}, nil, "mask.keys[1]"},
		{"bad regexp", nil, []string{"ok", "(unclosed"}, "mask.patterns[1]"},
		{"matches empty", nil, []string{"a*"}, "empty string"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := observe.NewMasker(tt.keys, tt.patterns)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestMaskHeaderAndQuery(t *testing.T) {
	m := obsMasker(t, []string{"Authorization", "Cookie", "token"}, []string{`sk_[a-z0-9]+`})
	h := http.Header{"Authorization": {"Bearer x"}, "Cookie": {"a=1", "b=2"}, "X-Trace": {"sk_live1 and more"}}
	got := m.MaskHeader(h)
	if got.Get("Authorization") != "***" || strings.Join(got["Cookie"], ",") != "***,***" || got.Get("X-Trace") != "*** and more" {
		t.Fatalf("MaskHeader = %v", got)
	}
	if h.Get("Authorization") != "Bearer x" {
		t.Fatal("MaskHeader changed its input")
	}
	for _, tt := range []struct{ in, want string }{
		{"", ""},
		{"a=1&token=s3cret&b=2", "a=1&token=***&b=2"},
		{"TOKEN=x&to%6Ben=y", "TOKEN=***&to%6Ben=***"},
		{"q=sk_abc9&z", "q=***&z"},
	} {
		if got := m.MaskQuery(tt.in); got != tt.want {
			t.Errorf("MaskQuery(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestMaskNoMatchAllocsNothing(t *testing.T) {
	m := obsMasker(t, nil, []string{`\d{12,19}`})
	if n := testing.AllocsPerRun(100, func() { m.MaskValue("X-Order-Id", "order-42") }); n != 0 {
		t.Fatalf("MaskValue without a match allocates %v times", n)
	}
}

func BenchmarkMaskValue(b *testing.B) {
	m := obsMasker(b, nil, []string{`\d{12,19}`, `(?i)bearer\s+\S+`})
	for _, bc := range []struct{ name, key, v string }{
		{"key", "Authorization", "Bearer abc"},
		{"no match", "X-Order-Id", "order-4711-from-the-shop"},
		{"match", "X-Note", "card 4111111111111111"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				m.MaskValue(bc.key, bc.v)
			}
		})
	}
}

// FuzzMasker checks, for any key, value and extra pattern: a masked key always gives "***";
// the output never holds a match of the fixed patterns (their matches are whole runs that
// "***" cannot recreate); a value without a match comes back unchanged; a bad extra pattern
// is an error, not a panic.
func FuzzMasker(f *testing.F) {
	f.Add("Authorization", "Bearer x", `x+`)
	f.Add("X-Card", "4111 1111111111111 sk_live_abc", `(`)
	f.Add("cookie", "", `\`)
	fixed := []string{`\d{12,}`, `sk_[A-Za-z0-9]+`}
	fixedRe := regexp.MustCompile(`\d{12,}|sk_[A-Za-z0-9]+`)
	base := obsMasker(f, []string{"Authorization", "Cookie"}, fixed)
	f.Fuzz(func(t *testing.T, key, value, pattern string) {
		if m, err := observe.NewMasker([]string{key}, append(fixed[:2:2], pattern)); err == nil {
			_ = m.MaskValue(key, value)
			_ = m.MaskQuery(value)
		}
		got := base.MaskValue(key, value)
		if strings.EqualFold(key, "Authorization") || strings.EqualFold(key, "Cookie") {
			if got != "***" {
				t.Fatalf("key %q not masked: %q", key, got)
			}
			return
		}
		if fixedRe.MatchString(got) {
			t.Fatalf("MaskValue(%q) = %q still holds a match", value, got)
		}
		if !fixedRe.MatchString(value) && got != value {
			t.Fatalf("MaskValue(%q) = %q changed a value without a match", value, got)
		}
		if q := base.MaskQuery(value); fixedRe.MatchString(q) {
			t.Fatalf("MaskQuery(%q) = %q still holds a match", value, q)
		}
	})
}
