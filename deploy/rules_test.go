package deploy

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/gateway/metrics"
)

// TestRulesPromtoolCheck runs `promtool check rules`: the file loads, every expression parses,
// no rule is a duplicate.
func TestRulesPromtoolCheck(t *testing.T) {
	t.Parallel()
	promtool := deployTool(t, "prometheus", "promtool")
	out, err := deployRun(30*time.Second, promtool, "check", "rules", deployRulesPath)
	if err != nil || !strings.Contains(out, "SUCCESS") {
		t.Fatalf("promtool check rules %s: %v\n%s", deployRulesPath, err, out)
	}
}

// TestRulesPromtoolUnit runs the unit tests: every alert fires on its series and stays quiet
// on the others (bulwark-rules.test.yml).
func TestRulesPromtoolUnit(t *testing.T) {
	t.Parallel()
	promtool := deployTool(t, "prometheus", "promtool")
	out, err := deployRun(60*time.Second, promtool, "test", "rules", deployRulesTestPath)
	if err != nil || !strings.Contains(out, "SUCCESS") {
		t.Fatalf("promtool test rules %s: %v\n%s", deployRulesTestPath, err, out)
	}
}

// deployRulesTests is the part of a promtool unit-test file this test reads.
type deployRulesTests struct {
	Tests []struct {
		Name      string `yaml:"name"`
		AlertTest []struct {
			EvalTime  string `yaml:"eval_time"`
			Alertname string `yaml:"alertname"`
			ExpAlerts []struct {
				ExpLabels map[string]string `yaml:"exp_labels"`
			} `yaml:"exp_alerts"`
		} `yaml:"alert_rule_test"`
	} `yaml:"tests"`
}

// TestRulesCoverage checks that the unit tests cover every alert both ways: at least one
// evaluation where it fires and one where it must not (exp_alerts: []), and that they name
// no alert the rules do not have.
func TestRulesCoverage(t *testing.T) {
	rules := deployLoadRules(t)
	var tests deployRulesTests
	deployLoadYAML(t, deployRulesTestPath, &tests)
	fires, quiet := map[string]bool{}, map[string]bool{}
	for _, tc := range tests.Tests {
		for _, at := range tc.AlertTest {
			if len(at.ExpAlerts) > 0 {
				fires[at.Alertname] = true
			} else {
				quiet[at.Alertname] = true
			}
		}
	}
	alerts := map[string]bool{}
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			if r.Alert == "" {
				continue
			}
			alerts[r.Alert] = true
			if !fires[r.Alert] {
				t.Errorf("%s: no unit test where it fires", r.Alert)
			}
			if !quiet[r.Alert] {
				t.Errorf("%s: no unit test where it must stay quiet (exp_alerts: [])", r.Alert)
			}
		}
	}
	for name := range fires {
		if !alerts[name] {
			t.Errorf("unit tests name %s, which the rules do not define", name)
		}
	}
	if len(alerts) < 9 {
		t.Errorf("%d alerts, want the 9 of issue 7 at least", len(alerts))
	}
}

// deployRecordName is level:metric:operations with a bulwark_ metric.
var deployRecordName = regexp.MustCompile(`^[a-z_]+:bulwark_[a-z0-9_]+:[a-z0-9_]+$`)

// TestRulesConventions checks what Alertmanager and the README rely on: every alert has a
// severity of warning or critical, a signal, a summary, a description and a runbook_url into
// deploy/README.md whose anchor exists; a signal's alerts differ in severity (so that the
// inhibit rule pairs a warning with its critical); recorded names follow
// level:metric:operations; and every metric read is one the gateway exports.
func TestRulesConventions(t *testing.T) {
	rules := deployLoadRules(t)
	anchors := deployReadmeAnchors(t)
	const runbookPrefix = "https://github.com/bulwark-go/bulwark/blob/main/deploy/README.md#"
	known := deployKnownMetrics()
	histograms := map[string]bool{metrics.NameRequestDuration: true, metrics.NameUpstreamDuration: true}
	signals := map[string][]string{} // signal -> severities
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			for _, m := range deployMetricNames(r.Expr, histograms) {
				if !known[m] {
					t.Errorf("group %s rule %s%s reads %s, which no Bulwark component exports", g.Name, r.Record, r.Alert, m)
				}
			}
			if r.Record != "" {
				if !deployRecordName.MatchString(r.Record) {
					t.Errorf("recorded name %s is not level:bulwark_metric:operations", r.Record)
				}
				continue
			}
			sev, sig := r.Labels["severity"], r.Labels["signal"]
			if sev != "warning" && sev != "critical" {
				t.Errorf("%s: severity %q, want warning or critical", r.Alert, sev)
			}
			if sig == "" {
				t.Errorf("%s: no signal label", r.Alert)
			}
			signals[sig] = append(signals[sig], sev)
			for _, a := range []string{"summary", "description", "runbook_url"} {
				if r.Annotations[a] == "" {
					t.Errorf("%s: no %s annotation", r.Alert, a)
				}
			}
			anchor, ok := strings.CutPrefix(r.Annotations["runbook_url"], runbookPrefix)
			if !ok || !anchors[anchor] {
				t.Errorf("%s: runbook_url %q is not a heading of deploy/README.md", r.Alert, r.Annotations["runbook_url"])
			}
			if !strings.HasPrefix(r.Alert, "Bulwark") {
				t.Errorf("%s: alert names start with Bulwark (the dashboard's annotation matches Bulwark.*)", r.Alert)
			}
		}
	}
	for sig, sevs := range signals {
		if len(sevs) > 2 || (len(sevs) == 2 && sevs[0] == sevs[1]) {
			t.Errorf("signal %s: severities %v; a signal has one alert, or one warning and one critical", sig, sevs)
		}
	}
	for _, sig := range []string{"latency_p99", "error_budget_burn"} {
		s := slices.Sorted(slices.Values(signals[sig]))
		if !slices.Equal(s, []string{"critical", "warning"}) {
			t.Errorf("signal %s: severities %v, want a warning and a critical", sig, signals[sig])
		}
	}
}

// deployKnownMetrics is every bulwark_* family a component exports: the gateway's
// (metrics.Names) and the observability layer's, whose names issue 7 fixes.
func deployKnownMetrics() map[string]bool {
	known := map[string]bool{}
	for _, n := range metrics.Names() {
		known[n] = true
	}
	for _, n := range []string{
		"bulwark_spans_dropped_total", "bulwark_span_queue_length", "bulwark_trace_sample_rate",
		"bulwark_panics_total", "bulwark_colored_requests_total", "bulwark_color_stripped_total",
		"bulwark_profiles_written_total",
	} {
		known[n] = true
	}
	return known
}

// deployReadmeAnchors returns the GitHub anchors of deploy/README.md's headings.
func deployReadmeAnchors(t testing.TB) map[string]bool {
	t.Helper()
	b, err := os.ReadFile(deployReadmePath)
	if err != nil {
		t.Fatal(err)
	}
	anchors := map[string]bool{}
	fenced := false // # inside a code block is a comment, not a heading
	for line := range strings.Lines(string(b)) {
		if strings.HasPrefix(line, "```") {
			fenced = !fenced
		}
		if fenced || !strings.HasPrefix(line, "#") {
			continue
		}
		title := strings.TrimSpace(strings.TrimLeft(line, "#"))
		anchors[deployAnchor(title)] = true
	}
	return anchors
}

// deployAnchor is GitHub's heading anchor: lower case, spaces to hyphens, punctuation other
// than - and _ dropped.
func deployAnchor(title string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(title) {
		switch {
		case r == ' ':
			b.WriteByte('-')
		case r == '-' || r == '_' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9':
			b.WriteRune(r)
		}
	}
	return b.String()
}
