// Package forward is the gateway's proxy engine: it sends one incoming request to one upstream
// (a backend host, or the other center's gateway) and streams the response back. The gateway
// core decides routing, failover and protection, and calls the engine once per attempt:
//
//	resp, err := eng.RoundTrip(&forward.Request{In: r, Target: host, Body: body, Timeout: t})
//	switch {
//	case err != nil:        // forward.Classify(err): KindConnect, KindTimeout, KindCanceled, KindOther
//	case bad(resp):         resp.Discard()   // and try elsewhere
//	default:                err = eng.WriteResponse(w, resp, set, del)
//	}
//
// # Why not httputil.ReverseProxy
//
// ReverseProxy is correct but does work a gateway does not need on every request: it clones the
// whole request (URL and header map included), deletes hop-by-hop headers one Del at a time,
// installs an httptrace.ClientTrace (a context value and closures) to relay 1xx responses, and
// allocates a 32 KiB buffer per response unless given a pool. The engine builds the outgoing
// request directly: one header map holding only the headers that cross (the incoming value
// slices are shared, read only), the forwarding headers in slots of the attempt's own struct,
// the request-target passed through byte for byte (URL.Opaque, no url.Parse, no re-escaping),
// and copy buffers from a sync.Pool. Same transport, same correctness; fewer allocations and
// less CPU per request (BenchmarkLayer measures the proxy layers alone, BenchmarkProxy whole
// requests over loopback, both side by side).
//
// # What crosses the proxy
//
//   - Hop-by-hop headers never cross, either way: Connection and every header it lists,
//     Keep-Alive, Proxy-Connection, Proxy-Authenticate, Proxy-Authorization, Te (except that
//     "Te: trailers" is sent when the client accepts trailers), Trailer, Transfer-Encoding,
//     Upgrade. Connection tokens are compared ASCII-case-insensitively, without allocating.
//   - The outgoing request keeps the incoming method, Host header and headers, and adds
//     X-Forwarded-For (the client IP appended to any prior value, several lines folded into
//     one), X-Forwarded-Proto (https when In.TLS is set, else http) and X-Forwarded-Host
//     (In.Host). Request.SetHeader is applied last, so the caller may override any of them.
//     A client that sent no User-Agent gets none added; a response the upstream sent without
//     Content-Type gets none added either (net/http would sniff one).
//   - Bodies stream both ways through pooled buffers; nothing is read whole except a
//     replayable Body (at most its replay limit). Request and response trailers are forwarded.
//   - A response of unknown length (no Content-Length) or of type text/event-stream is flushed
//     after its headers and after every write, so server-sent events and other streams reach
//     the client as they are produced. A response of known length is never flushed early, so
//     the common case pays nothing for streaming support.
//   - A protocol switch (WebSocket or any Upgrade) passes through: the request keeps
//     Connection: Upgrade and its Upgrade header; a 101 answer for the same protocol is relayed
//     by hijacking the client connection and copying bytes both ways (bytes the client sent
//     early, before the 101, are forwarded too). It works across two gateways, since each
//     forwards the upgrade headers and relays the 101.
//   - Informational 1xx responses other than 101 are not relayed (the transport handles
//     100 Continue itself; 103 Early Hints are dropped): relaying them would need an
//     httptrace hook and its allocations on every request.
//
// # Errors: what "not sent" means
//
// KindConnect promises that the request did not reach the upstream, because the gateway core
// then retries any method, even POST, on another host. The engine returns it only for errors of
// its own dialer (DialContext and, for https, DialTLSContext, which completes the TLS handshake
// before returning): connection refused, dial timeout, DNS failure, TLS handshake failure.
// net/http returns a dial error only to the request whose connection attempt failed, so such an
// error proves that this request's bytes were never written.
//
// The transport's other "nothing written" cases are not visible from outside (its
// nothingWrittenError is unwrapped before RoundTrip returns), so the engine relies on net/http
// handling them: when a reused keep-alive connection turns out to be closed before anything was
// written, the transport itself resends the request on a new connection if the body is empty or
// can be rewound (the engine sets GetBody for every replayable Body). When it cannot, the error
// is KindOther: conservative, never a duplicate. http.ErrSkipAltProtocol cannot occur: the
// engine's transport registers no alternative protocols and speaks HTTP/1.1 only.
//
// KindCanceled means the incoming request's context ended (the client left); it wins over any
// other reading of the error. KindTimeout means Request.Timeout passed before the response
// headers arrived (or the incoming context's own deadline passed).
//
// # Header timeout
//
// Request.Timeout bounds the wait for response headers only. The attempt runs under a child of
// the incoming context, which a time.AfterFunc timer cancels with a private cause; the timer is
// stopped as soon as the headers arrive, so a slow body (an SSE stream) is never cut. Timers
// are pooled: one that was stopped in time is reset for the next attempt. The timer uses real
// time, not internal/clock: it races real sockets, and a clock.Timer would need a goroutine per
// request to watch its channel. It costs about five allocations per attempt (the context and
// its bookkeeping in net/http); an attempt without Timeout uses the incoming context directly.
//
// # Replayable bodies
//
// NewBody holds a body of at most the replay limit in 16 KiB chunks from a pool, so that a
// failed attempt can be repeated on another host or center with the same bytes. A longer body
// streams to one attempt (the prefix NewBody read, then the rest). Each attempt reads through
// its own reader; a reader closed by the end of its attempt fails later reads, and the chunks
// go back to the pool only when the Body is released and every reader is closed, so a transport
// goroutine still writing an abandoned attempt never reads memory that another request reuses.
//
// # Releasing
//
// Every Response from RoundTrip holds an upstream connection until it is released, exactly
// once, by WriteResponse or Discard. Discard reads a small remaining body (≤ 4 KiB of known
// length) so the connection can be reused, and closes anything else.
package forward
