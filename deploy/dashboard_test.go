package deploy

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/bulwark-go/bulwark/gateway/metrics"
)

// TestDashboardShape checks the dashboard's structure: valid JSON, schema version, the
// datasource, service and level variables, unique panel ids, every panel with at least one
// target and an expression in each, every panel and target on ${DS_PROMETHEUS}, panels
// inside the 24-column grid, and every metric it reads one a Bulwark component exports.
func TestDashboardShape(t *testing.T) {
	d := deployLoadDashboard(t)
	if d.UID == "" || d.Title == "" {
		t.Errorf("uid %q title %q: both are needed for provisioning", d.UID, d.Title)
	}
	if d.SchemaVersion < 36 {
		t.Errorf("schemaVersion %d, want a current one (>= 36)", d.SchemaVersion)
	}
	var tmpl struct {
		List []struct {
			Name       string `json:"name"`
			Type       string `json:"type"`
			Query      any    `json:"query"`
			IncludeAll bool   `json:"includeAll"`
			AllValue   string `json:"allValue"`
		} `json:"list"`
	}
	if err := json.Unmarshal(d.Templating, &tmpl); err != nil {
		t.Fatalf("templating: %v", err)
	}
	vars := map[string]string{}
	for _, v := range tmpl.List {
		vars[v.Name] = v.Type
		if v.Type == "query" && (!v.IncludeAll || v.AllValue != ".+") {
			t.Errorf("variable %s: includeAll %v allValue %q; the tests substitute All as .+", v.Name, v.IncludeAll, v.AllValue)
		}
	}
	for name, typ := range map[string]string{"DS_PROMETHEUS": "datasource", "service": "query", "level": "query"} {
		if vars[name] != typ {
			t.Errorf("variable %s: type %q, want %q", name, vars[name], typ)
		}
	}

	panels := deployPanels(d)
	if len(panels) < 20 {
		t.Errorf("%d panels; the dashboard covers golden signals, failover, shedding, breakers, hosts, fleet and telemetry", len(panels))
	}
	ids := map[int]bool{}
	var walk func([]deployPanel)
	walk = func(ps []deployPanel) {
		for _, p := range ps {
			if p.ID <= 0 || ids[p.ID] {
				t.Errorf("panel %q: id %d is missing or used twice", p.Title, p.ID)
			}
			ids[p.ID] = true
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	known := deployKnownMetrics()
	histograms := map[string]bool{metrics.NameRequestDuration: true, metrics.NameUpstreamDuration: true}
	for _, p := range panels {
		where := fmt.Sprintf("panel %d %q", p.ID, p.Title)
		if len(p.Targets) == 0 {
			t.Errorf("%s: no target", where)
		}
		if p.Datasource["uid"] != "${DS_PROMETHEUS}" {
			t.Errorf("%s: datasource %v, want uid ${DS_PROMETHEUS}", where, p.Datasource)
		}
		if g := p.GridPos; g.W <= 0 || g.H <= 0 || g.X < 0 || g.X+g.W > 24 {
			t.Errorf("%s: gridPos %+v outside the 24-column grid", where, g)
		}
		for _, tg := range p.Targets {
			if strings.TrimSpace(tg.Expr) == "" {
				t.Errorf("%s target %s: no expression", where, tg.RefID)
			}
			if tg.Datasource["uid"] != "${DS_PROMETHEUS}" {
				t.Errorf("%s target %s: datasource %v, want uid ${DS_PROMETHEUS}", where, tg.RefID, tg.Datasource)
			}
			for _, m := range deployMetricNames(tg.Expr, histograms) {
				if !known[m] {
					t.Errorf("%s target %s reads %s, which no Bulwark component exports", where, tg.RefID, m)
				}
			}
		}
	}
	// The golden signals, failover, shedding, breakers and host states of the issue, and the
	// fleet and telemetry families, each on some panel.
	var all strings.Builder
	for _, e := range deployDashboardExprs(t, d, "1m") {
		all.WriteString(e.Expr + "\n")
	}
	for _, m := range []string{
		"bulwark_requests_total", "bulwark_request_duration_seconds_bucket", "bulwark_inflight",
		"bulwark_failovers_total", "bulwark_retry_window", `outcome="shed"`, "bulwark_breaker_state",
		"bulwark_host_state", "bulwark_fleet_redis_up", "bulwark_rate_limit_mode", "bulwark_cache_hits_total",
		"bulwark_spans_dropped_total",
	} {
		if !strings.Contains(all.String(), m) {
			t.Errorf("no panel reads %s", m)
		}
	}
}

// TestDashboardExprsParse feeds every dashboard expression, variables substituted, to
// Prometheus's own parser: as recording rules through `promtool check rules`.
func TestDashboardExprsParse(t *testing.T) {
	t.Parallel()
	promtool := deployTool(t, "prometheus", "promtool")
	exprs := deployDashboardExprs(t, deployLoadDashboard(t), "1m")
	type rule struct {
		Record string `yaml:"record"`
		Expr   string `yaml:"expr"`
	}
	type group struct {
		Name  string `yaml:"name"`
		Rules []rule `yaml:"rules"`
	}
	g := group{Name: "dashboard"}
	for i, e := range exprs {
		g.Rules = append(g.Rules, rule{Record: fmt.Sprintf("dashboard:expr_%d:parsed", i), Expr: e.Expr})
	}
	b, err := yaml.Marshal(map[string][]group{"groups": {g}})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "dashboard-exprs.yml")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := deployRun(30*time.Second, promtool, "check", "rules", path)
	if err != nil || !strings.Contains(out, fmt.Sprintf("SUCCESS: %d rules found", len(exprs))) {
		// promtool names the rule; map it back to the panel.
		for i, e := range exprs {
			if strings.Contains(out, fmt.Sprintf("expr_%d:", i)) {
				t.Errorf("%s: %s", e.Where, e.Expr)
			}
		}
		t.Fatalf("promtool check rules on the dashboard's %d expressions: %v\n%s", len(exprs), err, out)
	}
}
