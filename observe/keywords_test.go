package observe_test

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"unicode/utf8"

	"go.opentelemetry.io/otel/attribute"

	"github.com/bulwark-go/bulwark/observe"
)

func obsKeywords(t testing.TB) *observe.Keywords {
	t.Helper()
	m := obsMasker(t, nil, []string{`\d{12,19}`})
	k, err := observe.NewKeywords([]string{"X-Order-Id", "authorization", "X-Card"}, []string{"user_id", "q"}, m)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestKeywordsAttrs(t *testing.T) {
	k := obsKeywords(t)
	long := strings.Repeat("é", 200) // 400 bytes
	tests := []struct {
		name   string
		target string
		header http.Header
		want   map[string]string
	}{
		{"none", "/songs?page=2", nil, nil},
		{"header and query", "/songs?user_id=u-7&page=2", http.Header{"X-Order-Id": {"o-42"}},
			map[string]string{"keyword.x_order_id": "o-42", "keyword.user_id": "u-7"}},
		{"masked key", "/", http.Header{"Authorization": {"Bearer s3cret"}}, map[string]string{"keyword.authorization": "***"}},
		{"masked pattern", "/?q=card+4111111111111111", http.Header{"X-Card": {"4111111111111111"}},
			map[string]string{"keyword.x_card": "***", "keyword.q": "card ***"}},
		{"first value wins", "/?user_id=a&user_id=b", http.Header{"X-Order-Id": {"1", "2"}},
			map[string]string{"keyword.x_order_id": "1", "keyword.user_id": "a"}},
		{"escaped key and value", "/?user%5Fid=%C3%A9t%C3%A9", nil, map[string]string{"keyword.user_id": "été"}},
		{"empty values skipped", "/?user_id=&q", http.Header{"X-Order-Id": {""}}, nil},
		{"long value cut at a character", "/?q=" + url.QueryEscape(long), nil, map[string]string{"keyword.q": long[:observe.MaxKeywordLen]}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", tt.target, nil)
			for k, v := range tt.header {
				r.Header[k] = v
			}
			attrs := k.Attrs(r)
			logs := k.LogAttrs(r)
			if len(attrs) != len(tt.want) || len(logs) != len(tt.want) {
				t.Fatalf("Attrs = %v, LogAttrs = %v, want %v", attrs, logs, tt.want)
			}
			if tt.want == nil && (attrs != nil || logs != nil) {
				t.Fatal("want nil slices for a request without keywords")
			}
			for i, a := range attrs {
				if tt.want[string(a.Key)] != a.Value.AsString() || a.Value.Type() != attribute.STRING {
					t.Errorf("attr %s = %q, want %q", a.Key, a.Value.AsString(), tt.want[string(a.Key)])
				}
				if !utf8.ValidString(a.Value.AsString()) {
					t.Errorf("attr %s is not valid UTF-8", a.Key)
				}
				if l := logs[i]; l.Key != string(a.Key) || l.Value.Kind() != slog.KindString || l.Value.String() != a.Value.AsString() {
					t.Errorf("log attr %v differs from span attr %v", l, a)
				}
			}
		})
	}
}

func TestNewKeywordsRejects(t *testing.T) {
	tests := []struct {
		name           string
		headers, query []string
		want           string
	}{
		{"empty header", []string{""}, nil, "empty name"},
		{"collision", []string{"User-Id"}, []string{"user_id"}, "keyword.user_id"},
		{"duplicate header", []string{"X-A", "x-a"}, nil, "keyword.x_a"},
		{"too many query names", nil, make([]string, 65), "at most 64"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := observe.NewKeywords(tt.headers, tt.query, nil)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestKeywordAttr(t *testing.T) {
	for in, want := range map[string]string{"X-Order-Id": "keyword.x_order_id", "user_id": "keyword.user_id",
		" a.b ": "keyword.a.b", "Ümlaut": "keyword.__mlaut"} {
		if got := observe.KeywordAttr(in); got != want {
			t.Errorf("KeywordAttr(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestKeywordsWithoutKeywordsAllocNothing(t *testing.T) {
	k := obsKeywords(t)
	r := httptest.NewRequest("GET", "/songs?page=2&sort=new", nil)
	r.Header.Set("Accept", "*/*")
	if n := testing.AllocsPerRun(100, func() { k.Attrs(r); k.LogAttrs(r) }); n != 0 {
		t.Fatalf("Attrs on a request without keywords allocates %v times", n)
	}
	var nilK *observe.Keywords
	if nilK.Attrs(r) != nil || nilK.LogAttrs(r) != nil {
		t.Fatal("a nil Keywords found something")
	}
}

func BenchmarkKeywordsAttrs(b *testing.B) {
	k := obsKeywords(b)
	none := httptest.NewRequest("GET", "/songs?page=2&sort=new", nil)
	some := httptest.NewRequest("GET", "/songs?page=2&user_id=u-7", nil)
	some.Header.Set("X-Order-Id", "o-42")
	for _, bc := range []struct {
		name string
		r    *http.Request
	}{{"none", none}, {"two", some}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				k.Attrs(bc.r)
			}
		})
	}
}

// FuzzKeywordsQuery feeds any raw query: no panic, values valid UTF-8 where the input was,
// at most MaxKeywordLen bytes, and never an unmasked long digit run.
func FuzzKeywordsQuery(f *testing.F) {
	f.Add("user_id=u-7&q=4111111111111111")
	f.Add("user%5Fid=%zz&q=%C3")
	f.Add("&&=&user_id")
	k := obsKeywords(f)
	f.Fuzz(func(t *testing.T, raw string) {
		r := &http.Request{Header: http.Header{}, URL: &url.URL{RawQuery: raw}}
		for _, a := range k.Attrs(r) {
			v := a.Value.AsString()
			if len(v) > observe.MaxKeywordLen {
				t.Fatalf("%s is %d bytes", a.Key, len(v))
			}
			digits := 0
			for _, c := range v {
				if c >= '0' && c <= '9' {
					if digits++; digits >= 12 {
						t.Fatalf("%s = %q holds an unmasked card-like number", a.Key, v)
					}
				} else {
					digits = 0
				}
			}
		}
	})
}
