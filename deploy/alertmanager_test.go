package deploy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestAlertmanagerCheckConfig runs `amtool check-config`.
func TestAlertmanagerCheckConfig(t *testing.T) {
	t.Parallel()
	amtool := deployTool(t, "prometheus-alertmanager", "amtool")
	out, err := deployRun(30*time.Second, amtool, "check-config", deployAMPath)
	if err != nil || !strings.Contains(out, "SUCCESS") {
		t.Fatalf("amtool check-config %s: %v\n%s", deployAMPath, err, out)
	}
}

// TestAlertmanagerRoutes asks amtool where alerts go: critical pages, the rest opens tickets.
func TestAlertmanagerRoutes(t *testing.T) {
	t.Parallel()
	amtool := deployTool(t, "prometheus-alertmanager", "amtool")
	for _, tc := range []struct {
		name   string
		labels []string
		want   string
	}{
		{"critical pages", []string{"alertname=BulwarkLevel1Shed", "severity=critical", "service=songs"}, "pager"},
		{"warning opens a ticket", []string{"alertname=BulwarkBreakerOpen", "severity=warning", "service=songs"}, "tickets"},
		{"no severity opens a ticket", []string{"alertname=Other", "service=songs"}, "tickets"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"config", "routes", "test", "--config.file=" + deployAMPath}, tc.labels...)
			cmd := exec.Command(amtool, args...)
			var stderr strings.Builder
			cmd.Stderr = &stderr // amtool warns there that --config.file overrides --alertmanager.url
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("amtool %v: %v\n%s%s", args, err, out, stderr.String())
			}
			if got := strings.TrimSpace(string(out)); got != tc.want {
				t.Errorf("receiver %q, want %q", got, tc.want)
			}
		})
	}
}

// deployAMAlert is an alert as Alertmanager's API v2 reads and returns it.
type deployAMAlert struct {
	Labels      map[string]string `json:"labels"`
	Fingerprint string            `json:"fingerprint,omitempty"`
	Status      *struct {
		State       string   `json:"state"`
		InhibitedBy []string `json:"inhibitedBy"`
	} `json:"status,omitempty"`
	Receivers []struct {
		Name string `json:"name"`
	} `json:"receivers,omitempty"`
}

// TestAlertmanagerInhibitionAndGroups runs a real Alertmanager on the config and posts alerts
// to it: the critical latency alert of songs mutes the warning of songs (same signal and
// service) and nothing else; two breaker alerts of one service from two gateways are one
// group (convergence); critical goes to the pager.
func TestAlertmanagerInhibitionAndGroups(t *testing.T) {
	t.Parallel()
	bin := deployTool(t, "prometheus-alertmanager", "prometheus-alertmanager", "alertmanager")
	addr := deployFreeAddr(t)
	cmd := exec.Command(bin, "--config.file="+deployAMPath, "--storage.path="+t.TempDir(),
		"--web.listen-address="+addr, "--cluster.listen-address=", "--log.level=warn")
	var logs deployTail
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	base := "http://" + addr
	if err := deployPoll(10*time.Second, func() error { return deployGetJSON(base+"/-/ready", nil) }); err != nil {
		t.Fatalf("alertmanager not ready: %v\n%s", err, logs.String())
	}

	lat := func(name, svc, sev string) deployAMAlert {
		return deployAMAlert{Labels: map[string]string{"alertname": name, "service": svc, "level": "1", "severity": sev, "signal": "latency_p99"}}
	}
	brk := func(inst string) deployAMAlert {
		return deployAMAlert{Labels: map[string]string{"alertname": "BulwarkBreakerOpen", "service": "songs", "instance": inst,
			"host": "10.0.0.1:80", "severity": "warning", "signal": "breaker_open"}}
	}
	posted := []deployAMAlert{
		lat("BulwarkLatencyP99HighSustained", "songs", "critical"),
		lat("BulwarkLatencyP99High", "songs", "warning"),    // muted
		lat("BulwarkLatencyP99High", "comments", "warning"), // another service
		brk("gw1:9901"), brk("gw2:9901"), // another signal; one group
		{Labels: map[string]string{"alertname": "BulwarkSpansDropped", "instance": "gw1:9901", "severity": "warning", "signal": "spans_dropped"}},
	}
	body, _ := json.Marshal(posted)
	resp, err := http.Post(base+"/api/v2/alerts", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST /api/v2/alerts: %s", resp.Status)
	}

	// The inhibitor and the dispatcher take the alerts in asynchronously: poll until the
	// state is the expected one, then report what differs.
	var alerts []deployAMAlert
	var groups []struct {
		Labels   map[string]string `json:"labels"`
		Receiver struct{ Name string }
		Alerts   []deployAMAlert `json:"alerts"`
	}
	check := func() error {
		alerts, groups = nil, nil
		if err := deployGetJSON(base+"/api/v2/alerts", &alerts); err != nil {
			return err
		}
		if err := deployGetJSON(base+"/api/v2/alerts/groups", &groups); err != nil {
			return err
		}
		if len(alerts) != len(posted) {
			return fmt.Errorf("%d alerts, want %d", len(alerts), len(posted))
		}
		var critFP string
		for _, a := range alerts {
			if a.Labels["severity"] == "critical" {
				critFP = a.Fingerprint
			}
		}
		for _, a := range alerts {
			muted := a.Labels["alertname"] == "BulwarkLatencyP99High" && a.Labels["service"] == "songs"
			state, by := a.Status.State, a.Status.InhibitedBy
			if muted && (state != "suppressed" || !slices.Equal(by, []string{critFP})) {
				return fmt.Errorf("%v: state %s inhibited by %v, want suppressed by the critical %s", a.Labels, state, by, critFP)
			}
			if !muted && state != "active" {
				return fmt.Errorf("%v: state %s inhibited by %v, want active", a.Labels, state, by)
			}
			wantRecv := "tickets"
			if a.Labels["severity"] == "critical" {
				wantRecv = "pager"
			}
			if len(a.Receivers) != 1 || a.Receivers[0].Name != wantRecv {
				return fmt.Errorf("%v: receivers %v, want %s", a.Labels, a.Receivers, wantRecv)
			}
		}
		if len(groups) != 5 {
			return fmt.Errorf("%d groups, want 5 (one per alertname and service)", len(groups))
		}
		for _, g := range groups {
			if g.Labels["alertname"] == "BulwarkBreakerOpen" && len(g.Alerts) != 2 {
				return fmt.Errorf("breaker group %v has %d alerts, want both gateways' in one", g.Labels, len(g.Alerts))
			}
			if len(g.Labels) > 2 {
				return fmt.Errorf("group labels %v: want only alertname and service", g.Labels)
			}
		}
		return nil
	}
	if err := deployPoll(10*time.Second, check); err != nil {
		t.Fatalf("%v\nalerts: %+v\ngroups: %+v\nlogs:\n%s", err, alerts, groups, logs.String())
	}
}
