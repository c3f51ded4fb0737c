package gateway

import (
	"net/http"
	"strconv"
	"time"

	"github.com/bulwark-go/bulwark/gateway/metrics"
)

// outcomeNames are the outcome labels of bulwark_requests_total (metrics.Outcomes), in the
// order of service.counts.
var outcomeNames = [...]string{metrics.OutcomeOK, metrics.OutcomeUpstreamError, metrics.OutcomeFailoverOK,
	metrics.OutcomeFailoverError, metrics.OutcomeShed, metrics.OutcomeRateLimited, metrics.OutcomeBreakerOpen,
	metrics.OutcomeQueueTimeout, metrics.OutcomeDegraded, metrics.OutcomeBlocked, metrics.OutcomeNoRoute,
	metrics.OutcomeBadRequest, metrics.OutcomeDeadline, metrics.OutcomeCanceled, metrics.OutcomeCacheHit,
	metrics.OutcomeFallback, metrics.OutcomeDRCache, metrics.OutcomePanic}

// outcomeIndex is o's index in outcomeNames, or -1.
func outcomeIndex(o string) int {
	for i, v := range outcomeNames {
		if v == o {
			return i
		}
	}
	return -1
}

// Header names of the contracts in ARCHITECTURE.md.
const (
	HeaderCenter   = "Bulwark-Center"
	HeaderFailover = "Bulwark-Failover"
	HeaderInstance = "Bulwark-Instance"
	HeaderCredit   = "Bulwark-Credit"
	HeaderReject   = "Bulwark-Reject"
	HeaderDeadline = "Bulwark-Deadline"
	HeaderOverload = "Bulwark-Overload"
	HeaderLevel    = "Bulwark-Level"    // set on requests to local hosts: the route's level
	HeaderCache    = "Bulwark-Cache"    // "hit" on an answer from the proxy cache
	HeaderDegraded = "Bulwark-Degraded" // "dr-cache" on an answer from the DR cache
)

// rejection is a refusal the gateway answers itself.
type rejection struct {
	status     int
	reason     string // Bulwark-Reject
	outcome    string
	retryAfter time.Duration // 0 = no Retry-After
}

var (
	rejConnectMethod = rejection{http.StatusMethodNotAllowed, "connect_not_allowed", metrics.OutcomeBadRequest, 0}
	rejNoRoute       = rejection{http.StatusNotFound, "no_route", metrics.OutcomeNoRoute, 0}
	rejBlocked       = rejection{http.StatusForbidden, "blocked", metrics.OutcomeBlocked, 0}
	rejShed          = rejection{http.StatusServiceUnavailable, "shed", metrics.OutcomeShed, time.Second}
	rejQueue         = rejection{http.StatusServiceUnavailable, "queue_timeout", metrics.OutcomeQueueTimeout, time.Second}
	rejDeadline      = rejection{http.StatusServiceUnavailable, "deadline", metrics.OutcomeDeadline, time.Second}
	rejBreaker       = rejection{http.StatusServiceUnavailable, "breaker_open", metrics.OutcomeBreakerOpen, time.Second}
	rejDegraded      = rejection{http.StatusServiceUnavailable, "degraded", metrics.OutcomeDegraded, time.Second}
	rejNoHost        = rejection{http.StatusServiceUnavailable, "no_host", metrics.OutcomeUpstreamError, time.Second}
	rejTooLarge      = rejection{http.StatusRequestEntityTooLarge, "body_too_large", metrics.OutcomeBadRequest, 0}
	rejBadDeadln     = rejection{http.StatusBadRequest, "bad_deadline", metrics.OutcomeBadRequest, 0}
	rejConnect       = rejection{http.StatusBadGateway, "upstream_connect", metrics.OutcomeUpstreamError, 0}
	rejUpstream      = rejection{http.StatusBadGateway, "upstream_error", metrics.OutcomeUpstreamError, 0}
	rejTimeout       = rejection{http.StatusGatewayTimeout, "upstream_timeout", metrics.OutcomeUpstreamError, 0}
	rejCanceled      = rejection{499, "client_closed", metrics.OutcomeCanceled, 0}
)

// rateLimited is the 429 of a limit whose window is per.
func rateLimited(reason string, per time.Duration) rejection {
	return rejection{http.StatusTooManyRequests, reason, metrics.OutcomeRateLimited, per}
}

// write answers the rejection. Retry-After is in whole seconds, at least 1.
func (rj rejection) write(w http.ResponseWriter) {
	h := w.Header()
	h.Set(HeaderReject, rj.reason)
	if rj.retryAfter > 0 {
		secs := int64((rj.retryAfter + time.Second - 1) / time.Second)
		h.Set("Retry-After", strconv.FormatInt(max(secs, 1), 10))
	}
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	if rj.status == 499 { // the client is gone; nothing to write
		return
	}
	w.WriteHeader(rj.status)
	_, _ = w.Write([]byte(rj.reason + "\n"))
}
