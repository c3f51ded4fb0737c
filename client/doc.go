// Package client is the two-center client of SEEDS.md A3: an http.RoundTripper that knows
// both centers' gateways, sends every request to the home center first, and fails over to
// the other center only when the home center gave no usable answer.
//
// # Rules
//
// Every request goes to the home center (Config.Home) first. The client sends it to a center
// by replacing the URL's scheme and host with the center's (its path prefix, if any, goes
// before the request's path; the query is kept), so the URL's own host is only a placeholder:
// "http://bulwark/orders?id=7" is fine. It then:
//
//   - fails over to the other center on a connection error (refused, reset, closed before a
//     complete response head; any error from the base transport counts, because a transport
//     returns one only when no response head arrived) or a timeout (no response headers
//     within Config.Timeout, timed by Config.Clock);
//   - fails over on a 5xx response WITHOUT the Bulwark-Center header: something that is not
//     a gateway (a load balancer, a dead gateway's proxy) answered;
//   - NEVER fails over from a response carrying Bulwark-Center, whatever its status: a live
//     gateway answered, and a gateway already did the failover work (SEEDS.md A2);
//   - never fails over a request it cannot replay, and returns the home center's answer or
//     error instead. Replayable means req.GetBody != nil (any method: GetBody gives the second
//     attempt a fresh body), or no body and an idempotent method (GET, HEAD, OPTIONS, TRACE,
//     PUT, DELETE) or an Idempotency-Key / X-Idempotency-Key header, as net/http judges it;
//   - treats the caller's context ending (cancel or deadline) as no center's fault: it
//     returns at once, with no failover and no probe.
//
// Note that http.NewRequest sets GetBody for a *bytes.Buffer, *bytes.Reader or
// *strings.Reader body, so such a POST fails over too. A POST that timed out at the home
// center may have been executed there; set req.GetBody = nil (or pass a body without it)
// for a request that must not be sent twice.
//
// # Both centers down: probe, then freeze
//
// When both attempts fail without a response (connection error or timeout), the client
// probes the network (Config.Probe: an HTTP URL, where any response means up, or a TCP
// host:port, where a completed dial means up), bounded by Config.ProbeTimeout:
//
//   - network up: both gateways are down. The client freezes for Config.FreezeFor: every call
//     fails at once, with no network I/O, with a *FrozenError (errors.Is(err, ErrFrozen))
//     that says until when. The call whose probe started the freeze gets a *BothDownError
//     matching ErrFrozen, ErrBothDown and both attempt errors. Hammering two dead gateways
//     would only slow their recovery; failing fast gives the caller its degrade path at once.
//   - network down: the trouble is on this side. The call gets a *BothDownError matching
//     ErrNetworkDown; nothing is frozen, so the next call tries the centers again.
//
// Calls that fail at both centers while a probe runs wait for that probe and share its
// verdict: at most one probe is in flight per Client, however many calls fail together.
// After FreezeFor has passed (by the Clock), calls flow again. A 5xx (without Bulwark-Center)
// from one center and no response from the other is not "both down": something answered, so
// the 5xx is returned and no probe is run. Two such 5xx return the second one.
//
// # Why there is no per-IP scoring
//
// The source's earlier design scored the two centers' entry IPs on the client and sent each
// request to the better score; it flapped between centers. One client sees a small, noisy
// sample of each center, so its scores cross often, and every client that switches moves
// load onto the center it switched to. The gateways now do the failover work instead: a
// gateway that cannot serve a request locally retries it in the other center, within the
// adaptive retry window (A2), and marks every answer with Bulwark-Center. So the client needs
// no memory of the centers' health, only the simple rules above: an answer from a live
// gateway is final, and only "no gateway answered" moves a request to the other center.
//
// # Bulwark-Failover is not set
//
// The client's second attempt is an ordinary request: the client never sets
// Bulwark-Failover. That header is the gateway-to-gateway contract. A gateway treats a
// request that carries it as another gateway's failover: it never fails it over a second
// time, and it answers with Bulwark-Credit, the failover budget it grants the sending
// instance (Bulwark-Instance). A client that set it would switch off the receiving
// gateway's own failover for its request, and would take part in a credit exchange meant
// for gateways.
//
// # Metrics
//
// *Client implements prometheus.Collector; the values are atomics read at Collect time, and
// every series is exported from the first scrape, zeros included.
//
//   - bulwark_client_requests_total{center,result}: attempts sent to a center (a failed-over
//     call counts one per center). result is gateway (a response carrying Bulwark-Center, any
//     status), ok (a response without it, status < 500), 5xx (a 5xx without it), timeout,
//     error (connection error) or canceled (the caller's context ended).
//   - bulwark_client_calls_total{result}: RoundTrip calls by how they ended, exactly one
//     each: response, error (one attempt's error, e.g. a request that could not fail over),
//     canceled, frozen (refused while frozen, or the call whose probe started the freeze),
//     network_down, or both_down (both failed and no probe is configured).
//   - bulwark_client_failovers_total{from,to}: second attempts, from the home center to the
//     other (the only direction: every call starts at home).
//   - bulwark_client_freezes_total: freezes started.
//   - bulwark_client_frozen_rejections_total: calls refused at once while frozen.
//   - bulwark_client_probes_total{result}: network probes by verdict, up or down.
//   - bulwark_client_frozen: 1 while frozen, else 0 (read from the Clock at scrape time).
//
// # Decisions where the spec is silent
//
//   - Each attempt is a clone of the request (req.Clone); the caller's request is never
//     modified. An explicitly set req.Host (one that differs from req.URL.Host) is kept as
//     the Host header; otherwise the center's host is used.
//   - A response is from a gateway when its Bulwark-Center header is non-empty.
//   - The freeze starts when the probe ends: Until = probe end + FreezeFor.
//   - A call already waiting for a probe that gives up (its context ends) returns at once;
//     the probe goes on, on its own goroutine bounded by ProbeTimeout, for the others.
//   - A call that fails at both centers after another call's probe froze the client joins
//     that freeze (no new probe, no longer freeze).
//   - A call already past its home attempt when a freeze begins still makes its second
//     attempt (then joins the freeze if that fails too); only calls that start during the
//     freeze are refused without I/O.
//   - A discarded 5xx body is drained up to 4 KiB and closed, so its connection can be reused.
//   - When the home center answered a 5xx and the other center gave no response, the home
//     center's 5xx is returned (kept open while the other center is tried).
//   - If GetBody fails, the request is not failed over; the home center's answer stands
//     (its error is joined with GetBody's).
//   - An attempt's timeout is a time.AfterFunc with the real clock, and a goroutine waiting
//     on the Clock's timer otherwise (it ends with the attempt's headers). Nothing runs in
//     the background between calls, and there is nothing to Close.
//   - HTTPClient follows redirects only to the original host or a center's host; any other
//     host would be rewritten to a center, so that 3xx is returned to the caller instead.
package client
