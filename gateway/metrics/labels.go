package metrics

// Outcomes: the outcome label of bulwark_requests_total. Every finished request has exactly
// one. The first ten are the set; the next four are the extensions the core also uses,
// the next three come with the fleet features (issue 6), and the last counts a recovered panic.
const (
	OutcomeOK            = "ok"             // served by the local center
	OutcomeUpstreamError = "upstream_error" // the local attempt failed and no failover was made
	OutcomeFailoverOK    = "failover_ok"    // served by the remote center after a local failure
	OutcomeFailoverError = "failover_error" // failed over, and the remote center failed too
	OutcomeShed          = "shed"           // refused by level-aware admission (503)
	OutcomeRateLimited   = "rate_limited"   // a frequency limit or the route rate limit (429)
	OutcomeBreakerOpen   = "breaker_open"   // every candidate host's breaker refused (503)
	OutcomeQueueTimeout  = "queue_timeout"  // waited too long before an upstream was tried (503)
	OutcomeDegraded      = "degraded"       // answered by the degrade switch or a fallback
	OutcomeBlocked       = "blocked"        // refused by a block rule (403)
	OutcomeNoRoute       = "no_route"       // no route matched (404); route and service are ""
	OutcomeBadRequest    = "bad_request"    // refused as malformed: body too large, bad header
	OutcomeDeadline      = "deadline"       // the caller's Bulwark-Deadline passed before an answer
	OutcomeCanceled      = "canceled"       // the client went away before the answer (code 499)
	OutcomeCacheHit      = "cache_hit"      // answered from the proxy cache (Bulwark-Cache: hit)
	OutcomeFallback      = "fallback"       // answered by the fallback upstreams after every center failed
	OutcomeDRCache       = "dr_cache"       // answered from the DR cache (Bulwark-Degraded: dr-cache)
	OutcomePanic         = "panic"          // the gateway panicked serving it (500, or the connection cut)
)

// outcomeList is every documented outcome; an outcome's index here is its cache key part.
var outcomeList = [...]string{
	OutcomeOK, OutcomeUpstreamError, OutcomeFailoverOK, OutcomeFailoverError,
	OutcomeShed, OutcomeRateLimited, OutcomeBreakerOpen, OutcomeQueueTimeout,
	OutcomeDegraded, OutcomeBlocked, OutcomeNoRoute, OutcomeBadRequest, OutcomeDeadline,
	OutcomeCanceled, OutcomeCacheHit, OutcomeFallback, OutcomeDRCache, OutcomePanic,
}

// Outcomes returns every documented outcome label value, in a fresh slice.
func Outcomes() []string { return append([]string(nil), outcomeList[:]...) }

// outcomeIndex is the index of o in outcomeList, or -1 when o is not documented. The switch
// compiles to a few string comparisons and does not allocate.
func outcomeIndex(o string) int {
	switch o {
	case OutcomeOK:
		return 0
	case OutcomeUpstreamError:
		return 1
	case OutcomeFailoverOK:
		return 2
	case OutcomeFailoverError:
		return 3
	case OutcomeShed:
		return 4
	case OutcomeRateLimited:
		return 5
	case OutcomeBreakerOpen:
		return 6
	case OutcomeQueueTimeout:
		return 7
	case OutcomeDegraded:
		return 8
	case OutcomeBlocked:
		return 9
	case OutcomeNoRoute:
		return 10
	case OutcomeBadRequest:
		return 11
	case OutcomeDeadline:
		return 12
	case OutcomeCanceled:
		return 13
	case OutcomeCacheHit:
		return 14
	case OutcomeFallback:
		return 15
	case OutcomeDRCache:
		return 16
	case OutcomePanic:
		return 17
	}
	return -1
}

// Failover results: the result label of bulwark_failovers_total. The core passes the string.
// ResultOK and ResultError are also the results of bulwark_local_retries_total.
const (
	ResultOK            = "ok"             // failed over, and the remote center answered
	ResultError         = "error"          // failed over, and the remote center failed too
	ResultNoBudget      = "no_budget"      // not sent: the retry window f(i) was used up
	ResultSwitchedOff   = "switched_off"   // not sent: the global or service retry switch is off
	ResultNotReplayable = "not_replayable" // not sent: the body was streamed and cannot be resent
	ResultNotIdempotent = "not_idempotent" // not sent: the method is not safe to repeat
)

// Host states: the state label of bulwark_host_state (SEEDS.md B10 plus healthy).
const (
	StateHealthy     = "healthy"
	StateOverloaded  = "overloaded"
	StateErroring    = "erroring"
	StateUnavailable = "unavailable"
	StateOffline     = "offline"
)

// hostStates is every host state in export order.
var hostStates = [...]string{StateHealthy, StateOverloaded, StateErroring, StateUnavailable, StateOffline}

// HostStates returns the five host states, in a fresh slice.
func HostStates() []string { return append([]string(nil), hostStates[:]...) }

// Breaker states: the value of bulwark_breaker_state.
const (
	BreakerClosed   = 0
	BreakerHalfOpen = 1
	BreakerOpen     = 2
)
