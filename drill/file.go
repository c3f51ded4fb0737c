package drill

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// ErrFile is returned (wrapped, naming the file, line and key) for a drill file that cannot be
// read or is invalid.
var ErrFile = errors.New("drill: bad drill file")

// DefaultEnv are the values ${NAME} takes when the variable is not set: the addresses of
// `bulwark demo --serve` (demo.FixedAddrs).
var DefaultEnv = map[string]string{
	"SZ_URL":   "http://127.0.0.1:18080",
	"SZ_ADMIN": "http://127.0.0.1:18081",
	"SH_URL":   "http://127.0.0.1:18090",
	"SH_ADMIN": "http://127.0.0.1:18091",
}

// Drill is a parsed drill file. Load and Parse return only valid drills.
type Drill struct {
	Name        string              `yaml:"name" json:"name"`
	Description string              `yaml:"description" json:"description,omitempty"`
	Gateways    map[string]*Gateway `yaml:"gateways" json:"gateways"`
	Guards      Guards              `yaml:"guards" json:"guards"`
	Steps       []*Step             `yaml:"steps" json:"steps"`
	File        string              `yaml:"-" json:"file,omitempty"`
}

// Gateway names one gateway: its proxy URL (load targets with `gateway:` go there) and its
// admin URL (faults, actions, /status, /metrics).
type Gateway struct {
	URL   string `yaml:"url" json:"url"`
	Admin string `yaml:"admin" json:"admin"`
	Token string `yaml:"token" json:"-"` // bearer token for the admin API; "" = none
}

// Guards watch the steady state while a step runs. Each threshold left out is not checked.
// A guard breaches when a sample crosses its threshold; Breaches consecutive breaching samples
// abort the drill.
type Guards struct {
	Interval Duration `yaml:"interval" json:"interval"` // default 1s
	Breaches int      `yaml:"breaches" json:"breaches"` // default 3
	// Gateways whose /status is read; default every gateway of the drill.
	Gateways      []string `yaml:"gateways" json:"gateways,omitempty"`
	Success       *Share   `yaml:"success" json:"success,omitempty"`               // min success over the interval, all services
	Level1Success *Share   `yaml:"level1_success" json:"level1_success,omitempty"` // min success of level-1 services
	P99           Duration `yaml:"p99" json:"p99,omitempty"`                       // max p99 of the load in the last second
	// Prometheus, when set, is also queried every interval.
	Prometheus *PromGuard `yaml:"prometheus" json:"prometheus,omitempty"`
}

// PromGuard is a guard on Prometheus instant queries (GET {url}/api/v1/query?query=...); each
// query's first sample must stay within [min, max].
type PromGuard struct {
	URL     string       `yaml:"url" json:"url"`
	Queries []*PromQuery `yaml:"queries" json:"queries"`
}

// PromQuery is one query of a PromGuard.
type PromQuery struct {
	Query string   `yaml:"query" json:"query"`
	Min   *float64 `yaml:"min" json:"min,omitempty"`
	Max   *float64 `yaml:"max" json:"max,omitempty"`
}

// Step is one stage of a drill: faults and actions are applied, load runs, and after Settle
// the expectations are measured until the load ends. Everything it changed is rolled back
// when it ends.
type Step struct {
	Name    string    `yaml:"name" json:"name"`
	Load    *Traffic  `yaml:"load" json:"load,omitempty"`
	Faults  []*Fault  `yaml:"faults" json:"faults,omitempty"`
	Actions []*Action `yaml:"actions" json:"actions,omitempty"`
	Settle  Duration  `yaml:"settle" json:"settle,omitempty"`
	Expect  []*Expect `yaml:"expect" json:"expect,omitempty"`
	Line    int       `yaml:"-" json:"-"`
	Pause   Duration  `yaml:"pause" json:"pause,omitempty"` // wait after rollback, before the next step
}

// Traffic is the load of a step, sent with loadgen.
type Traffic struct {
	Rate     float64   `yaml:"rate" json:"rate"`         // requests per second, > 0
	Duration Duration  `yaml:"duration" json:"duration"` // required
	Workers  int       `yaml:"workers" json:"workers,omitempty"`
	Timeout  Duration  `yaml:"timeout" json:"timeout,omitempty"` // per request; default 5s
	Targets  []*Target `yaml:"targets" json:"targets"`
}

// Target is one kind of request. Exactly one of URL (absolute) or Path (against the proxy URL
// of Gateway) is set.
type Target struct {
	Name    string            `yaml:"name" json:"name"` // default "METHOD path"
	Method  string            `yaml:"method" json:"method"`
	URL     string            `yaml:"url" json:"url,omitempty"`
	Gateway string            `yaml:"gateway" json:"gateway,omitempty"`
	Path    string            `yaml:"path" json:"path,omitempty"`
	Headers map[string]string `yaml:"headers" json:"headers,omitempty"`
	Body    string            `yaml:"body" json:"body,omitempty"`
	Weight  int               `yaml:"weight" json:"weight,omitempty"`
}

// Fault is one POST /faults body sent to a gateway. Body is passed on as JSON; a missing ttl
// is set to 10m so that a crashed drill cannot leave a fault behind for long.
type Fault struct {
	Gateway string         `yaml:"gateway" json:"gateway"`
	Body    map[string]any `yaml:"fault" json:"fault"`
}

// Action is one admin call made when the step starts. Exactly one kind is set.
type Action struct {
	// Admin calls any admin endpoint; Undo, when set, is called on rollback.
	Admin *AdminCall `yaml:"admin" json:"admin,omitempty"`
	// Drain takes a host out of rotation (POST .../drain) and undrains it on rollback.
	Drain *HostRef `yaml:"drain" json:"drain,omitempty"`
}

// AdminCall is one request to a gateway's admin API.
type AdminCall struct {
	Gateway string     `yaml:"gateway" json:"gateway"`
	Method  string     `yaml:"method" json:"method"` // default POST
	Path    string     `yaml:"path" json:"path"`
	Body    any        `yaml:"body" json:"body,omitempty"` // sent as JSON
	Undo    *AdminCall `yaml:"undo" json:"undo,omitempty"`
}

// HostRef names a host of a service in a gateway: Host is its index in /status's host list
// (0-based, "0") or its address ("127.0.0.1:7001").
type HostRef struct {
	Gateway string   `yaml:"gateway" json:"gateway"`
	Service string   `yaml:"service" json:"service"`
	Host    string   `yaml:"host" json:"host"`
	Within  Duration `yaml:"within" json:"within,omitempty"` // host_out_within only
}

// Expect is one expectation; exactly one kind is set.
type Expect struct {
	Success            *SuccessExpect `yaml:"success" json:"success,omitempty"`
	P99                *LatencyExpect `yaml:"p99" json:"p99,omitempty"`
	RetryAmplification *RatioExpect   `yaml:"retry_amplification" json:"retry_amplification,omitempty"`
	ShedOrder          *ShedExpect    `yaml:"shed_order" json:"shed_order,omitempty"`
	HostOutWithin      *HostRef       `yaml:"host_out_within" json:"host_out_within,omitempty"`
	Rejects            *RejectExpect  `yaml:"rejects" json:"rejects,omitempty"`
	line               int            // where it was written, for messages
}

// SuccessExpect: the success share is at least Min. With Level or Service it is measured from
// the gateways' /status (ok + failover_ok over every outcome but canceled); otherwise on the
// client (2xx and 3xx answers over every request sent), for Target alone when set, and over
// requests without Bulwark-Reject only when Admitted is set.
type SuccessExpect struct {
	Min      Share    `yaml:"min" json:"min"`
	Level    int      `yaml:"level" json:"level,omitempty"`
	Service  string   `yaml:"service" json:"service,omitempty"`
	Target   string   `yaml:"target" json:"target,omitempty"`
	Admitted bool     `yaml:"admitted" json:"admitted,omitempty"`
	Gateways []string `yaml:"gateways" json:"gateways,omitempty"` // default: the gateways the load enters by
}

// LatencyExpect: the load's p99 (from the intended send time) is at most Max.
type LatencyExpect struct {
	Max Duration `yaml:"max" json:"max"`
}

// RatioExpect: failovers ÷ requests is at most Max.
type RatioExpect struct {
	Max      float64  `yaml:"max" json:"max"`
	Gateways []string `yaml:"gateways" json:"gateways,omitempty"`
}

// ShedExpect: refusal ratios by level are non-increasing in the order of Levels.
type ShedExpect struct {
	Levels []int `yaml:"levels" json:"levels"`
	// MinFirst: the first level's refusal ratio must reach it (so that an idle drill does not
	// pass vacuously). Slack tolerates a later level exceeding an earlier one by this much.
	MinFirst Share    `yaml:"min_first" json:"min_first"`
	Slack    Share    `yaml:"slack" json:"slack"`
	Gateways []string `yaml:"gateways" json:"gateways,omitempty"`
}

// RejectExpect: among the client's answers (of Target when set), the share carrying
// Bulwark-Reject: Reason is in [Min, Max]; each of them had status Status when set; with Only,
// no other reason appeared.
type RejectExpect struct {
	Reason string `yaml:"reason" json:"reason"`
	Status int    `yaml:"status" json:"status,omitempty"`
	Target string `yaml:"target" json:"target,omitempty"`
	Min    Share  `yaml:"min" json:"min"`
	Max    *Share `yaml:"max" json:"max,omitempty"`
	Only   bool   `yaml:"only" json:"only,omitempty"`
}

// Duration is a YAML duration with a unit ("2s", "500ms"); 0 may be written bare.
type Duration time.Duration

// D returns d as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// UnmarshalYAML reads a duration with a unit.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Value == "0" {
		*d = 0
		return nil
	}
	v, err := time.ParseDuration(n.Value)
	if err != nil || v < 0 {
		return fmt.Errorf("line %d: %q is not a duration; write one with a unit such as 500ms or 2s", n.Line, n.Value)
	}
	*d = Duration(v)
	return nil
}

// MarshalJSON writes the duration as text.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// Share is a fraction in [0, 1], written "99%" or 0.99.
type Share float64

// UnmarshalYAML reads "99%" or 0.99.
func (s *Share) UnmarshalYAML(n *yaml.Node) error {
	txt := strings.TrimSpace(n.Value)
	div := 1.0
	if strings.HasSuffix(txt, "%") {
		txt, div = strings.TrimSpace(strings.TrimSuffix(txt, "%")), 100
	}
	v, err := strconv.ParseFloat(txt, 64)
	if err != nil || v/div < 0 || v/div > 1 || v != v {
		return fmt.Errorf("line %d: %q is not a share; write 99%% or 0.99", n.Line, n.Value)
	}
	*s = Share(v / div)
	return nil
}
