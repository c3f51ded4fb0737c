package httpmw

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/bulwark-go/bulwark/adaptive"
	"github.com/bulwark-go/bulwark/breaker"
	"github.com/bulwark-go/bulwark/degrade"
	"github.com/bulwark-go/bulwark/internal/clock"
	"github.com/bulwark-go/bulwark/overload"
	"github.com/bulwark-go/bulwark/ratelimit"
	"github.com/bulwark-go/bulwark/shed"
	"github.com/bulwark-go/bulwark/timeout"
)

// Defaults used when the matching option is not given.
const (
	DefaultQueueWait      = 500 * time.Millisecond // WithWorkers: the queue-wait drop (SEEDS.md B12)
	DefaultWorkerQueue    = 128                    // WithWorkers: requests that may wait for a worker
	DefaultSampleInterval = 100 * time.Millisecond // WithOverload: time between detector samples
	DefaultName           = "default"              // WithName
)

// Option configures Protect, Transport, or both; each option's comment says which. Giving an
// option to the side it does not apply to is an error, so a misplaced option never silently
// does nothing.
type Option func(*settings) error

// side says which constructor an option applies to.
type side uint8

const (
	sideBoth side = iota
	sideServer
	sideTransport
)

// settings is every option's value. Protect reads the server part, Transport the transport
// part; misplaced records options that apply only to one side, for the other's error.
type settings struct {
	name       string
	clock      clock.Clock
	logger     *slog.Logger
	propagator Propagator
	rateLimit  *rateLimitSettings

	// Protect
	panics       PanicReporter
	limiter      *adaptive.Limiter
	shedOpts     []shed.Option
	routeLevels  []routeLevel
	levelFunc    func(*http.Request) int
	trustLevel   bool
	defaultLevel int
	detector     *overload.Detector
	sampleEvery  time.Duration
	workers      int
	queueWait    time.Duration
	workerQueue  int

	// Transport
	breakerKind breaker.Kind
	breakerOpts []breaker.Option
	noBreaker   bool
	timeoutOpts []timeout.Option
	noTimeout   bool
	degrade     *degrade.Switch
	fallback    func(*http.Request, error) (*http.Response, error)

	serverOnly, transportOnly []string // names of the one-sided options given
}

type rateLimitSettings struct {
	limit int
	per   time.Duration
	key   func(*http.Request) string
}

// keyed builds the limiter of WithRateLimit: a sliding-window counter per key.
func (rl *rateLimitSettings) keyed(clk clock.Clock) (*ratelimit.Keyed, error) {
	k, err := ratelimit.NewKeyed(func() (*ratelimit.SlidingWindow, error) {
		return ratelimit.NewSlidingWindow(rl.limit, rl.per, ratelimit.WithClock(clk))
	}, ratelimit.WithClock(clk))
	if err != nil {
		return nil, fmt.Errorf("httpmw: WithRateLimit: %w", err)
	}
	return k, nil
}

// routeLevel is one entry of the route table: a path pattern and its level.
type routeLevel struct {
	pattern string
	level   int
}

func defaultSettings() settings {
	return settings{
		name:         DefaultName,
		propagator:   TraceHeaders{},
		defaultLevel: 1,
		sampleEvery:  DefaultSampleInterval,
		queueWait:    DefaultQueueWait,
		workerQueue:  DefaultWorkerQueue,
		breakerKind:  breaker.KindSRE,
	}
}

// apply runs opts over the defaults and checks that each one-sided option went to its side.
func apply(opts []Option, for_ side) (settings, error) {
	s := defaultSettings()
	for _, o := range opts {
		if o == nil {
			continue
		}
		if err := o(&s); err != nil {
			return s, err
		}
	}
	s.clock = clock.OrReal(s.clock)
	if s.logger == nil {
		s.logger = slog.Default()
	}
	switch {
	case for_ == sideServer && len(s.transportOnly) > 0:
		return s, fmt.Errorf("httpmw: %s applies to Transport, not Protect", strings.Join(s.transportOnly, ", "))
	case for_ == sideTransport && len(s.serverOnly) > 0:
		return s, fmt.Errorf("httpmw: %s applies to Protect, not Transport", strings.Join(s.serverOnly, ", "))
	}
	return s, nil
}

func serverOption(name string, f func(*settings) error) Option {
	return func(s *settings) error {
		s.serverOnly = append(s.serverOnly, name)
		return f(s)
	}
}

func transportOption(name string, f func(*settings) error) Option {
	return func(s *settings) error {
		s.transportOnly = append(s.transportOnly, name)
		return f(s)
	}
}

// WithName names the middleware or transport in its metrics (the handler or client label), so
// that several can share one registry. Default DefaultName. Both sides.
func WithName(name string) Option {
	return func(s *settings) error {
		if name == "" {
			return errors.New("httpmw: WithName: empty name")
		}
		s.name = name
		return nil
	}
}

// WithClock sets the clock for queue waits, deadlines, overload samples, timeouts and breaker
// windows; nil means the real clock. Both sides.
func WithClock(c clock.Clock) Option {
	return func(s *settings) error { s.clock = c; return nil }
}

// WithLogger sets the logger for recovered panics (Protect) and dropped fallbacks (Transport).
// Default slog.Default(). Both sides.
func WithLogger(l *slog.Logger) Option {
	return func(s *settings) error { s.logger = l; return nil }
}

// WithPropagator sets how trace context travels: Protect extracts it from incoming headers into
// the request context, Transport injects it from the request context into outgoing headers.
// Default TraceHeaders; nil turns propagation off. Both sides.
func WithPropagator(p Propagator) Option {
	return func(s *settings) error { s.propagator = p; return nil }
}

// WithRateLimit limits requests to limit per window per, with a sliding-window counter per key
// (SEEDS.md B1, B13). key maps a request to its key (a user id, a client IP); nil keys every
// request the same on Protect and by target host on Transport. Protect answers a limited request
// 429 with Retry-After = per; Transport fails it with an error matching ratelimit.ErrLimited.
// Both sides.
func WithRateLimit(limit int, per time.Duration, key func(*http.Request) string) Option {
	return func(s *settings) error {
		if limit < 1 || per <= 0 {
			return fmt.Errorf("httpmw: WithRateLimit(%d, %v): the limit must be ≥ 1 and the window > 0", limit, per)
		}
		s.rateLimit = &rateLimitSettings{limit: limit, per: per, key: key}
		return nil
	}
}

// PanicReporter receives the panics Protect recovers, after they are counted and logged:
// observe.Sentry implements it. ReportPanic runs on the request's goroutine before the 500 is
// written, so it should hand the report off rather than wait on the network.
type PanicReporter interface {
	ReportPanic(ctx context.Context, v any, stack []byte, r *http.Request)
}

// WithPanicReporter sends every recovered panic to rep as well (SEEDS.md D5). Protect only.
func WithPanicReporter(rep PanicReporter) Option {
	return serverOption("WithPanicReporter", func(s *settings) error { s.panics = rep; return nil })
}

// WithLimiter turns on adaptive limiting (SEEDS.md B3) with level-aware admission (B7): a
// shed.Admitter divides l's capacity among the levels, so that under pressure levels 4, 3 and 2
// are refused before level 1, and queues what does not fit for a moment. opts configure that
// Admitter (shares, queue, maximum wait; its clock is WithClock's). Refusals are 503 "shed",
// "queue_timeout" or "deadline". Give l a CPU source (adaptive.WithCPU with a started
// adaptive.CPUSampler) in production. Protect only.
func WithLimiter(l *adaptive.Limiter, opts ...shed.Option) Option {
	return serverOption("WithLimiter", func(s *settings) error {
		if l == nil {
			return errors.New("httpmw: WithLimiter: nil limiter")
		}
		s.limiter, s.shedOpts = l, opts
		return nil
	})
}

// WithLevels sets the route table of service levels (1 = most important .. 4). A pattern ending
// in "/" matches every path under it; any other pattern matches that path only; the longest
// matching pattern wins, as with http.ServeMux. Paths that match nothing get the default level
// (WithDefaultLevel). Protect only.
func WithLevels(routes map[string]int) Option {
	return serverOption("WithLevels", func(s *settings) error {
		table := make([]routeLevel, 0, len(routes))
		for p, l := range routes {
			if !strings.HasPrefix(p, "/") {
				return fmt.Errorf("httpmw: WithLevels: pattern %q must start with /", p)
			}
			if l < 1 || l > shed.Levels {
				return fmt.Errorf("httpmw: WithLevels: %q: level %d is outside 1..%d", p, l, shed.Levels)
			}
			table = append(table, routeLevel{p, l})
		}
		sort.Slice(table, func(i, j int) bool { // longest first; ties in a fixed order
			if len(table[i].pattern) != len(table[j].pattern) {
				return len(table[i].pattern) > len(table[j].pattern)
			}
			return table[i].pattern < table[j].pattern
		})
		s.routeLevels = table
		return nil
	})
}

// WithLevelFunc sets a function that gives a request's level, for rules a path table cannot
// express. It is asked before the route table; a result outside 1..4 falls through to the table.
// Protect only.
func WithLevelFunc(f func(*http.Request) int) Option {
	return serverOption("WithLevelFunc", func(s *settings) error { s.levelFunc = f; return nil })
}

// WithDefaultLevel sets the level of requests that no rule places. Default 1, as the gateway's.
// Protect only.
func WithDefaultLevel(level int) Option {
	return serverOption("WithDefaultLevel", func(s *settings) error {
		if level < 1 || level > shed.Levels {
			return fmt.Errorf("httpmw: WithDefaultLevel(%d): outside 1..%d", level, shed.Levels)
		}
		s.defaultLevel = level
		return nil
	})
}

// TrustLevelHeader makes a valid Bulwark-Level header (1..4) decide the level, ahead of every
// other rule. Give it only to a service that the gateway alone can reach: a caller that can set
// the header can make its requests level 1. Protect only.
func TrustLevelHeader() Option {
	return serverOption("TrustLevelHeader", func(s *settings) error { s.trustLevel = true; return nil })
}

// WithOverload turns on the active-worker overload detector (SEEDS.md B9). Each request counts
// as active work from admission to its end (waiting for a worker included); Protect samples d
// at most every interval (DefaultSampleInterval when interval is 0), on request arrivals, so it
// needs no goroutine. While d is not normal, responses carry Bulwark-Overload: 1 and
// requests beyond d's target are refused 503 "overloaded". Build d with overload.WithWorkers;
// a detector without it is fed by its owner through Observe. Protect only.
func WithOverload(d *overload.Detector, interval time.Duration) Option {
	return serverOption("WithOverload", func(s *settings) error {
		if d == nil {
			return errors.New("httpmw: WithOverload: nil detector")
		}
		if interval < 0 {
			return fmt.Errorf("httpmw: WithOverload: interval %v < 0", interval)
		}
		if interval == 0 {
			interval = DefaultSampleInterval
		}
		s.detector, s.sampleEvery = d, interval
		return nil
	})
}

// WithWorkers bounds the handlers running at once to n (SEEDS.md B12). Up to queue more wait for
// a worker, level 1 first (DefaultWorkerQueue when queue is 0); one that waits longer than
// maxWait (DefaultQueueWait when 0) is dropped with 503 "queue_timeout", and one whose deadline
// passes while it waits with 503 "deadline". A full queue refuses with 503 "queue_full".
// Protect only.
func WithWorkers(n, queue int, maxWait time.Duration) Option {
	return serverOption("WithWorkers", func(s *settings) error {
		if n < 1 || queue < 0 || maxWait < 0 {
			return fmt.Errorf("httpmw: WithWorkers(%d, %d, %v): need n ≥ 1, queue ≥ 0, maxWait ≥ 0", n, queue, maxWait)
		}
		if queue == 0 {
			queue = DefaultWorkerQueue
		}
		if maxWait == 0 {
			maxWait = DefaultQueueWait
		}
		s.workers, s.workerQueue, s.queueWait = n, queue, maxWait
		return nil
	})
}

// WithBreaker sets the kind of the per-host circuit breaker and its options (SEEDS.md B4, B5).
// Default: SRE with the breaker package's defaults. Transport only.
func WithBreaker(kind breaker.Kind, opts ...breaker.Option) Option {
	return transportOption("WithBreaker", func(s *settings) error {
		if kind != breaker.KindSRE && kind != breaker.KindClassic {
			return fmt.Errorf("httpmw: WithBreaker: unknown kind %d", kind)
		}
		s.breakerKind, s.breakerOpts, s.noBreaker = kind, opts, false
		return nil
	})
}

// WithoutBreaker turns the per-host breaker off. Transport only.
func WithoutBreaker() Option {
	return transportOption("WithoutBreaker", func(s *settings) error { s.noBreaker = true; return nil })
}

// WithTimeout sets the options of the per-host EMA dynamic timeout (SEEDS.md B6); its clock is
// WithClock's. Default: the timeout package's defaults (Tavg 60 ms, Thwm 250 ms, Tmax 500 ms).
// Transport only.
func WithTimeout(opts ...timeout.Option) Option {
	return transportOption("WithTimeout", func(s *settings) error {
		s.timeoutOpts, s.noTimeout = opts, false
		return nil
	})
}

// WithoutTimeout turns the dynamic timeout off: only the request context bounds a call.
// Transport only.
func WithoutTimeout() Option {
	return transportOption("WithoutTimeout", func(s *settings) error { s.noTimeout = true; return nil })
}

// WithDegrade puts a degrade switch in front of every call (SEEDS.md B8): a call the switch
// degrades is not made. fallback, if not nil, answers degraded calls and calls the transport
// refused or that failed (its error says which, for errors.Is), but not calls the caller
// canceled or whose deadline passed: nobody waits for those. Without it those calls return
// their error. sw may be nil to use only the fallback. Transport only.
func WithDegrade(sw *degrade.Switch, fallback func(*http.Request, error) (*http.Response, error)) Option {
	return transportOption("WithDegrade", func(s *settings) error {
		if sw == nil && fallback == nil {
			return errors.New("httpmw: WithDegrade: need a switch, a fallback, or both")
		}
		s.degrade, s.fallback = sw, fallback
		return nil
	})
}
