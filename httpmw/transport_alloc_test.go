package httpmw

import "testing"

// TestTransportDecisionAllocs pins the decision path (admit and finish) at zero allocations.
func TestTransportDecisionAllocs(t *testing.T) {
	if transportRaceOn {
		t.Skip("allocation counts are not meaningful under the race detector")
	}
	rt, req := benchTransport(t), benchRequest(t)
	decideOnce(t, rt, req) // the host's first call makes its state
	if n := testing.AllocsPerRun(1000, func() { decideOnce(t, rt, req) }); n != 0 {
		t.Fatalf("the decision path allocates %v times per call, want 0", n)
	}
}

// TestTransportRoundTripAllocs pins the allocations of a whole RoundTrip against an in-memory
// base: the request copy and its header, the deadline value, the attempt, its context and
// timer, and the base's own response.
func TestTransportRoundTripAllocs(t *testing.T) {
	if transportRaceOn {
		t.Skip("allocation counts are not meaningful under the race detector")
	}
	rt, req := benchTransport(t), benchRequest(t)
	call := func() {
		resp, err := rt.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	call()
	const want = 12
	if n := testing.AllocsPerRun(1000, call); n > want {
		t.Fatalf("RoundTrip allocates %v times per call, want at most %d", n, want)
	}
}
