package gateway

import (
	"context"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/bulwark-go/bulwark/color"
	"github.com/bulwark-go/bulwark/gateway/config"
	"github.com/bulwark-go/bulwark/loadgen"
)

// The isolation audit of issue 7 (C4): colored load from the real load engine through two
// centers while failovers happen, next to uncolored load and to colored load that cannot
// prove its color. Every backend records every request and the color on it.
//
// Topology, both gateways trusting only 127.0.0.1 (the gateways and the plain load) and
// knowing the color token:
//   - songs: production and shadow hosts in sz and sh. At 1 s sz's shadow host dies, so sz
//     fails colored songs requests over to sh, whose shadow host takes them.
//   - albums: production hosts only (no shadow). At 1 s sz's dies, so uncolored albums
//     requests fail over to sh; colored ones are refused (no-shadow) from the start.
//   - orders: a write service, production and shadow hosts in sz (the primary). Writes are
//     sent to sh, which forwards them to sz.
//
// Three loads run at once for auditDuration: colored with the token from 127.0.0.2, uncolored
// from 127.0.0.1, and colored without the token from 127.0.0.3, which the gateways strip.
// Each carries X-Audit naming its stream, so the backends tell them apart.

const (
	auditDuration    = 3 * time.Second
	auditFailAt      = time.Second
	auditRate        = 100 // per second, colored and uncolored each
	auditRateStrip   = 30  // per second, the untrusted colored stream
	auditStreamColor = "colored"
	auditStreamPlain = "plain"
	auditStreamStrip = "untrusted"
)

// auditBackend is a backend of the audit with its role.
type auditBackend struct {
	*colorSeen
	b      *backend
	shadow bool
}

// auditClient is a load engine client whose connections come from ip (any 127/8 address is
// loopback on Linux).
func auditClient(ip string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 2 * time.Second}
	return &http.Client{
		Transport:     &http.Transport{DialContext: d.DialContext, MaxIdleConnsPerHost: 64},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

func TestColorIsolationAudit(t *testing.T) {
	if testing.Short() {
		t.Skip("the isolation audit runs load for a few seconds")
	}
	if ln, err := net.Listen("tcp", "127.0.0.2:0"); err != nil {
		t.Skipf("127.0.0.2 is not usable as a loopback address here: %v", err)
	} else {
		ln.Close()
	}
	mk := func(name string, shadow bool) *auditBackend {
		b, seen := colorBackend(t, name)
		return &auditBackend{colorSeen: seen, b: b, shadow: shadow}
	}
	be := map[string]*auditBackend{
		"sz-songs": mk("sz-songs", false), "sh-songs": mk("sh-songs", false),
		"sz-songs-shadow": mk("sz-songs-shadow", true), "sh-songs-shadow": mk("sh-songs-shadow", true),
		"sz-albums": mk("sz-albums", false), "sh-albums": mk("sh-albums", false),
		"orders": mk("orders", false), "orders-shadow": mk("orders-shadow", true),
	}
	szLn, shLn := listen(t), listen(t)
	addrs := map[string]string{"sz": szLn.Addr().String(), "sh": shLn.Addr().String()}
	mkCfg := func(center string) *config.Config {
		cfg := testConfig(center, addrs)
		cfg.Retry.Period = config.Duration(200 * time.Millisecond) // windows open within the run
		cfg.Color = config.Color{Token: colorToken, TrustedCIDRs: []string{"127.0.0.1"}}
		tr := false
		cfg.Log.Access = &tr
		songs := addService(cfg, "songs", 1, map[string][]string{"sz": {be["sz-songs"].b.addr}, "sh": {be["sh-songs"].b.addr}}, false)
		songs.ShadowUpstreams = map[string][]string{"sz": {be["sz-songs-shadow"].b.addr}, "sh": {be["sh-songs-shadow"].b.addr}}
		addService(cfg, "albums", 2, map[string][]string{"sz": {be["sz-albums"].b.addr}, "sh": {be["sh-albums"].b.addr}}, false)
		orders := addService(cfg, "orders", 1, map[string][]string{"sz": {be["orders"].b.addr}}, true)
		orders.ShadowUpstreams = map[string][]string{"sz": {be["orders-shadow"].b.addr}}
		return cfg
	}
	sz, _ := startGateway(t, mkCfg("sz"), szLn)
	sh, _ := startGateway(t, mkCfg("sh"), shLn)
	szURL, shURL := "http://"+addrs["sz"], "http://"+addrs["sh"]

	targets := func(stream string, token bool) []loadgen.Target {
		h := http.Header{"X-Audit": {stream}}
		if token {
			h.Set(config.DefaultColorTokenHeader, colorToken)
		}
		return []loadgen.Target{
			{URL: szURL + "/api/songs", Header: h, Weight: 3},
			{URL: szURL + "/api/albums", Header: h, Weight: 1},
			{Method: http.MethodPost, URL: shURL + "/api/orders", Header: h, Body: []byte(`{"n":1}`), Weight: 1},
		}
	}
	streams := []struct {
		name  string
		cfg   loadgen.Config
		ip    string
		color string
	}{
		{auditStreamColor, loadgen.Config{Targets: targets(auditStreamColor, true), Schedule: loadgen.Constant(auditRate)}, "127.0.0.2", "stress"},
		{auditStreamPlain, loadgen.Config{Targets: targets(auditStreamPlain, false), Schedule: loadgen.Constant(auditRate)}, "127.0.0.1", ""},
		{auditStreamStrip, loadgen.Config{Targets: targets(auditStreamStrip, false)[:1], Schedule: loadgen.Constant(auditRateStrip)}, "127.0.0.3", "stress"},
	}
	reports := make([]*loadgen.Report, len(streams))
	kill := time.AfterFunc(auditFailAt, func() {
		be["sz-songs-shadow"].b.kill()
		be["sz-albums"].b.kill()
	})
	defer kill.Stop()
	var wg sync.WaitGroup
	for i, s := range streams {
		cfg := s.cfg
		cfg.Duration, cfg.Timeout, cfg.Color, cfg.Client, cfg.Seed = auditDuration, 5*time.Second, s.color, auditClient(s.ip), uint64(i+1)
		wg.Go(func() {
			r, err := loadgen.Run(context.Background(), cfg)
			if err != nil {
				t.Errorf("%s: %v", s.name, err)
				return
			}
			reports[i] = r
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}

	// What every backend saw, by stream and color.
	type tally struct{ colored, plain int }
	seen := map[string]map[string]tally{} // backend -> stream -> tally
	for name, b := range be {
		seen[name] = map[string]tally{}
		b.mu.Lock()
		for _, h := range b.reqs {
			tl := seen[name][h.Get("X-Audit")]
			if c := h.Get(color.Header); c != "" {
				tl.colored++
				if c != "stress" {
					t.Errorf("%s saw color %q", name, c)
				}
			} else {
				tl.plain++
			}
			seen[name][h.Get("X-Audit")] = tl
		}
		b.mu.Unlock()
	}
	var coloredAtProd, plainAtShadow, coloredAtShadow, strippedAtProd, strippedAtShadow int
	for name, b := range be {
		for stream, tl := range seen[name] {
			switch {
			case b.shadow && stream != auditStreamColor, b.shadow && tl.plain > 0:
				plainAtShadow += tl.plain + tl.colored
				t.Errorf("shadow host %s got %d requests of the %s stream (%d colored)", name, tl.plain+tl.colored, stream, tl.colored)
			case b.shadow:
				coloredAtShadow += tl.colored
			case tl.colored > 0:
				coloredAtProd += tl.colored
				t.Errorf("production host %s got %d colored requests of the %s stream", name, tl.colored, stream)
			case stream == auditStreamColor:
				t.Errorf("production host %s got %d uncolored requests of the colored stream", name, tl.plain)
			}
			if stream == auditStreamStrip {
				if b.shadow {
					strippedAtShadow += tl.plain + tl.colored
				} else {
					strippedAtProd += tl.plain
				}
			}
		}
	}

	// Every colored request was answered by a shadow host or refused by a gateway: production
	// saw none, and the gateways answer these services with nothing of their own (no cache, no
	// fallback, no degrade), so every 200 came from a shadow host and every other answer is a
	// refusal with its reason.
	rc := reports[0]
	refused := int64(0)
	for _, n := range rc.Rejects {
		refused += n
	}
	answered := rc.Status[http.StatusOK]
	if rc.Errors != 0 || answered+refused != rc.Completed || rc.Completed != rc.Sent {
		t.Errorf("colored stream: sent %d, completed %d, 200 %d, refused %d, transport errors %d (%v); want every request answered or refused",
			rc.Sent, rc.Completed, answered, refused, rc.Errors, rc.ErrorKinds)
	}
	if int64(coloredAtShadow) < answered {
		t.Errorf("%d colored 200s but only %d colored requests reached a shadow host", answered, coloredAtShadow)
	}
	noShadow := rc.Rejects["no-shadow"]
	if want := sz.metrics.Colored("albums", "rejected"); noShadow == 0 || float64(noShadow) != testutil.ToFloat64(want) {
		t.Errorf("no-shadow refusals %d, sz counted %v colored albums requests rejected", noShadow, testutil.ToFloat64(want))
	}
	failedOver := seen["sh-songs-shadow"][auditStreamColor].colored
	forwarded := seen["orders-shadow"][auditStreamColor].colored
	if failedOver == 0 || forwarded == 0 {
		t.Errorf("no colored failover (%d) or no forwarded colored write (%d) reached a shadow host", failedOver, forwarded)
	}
	if seen["sh-albums"][auditStreamPlain].plain == 0 {
		t.Error("no uncolored failover happened alongside")
	}

	// The untrusted colored stream was stripped: it reached production, uncolored, only.
	rs := reports[2]
	stripped := testutil.ToFloat64(sz.metrics.ColorStripped()) + testutil.ToFloat64(sh.metrics.ColorStripped())
	if strippedAtShadow != 0 || int64(strippedAtProd) != rs.Status[http.StatusOK] || float64(rs.Sent) != stripped {
		t.Errorf("untrusted stream: sent %d, 200 %d, at production %d, at shadow %d, stripped %v",
			rs.Sent, rs.Status[http.StatusOK], strippedAtProd, strippedAtShadow, stripped)
	}

	var b strings.Builder
	for k, v := range rc.Rejects {
		b.WriteString(" " + k + "=" + strconv.FormatInt(v, 10))
	}
	t.Logf("isolation audit (%v, failover at %v): colored sent %d: %d answered by shadow hosts (sz songs %d, sh songs via failover %d, orders via write forwarding %d), %d refused (%s); colored requests at production hosts: %d; uncolored requests at shadow hosts: %d; untrusted colored sent %d, stripped %v, reached production uncolored %d, shadow %d; uncolored sent %d (200: %d)",
		auditDuration, auditFailAt, rc.Sent, answered, seen["sz-songs-shadow"][auditStreamColor].colored, failedOver, forwarded,
		refused, strings.TrimSpace(b.String()), coloredAtProd, plainAtShadow, rs.Sent, stripped, strippedAtProd, strippedAtShadow,
		reports[1].Sent, reports[1].Status[http.StatusOK])
}
