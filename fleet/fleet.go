package fleet

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/bulwark-go/bulwark/internal/clock"
)

// Defaults used when the matching Config field is zero.
const (
	DefaultPrefix       = "bulwark:"
	DefaultSyncInterval = 100 * time.Millisecond
	DefaultOpTimeout    = 250 * time.Millisecond
)

// RedisConfig says how to reach Redis. One address is a single node; several are a Cluster;
// MasterName selects Sentinel (the addresses are then the sentinels'). It maps onto
// redis.UniversalOptions.
type RedisConfig struct {
	Addrs      []string
	Username   string
	Password   string
	DB         int
	MasterName string
}

// Config configures a Fleet.
type Config struct {
	// Redis says how to reach Redis; ignored when Client is set.
	Redis RedisConfig
	// Client is a ready client (tests, or callers with their own options). The Fleet does not
	// close a Client it was given.
	Client redis.UniversalClient
	// Instance names this process among the fleet's instances (the gateway's `instance`).
	// Required: heartbeats and per-instance counts are keyed by it.
	Instance string
	// Prefix starts every Redis key and channel the fleet uses. Default DefaultPrefix.
	Prefix string
	// SyncInterval is how often shared state is synchronized with Redis. Default
	// DefaultSyncInterval.
	SyncInterval time.Duration
	// OpTimeout bounds every Redis operation, so a stuck Redis never stalls a caller for
	// long. Default DefaultOpTimeout.
	OpTimeout time.Duration
	// Logger gets one line per Redis up/down transition. Default slog.Default().
	Logger *slog.Logger
	// Clock times sync rounds and heartbeats; nil means the real clock.
	Clock clock.Clock
	// Local makes a Fleet of one, without Redis: caches keep only their in-process level and
	// the DR cache only its local copy. Redis and Client are then ignored. The gateway uses it
	// for caches configured without a fleet section.
	Local bool
}

// Fleet is this instance's connection to the fleet's shared state in Redis: the client, the
// instance's name, the key prefix, and Redis's health as the fleet's components see it.
// Components (cluster limiters, switches, caches) are made from a Fleet and use its client.
//
// Redis is never a critical dependency: New does not contact Redis, so a Fleet starts even
// when Redis is down, and every component keeps working on local state while Redis is down.
type Fleet struct {
	client    redis.UniversalClient
	ownClient bool
	local     bool
	instance  string
	prefix    string
	interval  time.Duration
	opTimeout time.Duration
	logger    *slog.Logger
	clk       clock.Clock

	up      atomic.Bool // the last Redis operation succeeded
	known   atomic.Bool // at least one operation has reported; until then Up is false
	downs   atomic.Uint64
	errors  atomic.Uint64
	mu      sync.Mutex      // serializes transition logs
	ctx     context.Context // ended by Close
	cancel  context.CancelFunc
	closing chan struct{}
	closed  sync.Once
	wg      sync.WaitGroup
}

// New returns a Fleet. It validates cfg but does not contact Redis.
func New(cfg Config) (*Fleet, error) {
	if cfg.Instance == "" {
		return nil, errors.New("fleet: Config.Instance is required")
	}
	if cfg.SyncInterval < 0 || cfg.OpTimeout < 0 {
		return nil, fmt.Errorf("fleet: negative SyncInterval %v or OpTimeout %v", cfg.SyncInterval, cfg.OpTimeout)
	}
	f := &Fleet{client: cfg.Client, instance: cfg.Instance, prefix: cfg.Prefix, interval: cfg.SyncInterval,
		opTimeout: cfg.OpTimeout, logger: cfg.Logger, clk: clock.OrReal(cfg.Clock), closing: make(chan struct{})}
	f.ctx, f.cancel = context.WithCancel(context.Background())
	if f.prefix == "" {
		f.prefix = DefaultPrefix
	}
	if f.interval == 0 {
		f.interval = DefaultSyncInterval
	}
	if f.opTimeout == 0 {
		f.opTimeout = DefaultOpTimeout
	}
	if f.logger == nil {
		f.logger = slog.Default()
	}
	if cfg.Local {
		f.client, f.local = nil, true
	} else if f.client == nil {
		if len(cfg.Redis.Addrs) == 0 {
			return nil, errors.New("fleet: Config.Redis.Addrs is empty")
		}
		for i, a := range cfg.Redis.Addrs {
			if strings.TrimSpace(a) == "" {
				return nil, fmt.Errorf("fleet: Config.Redis.Addrs[%d] is empty", i)
			}
		}
		f.client = redis.NewUniversalClient(&redis.UniversalOptions{
			Addrs: cfg.Redis.Addrs, Username: cfg.Redis.Username, Password: cfg.Redis.Password,
			DB: cfg.Redis.DB, MasterName: cfg.Redis.MasterName,
			DialTimeout: f.opTimeout, ReadTimeout: f.opTimeout, WriteTimeout: f.opTimeout,
			MaxRetries: -1, // the fleet retries on its own schedule; a retry would only stall a caller
			// go-redis dials 5 times, 100 ms apart, by default: with Redis down every operation
			// would spend its whole OpTimeout dialing (and log each failure).
			DialerRetries: 1,
		})
		f.ownClient = true
	}
	return f, nil
}

// Client is the Redis client the fleet's components share; nil for a Local Fleet.
func (f *Fleet) Client() redis.UniversalClient { return f.client }

// Local reports whether the Fleet works without Redis (Config.Local).
func (f *Fleet) Local() bool { return f.local }

// Instance is this instance's name.
func (f *Fleet) Instance() string { return f.instance }

// Key returns the fleet's Redis key (or channel) for the given parts: Prefix + parts joined
// by ":".
func (f *Fleet) Key(parts ...string) string { return f.prefix + strings.Join(parts, ":") }

// SyncInterval is how often components synchronize with Redis.
func (f *Fleet) SyncInterval() time.Duration { return f.interval }

// Clock is the fleet's clock.
func (f *Fleet) Clock() clock.Clock { return f.clk }

// Logger is the fleet's logger.
func (f *Fleet) Logger() *slog.Logger { return f.logger }

// Context returns a context for one Redis operation, bounded by OpTimeout and ended by Close.
func (f *Fleet) Context() (context.Context, context.CancelFunc) {
	return context.WithTimeout(f.ctx, f.opTimeout)
}

// Up reports whether the last Redis operation of any component succeeded. It is false until
// the first operation reports.
func (f *Fleet) Up() bool { return f.known.Load() && f.up.Load() }

// Report records the outcome of a Redis operation: nil marks Redis up, an error down (except
// redis.Nil, which is an answer; context.Canceled, a caller that gave up or Close, reports
// nothing). The first transition each way is logged, once per transition, so an outage costs
// two log lines however many operations fail.
func (f *Fleet) Report(err error) {
	if errors.Is(err, context.Canceled) { // the caller gave up, or Close: nothing about Redis
		return
	}
	ok := err == nil || errors.Is(err, redis.Nil)
	if !ok {
		f.errors.Add(1)
	}
	wasKnown := f.known.Swap(true)
	if was := f.up.Swap(ok); wasKnown && was == ok {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if ok {
		f.logger.Info("fleet: redis is up; shared state is in use", "instance", f.instance)
		return
	}
	f.downs.Add(1)
	f.logger.Warn("fleet: redis is unreachable; working on local state until it returns",
		"instance", f.instance, "err", err)
}

// Stats is a snapshot of the fleet's Redis health for metrics.
type Stats struct {
	Up     bool   // see Up
	Downs  uint64 // transitions to down (including a first report that failed)
	Errors uint64 // failed Redis operations
}

// Stats returns the fleet's health counters.
func (f *Fleet) Stats() Stats {
	return Stats{Up: f.Up(), Downs: f.downs.Load(), Errors: f.errors.Load()}
}

// Go runs fn on a goroutine that Close waits for; fn must return when done is closed.
func (f *Fleet) Go(fn func(done <-chan struct{})) {
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		fn(f.closing)
	}()
}

// Close stops every goroutine started through Go, waits for them, and closes the client if
// the Fleet made it. It is safe to call more than once.
func (f *Fleet) Close() error {
	var err error
	f.closed.Do(func() {
		close(f.closing)
		f.cancel()
		f.wg.Wait()
		if f.ownClient {
			err = f.client.Close()
		}
	})
	return err
}

// SetRedisLogger sends go-redis's own log lines (a failed dial, a pool event) to l at Debug
// level. go-redis prints them to stderr by default, one per failed operation, which during an
// outage buries the Fleet's single "redis is unreachable" line. The setting is process-wide,
// as go-redis's logger is: programs call it once at start; a library should leave it alone.
func SetRedisLogger(l *slog.Logger) { redis.SetLogger(redisLogger{l}) }

type redisLogger struct{ l *slog.Logger }

func (r redisLogger) Printf(ctx context.Context, format string, v ...any) {
	r.l.DebugContext(ctx, "redis: "+fmt.Sprintf(format, v...))
}

// checkComponentName checks a component's name (a cache, DR cache, limiter or switches), which becomes part of Redis keys.
func checkComponentName(name string) error {
	if name == "" || strings.ContainsAny(name, ":{} \t\r\n") {
		return fmt.Errorf("name %q must be non-empty, without ':', braces or white space", name)
	}
	return nil
}
