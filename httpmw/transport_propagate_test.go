package httpmw_test

import (
	"context"
	"net/http"
	"reflect"
	"strconv"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/color"
	"github.com/bulwark-go/bulwark/httpmw"
	"github.com/bulwark-go/bulwark/timeout"
)

const trTraceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

// TestTransportPropagation: the backend sees Bulwark-Deadline, the trace context and the color,
// and the caller's request is left as it was.
func TestTransportPropagation(t *testing.T) {
	// Deadlines are offsets from the start of each case, so that a slow machine cannot reorder
	// them: soon (100 ms) is earlier than the dynamic timeout (Tmax 500 ms), an hour is later.
	const soon = 100 * time.Millisecond
	tests := []struct {
		name         string
		opts         []httpmw.Option
		ctxDeadline  time.Duration // 0: none
		header       string        // a Bulwark-Deadline the caller set: "" none, "soon", "hour", or as is
		setColor     bool          // the caller set Bulwark-Color: mine
		wantDeadline string        // "dynamic": now + Tmax; "soon": exactly that; "": absent; else as is
		wantTrace    bool
		wantColor    string
	}{
		{"dynamic timeout bounds", nil, 0, "", false, "dynamic", true, "shadow"},
		{"caller deadline earlier", nil, soon, "", false, "soon", true, "shadow"},
		{"earlier header kept", nil, 0, "soon", false, "soon", true, "shadow"},
		{"later header replaced", nil, 0, "hour", false, "dynamic", true, "shadow"},
		{"malformed header replaced", nil, 0, "later", false, "dynamic", true, "shadow"},
		{"no bound leaves the header alone", []httpmw.Option{httpmw.WithoutTimeout()}, 0, "later", false, "later", true, "shadow"},
		{"no bound, no header", []httpmw.Option{httpmw.WithoutTimeout()}, 0, "", false, "", true, "shadow"},
		{"request color kept", nil, 0, "", true, "dynamic", true, "mine"},
		{"propagator off", []httpmw.Option{httpmw.WithPropagator(nil)}, 0, "", false, "dynamic", false, "shadow"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			be := trNewBackend(t)
			be.headers = make(chan http.Header, 1)
			rt := trTransport(t, tt.opts...)

			ctx := (httpmw.TraceHeaders{}).Extract(context.Background(), http.Header{"Traceparent": {trTraceparent}})
			ctx = color.With(ctx, "shadow")
			now := time.Now()
			offsets := map[string]string{"soon": httpmw.FormatDeadline(now.Add(soon)),
				"hour": httpmw.FormatDeadline(now.Add(time.Hour))}
			if tt.ctxDeadline > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithDeadline(ctx, now.Add(tt.ctxDeadline))
				defer cancel()
			}
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, be.srv.URL, nil)
			if v, ok := offsets[tt.header]; ok {
				req.Header.Set(httpmw.HeaderDeadline, v)
			} else if tt.header != "" {
				req.Header.Set(httpmw.HeaderDeadline, tt.header)
			}
			if tt.setColor {
				req.Header.Set(color.Header, "mine")
			}
			orig := req.Header.Clone()

			start := time.Now()
			resp, err := rt.RoundTrip(req)
			end := time.Now()
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			got := <-be.headers

			dl := got.Get(httpmw.HeaderDeadline)
			switch tt.wantDeadline {
			case "dynamic":
				ms, err := strconv.ParseInt(dl, 10, 64)
				lo, hi := start.Add(timeout.DefaultTmax).UnixMilli()-1, end.Add(timeout.DefaultTmax).UnixMilli()
				if err != nil || ms < lo || ms > hi {
					t.Fatalf("%s = %q, want Unix ms in [%d, %d]", httpmw.HeaderDeadline, dl, lo, hi)
				}
			case "soon":
				if want := offsets["soon"]; dl != want {
					t.Fatalf("%s = %q, want %q", httpmw.HeaderDeadline, dl, want)
				}
			default:
				if dl != tt.wantDeadline {
					t.Fatalf("%s = %q, want %q", httpmw.HeaderDeadline, dl, tt.wantDeadline)
				}
			}
			if tp := got.Get("Traceparent"); (tp == trTraceparent) != tt.wantTrace || (!tt.wantTrace && tp != "") {
				t.Fatalf("traceparent = %q, want it: %v", tp, tt.wantTrace)
			}
			if c := got.Get(color.Header); c != tt.wantColor {
				t.Fatalf("%s = %q, want %q", color.Header, c, tt.wantColor)
			}
			if !reflect.DeepEqual(req.Header, orig) {
				t.Fatalf("the caller's header changed: %v, was %v", req.Header, orig)
			}
			if req.Context() != ctx {
				t.Fatal("the caller's request has another context")
			}
		})
	}
}

// TestTransportNoColorNoTrace: a plain request gets the deadline only.
func TestTransportNoColorNoTrace(t *testing.T) {
	be := trNewBackend(t)
	be.headers = make(chan http.Header, 1)
	rt := trTransport(t)
	if _, err := trGet(rt, be.srv.URL); err != nil {
		t.Fatal(err)
	}
	got := <-be.headers
	for _, h := range []string{"Traceparent", "Tracestate", "Baggage", color.Header} {
		if v, ok := got[h]; ok {
			t.Errorf("%s = %q on a request whose context has none", h, v)
		}
	}
	if got.Get(httpmw.HeaderDeadline) == "" {
		t.Error("no deadline")
	}
}
