package fleet

import (
	"net/http/httptest"
	"strings"
	"testing"
)

func TestKeySpecGeneralizes(t *testing.T) {
	geo, err := ParseKeySpec([]string{"path", "query:city", "query:lat~0.01", "query:lng~0.01"})
	if err != nil {
		t.Fatal(err)
	}
	key := func(target string) string {
		k, ok := geo.Key(httptest.NewRequest("GET", target, nil))
		if !ok {
			return "<none>"
		}
		return strings.ReplaceAll(k, "\x1f", "|")
	}
	tests := []struct{ name, target, want string }{
		{"grid", "/geo?city=sz&lat=22.5431&lng=114.0579", "/geo|sz|22.54|114.05"},
		{"same block", "/geo?city=sz&lat=22.5499&lng=114.0501&extra=1", "/geo|sz|22.54|114.05"},
		{"on a grid line", "/geo?city=sz&lat=22.54&lng=114.05", "/geo|sz|22.54|114.05"},
		{"negative rounds down", "/geo?city=x&lat=-0.005&lng=0", "/geo|x|-0.01|0.00"},
		{"minus zero", "/geo?city=x&lat=-0&lng=0.001", "/geo|x|0.00|0.00"},
		{"missing city is empty", "/geo?lat=1&lng=2", "/geo||1.00|2.00"},
		{"not a number", "/geo?city=sz&lat=north&lng=1", "<none>"},
		{"missing number", "/geo?city=sz&lng=1", "<none>"},
		{"infinite", "/geo?city=sz&lat=Inf&lng=1", "<none>"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := key(tt.target); got != tt.want {
				t.Fatalf("Key(%s) = %q, want %q", tt.target, got, tt.want)
			}
		})
	}
}

func TestKeySpecParts(t *testing.T) {
	ks, err := ParseKeySpec([]string{"method", "host", "path", "query:page", "header:accept-language"})
	if err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequest("GET", "http://API.example:8080/songs?page=2&x=1", nil)
	r.Header.Set("Accept-Language", "zh")
	if k, ok := ks.Key(r); !ok || k != "GET\x1fapi.example\x1f/songs\x1f2\x1fzh" {
		t.Fatalf("Key = %q %v", k, ok)
	}
	if ks.String() != "method,host,path,query:page,header:accept-language" {
		t.Fatalf("String = %q", ks.String())
	}
}

func TestParseKeySpecErrors(t *testing.T) {
	tests := []struct {
		name  string
		parts []string
		want  string
	}{
		{"empty", nil, "empty"},
		{"unknown", []string{"path", "cookie:x"}, `[1] "cookie:x": unknown kind`},
		{"bare word", []string{"body"}, "unknown part"},
		{"no name", []string{"query:"}, "name is empty"},
		{"bad step", []string{"query:lat~x"}, `step "x"`},
		{"zero step", []string{"query:lat~0"}, `step "0"`},
		{"negative step", []string{"query:lat~-1"}, `step "-1"`},
		{"twice", []string{"path", "path"}, "listed twice"},
		{"bad header", []string{"header:a b"}, "not valid"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseKeySpec(tt.parts)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func FuzzKeySpec(f *testing.F) {
	f.Add("query:lat~0.01", "/p?lat=22.5431")
	f.Add("header:x", "/p")
	f.Add("query:a~1e-3", "/p?a=-5")
	f.Fuzz(func(t *testing.T, part, target string) {
		ks, err := ParseKeySpec([]string{"path", part})
		if err != nil {
			return
		}
		r, rerr := httptestRequest(target)
		if rerr != nil {
			return
		}
		k1, ok1 := ks.Key(r)
		k2, ok2 := ks.Key(r)
		if k1 != k2 || ok1 != ok2 {
			t.Fatalf("Key is not deterministic: %q %v / %q %v", k1, ok1, k2, ok2)
		}
	})
}
