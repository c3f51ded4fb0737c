package client

import (
	"net/http"
	"testing"
	"time"
)

// memoryTransport answers every request from memory, so a benchmark sees only the client's
// own overhead.
type memoryTransport struct{ resp http.Response }

func (m *memoryTransport) RoundTrip(*http.Request) (*http.Response, error) {
	r := m.resp
	return &r, nil
}

func memoryClient(tb testing.TB, status int, header http.Header) *Client {
	c, err := New(Config{
		Centers:   []Center{{Name: "sz", URL: "http://sz.example"}, {Name: "bj", URL: "http://bj.example/api"}},
		Home:      "sz",
		Transport: &memoryTransport{resp: http.Response{StatusCode: status, Header: header, Body: http.NoBody}},
	})
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

// BenchmarkRoundTrip: one attempt answered by the home center.
func BenchmarkRoundTrip(b *testing.B) {
	c := memoryClient(b, 200, http.Header{HeaderCenter: {"sz"}})
	req, _ := http.NewRequest(http.MethodGet, "http://bulwark/orders?id=7", nil)
	b.ReportAllocs()
	for b.Loop() {
		resp, err := c.RoundTrip(req)
		if err != nil {
			b.Fatal(err)
		}
		_ = resp.Body.Close()
	}
}

// BenchmarkRoundTripFailover: a 5xx without Bulwark-Center at home, then the other center.
func BenchmarkRoundTripFailover(b *testing.B) {
	c := memoryClient(b, 502, http.Header{})
	req, _ := http.NewRequest(http.MethodGet, "http://bulwark/orders?id=7", nil)
	b.ReportAllocs()
	for b.Loop() {
		resp, err := c.RoundTrip(req)
		if err != nil {
			b.Fatal(err)
		}
		_ = resp.Body.Close()
	}
}

// BenchmarkRoundTripFrozen: a call refused while frozen.
func BenchmarkRoundTripFrozen(b *testing.B) {
	c := memoryClient(b, 200, http.Header{})
	c.freeze.Store(&FrozenError{Until: c.clk.Now().Add(time.Hour)})
	req, _ := http.NewRequest(http.MethodGet, "http://bulwark/orders?id=7", nil)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.RoundTrip(req); err == nil {
			b.Fatal("not frozen")
		}
	}
}

// TestRoundTripAllocs pins the allocations of a call answered at home (the request clone,
// its context and timer, the body wrapper; one is the memory transport's response) and of a
// call refused while frozen (none).
func TestRoundTripAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not meaningful under -race")
	}
	req, _ := http.NewRequest(http.MethodGet, "http://bulwark/orders?id=7", nil)
	tests := []struct {
		name   string
		frozen bool
		max    float64
	}{
		{"answered at home", false, 9},
		{"refused while frozen", true, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := memoryClient(t, 200, http.Header{HeaderCenter: {"sz"}})
			if tt.frozen {
				c.freeze.Store(&FrozenError{Until: c.clk.Now().Add(time.Hour)})
			}
			allocs := testing.AllocsPerRun(200, func() {
				if resp, err := c.RoundTrip(req); err == nil {
					_ = resp.Body.Close()
				}
			})
			if allocs > tt.max {
				t.Errorf("%v allocs per call, want ≤ %v", allocs, tt.max)
			}
		})
	}
}
