package httpmw_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/bulwark-go/bulwark/adaptive"
	"github.com/bulwark-go/bulwark/httpmw"
	"github.com/bulwark-go/bulwark/overload"
)

// BenchmarkProtect measures the middleware's own cost per admitted request, without network
// I/O: the wrapped handler only writes a status, and the ResponseWriter discards.
func BenchmarkProtect(b *testing.B) {
	noContent := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) })
	det, _ := overload.New(overload.WithWorkers(1024))
	bbr, _ := adaptive.New()
	cases := []struct {
		name string
		opts []httpmw.Option
	}{
		{"bare", nil},
		{"limiter", []httpmw.Option{httpmw.WithLimiter(bbr)}},
		{"all", []httpmw.Option{httpmw.WithLimiter(bbr), httpmw.WithOverload(det, 0), httpmw.WithWorkers(1024, 0, 0),
			httpmw.WithLevels(map[string]int{"/pay/": 1, "/badges/": 4})}},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			h, err := httpmw.Protect(noContent, c.opts...)
			if err != nil {
				b.Fatal(err)
			}
			w := newDiscardWriter()
			r := httptest.NewRequest(http.MethodGet, "/pay/7", nil)
			b.ReportAllocs()
			for b.Loop() {
				h.ServeHTTP(w, r)
			}
		})
	}
	b.Run("handler-only", func(b *testing.B) { // the baseline the middleware adds to
		w := newDiscardWriter()
		r := httptest.NewRequest(http.MethodGet, "/pay/7", nil)
		b.ReportAllocs()
		for b.Loop() {
			noContent.ServeHTTP(w, r)
		}
	})
}
