package deploy

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

// The files under test, relative to this package's directory (go test runs there).
const (
	deployRulesPath     = "prometheus/bulwark-rules.yml"
	deployRulesTestPath = "prometheus/bulwark-rules.test.yml"
	deployAMPath        = "alertmanager/alertmanager.yml"
	deployDashPath      = "grafana/bulwark.json"
	deployReadmePath    = "README.md"
)

// deployTool returns the path of the first of progs found on PATH or in /usr/bin (PATH may
// be trimmed in CI). When none is there it skips t with the apt package to install, or,
// under BULWARK_REQUIRE_DEPS=1 (scripts/test), fails it.
func deployTool(t testing.TB, pkg string, progs ...string) string {
	t.Helper()
	for _, prog := range progs {
		if p, err := exec.LookPath(prog); err == nil {
			return p
		}
		if p := filepath.Join("/usr/bin", prog); deployIsFile(p) {
			return p
		}
	}
	msg := fmt.Sprintf("%s not found: install it with apt-get install %s", progs[0], pkg)
	if os.Getenv("BULWARK_REQUIRE_DEPS") == "1" {
		t.Fatal(msg + " (BULWARK_REQUIRE_DEPS=1)")
	}
	t.Skip(msg)
	return ""
}

func deployIsFile(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir()
}

// deployRun runs a program to completion within timeout and returns its combined output.
func deployRun(timeout time.Duration, prog string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, prog, args...).CombinedOutput()
	return string(out), err
}

// deployFreeAddr returns a loopback address with a port that was free a moment ago.
func deployFreeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// deployRules is the part of a Prometheus rule file the tests read.
type deployRules struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []struct {
			Record      string            `yaml:"record"`
			Alert       string            `yaml:"alert"`
			Expr        string            `yaml:"expr"`
			For         string            `yaml:"for"`
			Labels      map[string]string `yaml:"labels"`
			Annotations map[string]string `yaml:"annotations"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

func deployLoadRules(t testing.TB) deployRules {
	t.Helper()
	var r deployRules
	deployLoadYAML(t, deployRulesPath, &r)
	if len(r.Groups) == 0 {
		t.Fatalf("%s: no groups", deployRulesPath)
	}
	return r
}

func deployLoadYAML(t testing.TB, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// deployExpr is one PromQL expression of the dashboard and where it is.
type deployExpr struct {
	Where string // panel id, title and target, or the annotation's name
	Panel string // the panel's title; "" for an annotation
	Expr  string
}

// deployDashboard is the part of a Grafana dashboard the tests read.
type deployDashboard struct {
	Title         string          `json:"title"`
	UID           string          `json:"uid"`
	SchemaVersion int             `json:"schemaVersion"`
	Panels        []deployPanel   `json:"panels"`
	Templating    json.RawMessage `json:"templating"`
	Annotations   struct {
		List []struct {
			Name       string            `json:"name"`
			Datasource map[string]string `json:"datasource"`
			Expr       string            `json:"expr"`
		} `json:"list"`
	} `json:"annotations"`
}

type deployPanel struct {
	ID         int               `json:"id"`
	Type       string            `json:"type"`
	Title      string            `json:"title"`
	Datasource map[string]string `json:"datasource"`
	GridPos    struct{ H, W, X, Y int }
	Panels     []deployPanel `json:"panels"` // a collapsed row's panels
	Targets    []struct {
		RefID      string            `json:"refId"`
		Expr       string            `json:"expr"`
		Datasource map[string]string `json:"datasource"`
	} `json:"targets"`
}

func deployLoadDashboard(t testing.TB) deployDashboard {
	t.Helper()
	b, err := os.ReadFile(deployDashPath)
	if err != nil {
		t.Fatal(err)
	}
	var d deployDashboard
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("%s is not valid JSON for a dashboard: %v", deployDashPath, err)
	}
	return d
}

// deployPanels returns every panel that is not a row, rows' nested panels included.
func deployPanels(d deployDashboard) []deployPanel {
	var out []deployPanel
	var walk func([]deployPanel)
	walk = func(ps []deployPanel) {
		for _, p := range ps {
			if p.Type == "row" {
				walk(p.Panels)
				continue
			}
			out = append(out, p)
		}
	}
	walk(d.Panels)
	return out
}

// deployDashboardExprs returns every PromQL expression of the dashboard, panel targets and
// Prometheus annotations, with Grafana's variables replaced so that Prometheus can run them:
// $service and $level by the "All" value .+, and the interval variables by rate.
func deployDashboardExprs(t testing.TB, d deployDashboard, rate string) []deployExpr {
	t.Helper()
	var out []deployExpr
	for _, p := range deployPanels(d) {
		for _, tg := range p.Targets {
			out = append(out, deployExpr{fmt.Sprintf("panel %d %q target %s", p.ID, p.Title, tg.RefID), p.Title, deploySubstitute(t, tg.Expr, rate)})
		}
	}
	for _, a := range d.Annotations.List {
		if a.Expr != "" {
			out = append(out, deployExpr{fmt.Sprintf("annotation %q", a.Name), "", deploySubstitute(t, a.Expr, rate)})
		}
	}
	return out
}

// deploySubstitute replaces the Grafana variables the dashboard uses; any other $ is an
// error, since Prometheus would not know it.
func deploySubstitute(t testing.TB, expr, rate string) string {
	t.Helper()
	r := strings.NewReplacer(
		"${service}", ".+", "$service", ".+",
		"${level}", ".+", "$level", ".+",
		"${__rate_interval}", rate, "$__rate_interval", rate,
		"${__interval}", rate, "$__interval", rate,
		"${__range}", "1h", "$__range", "1h",
	)
	out := r.Replace(expr)
	if strings.Contains(out, "$") {
		t.Errorf("expression uses a variable the tests do not know: %s", expr)
	}
	return out
}

// deployMetricRef matches a metric name in PromQL: bulwark_..., not right after a colon
// (that is part of a recorded name such as service_level:bulwark_requests:rate5m).
var deployMetricRef = regexp.MustCompile(`(?:^|[^:a-zA-Z0-9_])(bulwark_[a-z0-9_]+)`)

// deployMetricNames returns the bulwark_* metric families expr reads, with the _bucket,
// _sum and _count series of a histogram folded into the family name.
func deployMetricNames(expr string, histograms map[string]bool) []string {
	var out []string
	for _, m := range deployMetricRef.FindAllStringSubmatch(expr, -1) {
		name := m[1]
		for _, suf := range []string{"_bucket", "_sum", "_count"} {
			if base, ok := strings.CutSuffix(name, suf); ok && histograms[base] {
				name = base
			}
		}
		out = append(out, name)
	}
	return out
}

// deployPoll calls f until it returns nil or timeout passes, every 100ms; it returns f's
// last error.
func deployPoll(timeout time.Duration, f func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		err := f()
		if err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(100 * time.Millisecond)
	}
}

var deployHTTP = &http.Client{Timeout: 5 * time.Second}

// deployGetJSON GETs url and decodes a 200 answer's JSON body into v (nil: discard it).
func deployGetJSON(url string, v any) error {
	resp, err := deployHTTP.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s: %.500s", url, resp.Status, body)
	}
	if v == nil {
		return nil
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("GET %s: %v: %.500s", url, err, body)
	}
	return nil
}

// deployTail keeps the last 64 KiB written to it, for a child process's output; safe for
// concurrent writes (exec copies stdout and stderr from two goroutines).
type deployTail struct {
	mu  sync.Mutex
	buf []byte
}

const deployTailMax = 64 << 10

func (d *deployTail) Write(p []byte) (int, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.buf = append(d.buf, p...)
	if over := len(d.buf) - deployTailMax; over > 0 {
		d.buf = append(d.buf[:0], d.buf[over:]...)
	}
	return len(p), nil
}

func (d *deployTail) String() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return string(d.buf)
}
