package drill

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// ErrAdmin is returned (wrapped) when a gateway's admin API refuses a call or cannot be reached.
var ErrAdmin = errors.New("drill: admin call failed")

// adminClient calls the gateways' admin APIs.
type adminClient struct{ c *http.Client }

// call sends one request; a status outside 2xx is an ErrAdmin naming the answer.
func (a adminClient) call(ctx context.Context, g *Gateway, method, path string, body any) ([]byte, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, fmt.Errorf("%w: %s %s: body: %w", ErrAdmin, method, path, err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimSuffix(g.Admin, "/")+path, rd)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrAdmin, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if g.Token != "" {
		req.Header.Set("Authorization", "Bearer "+g.Token)
	}
	resp, err := a.c.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%w: %s %s: %w", ErrAdmin, method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return nil, fmt.Errorf("%w: %s %s: %w", ErrAdmin, method, path, err)
	}
	if resp.StatusCode/100 != 2 {
		return b, fmt.Errorf("%w: %s %s%s: %s: %s", ErrAdmin, method, g.Admin, path, resp.Status, strings.TrimSpace(string(b)))
	}
	return b, nil
}

// gatewayStatus is the part of GET /status a drill reads.
type gatewayStatus struct {
	Services []struct {
		Name   string            `json:"name"`
		Level  int               `json:"level"`
		Counts map[string]uint64 `json:"counts"`
		Hosts  []hostStatus      `json:"hosts"`
	} `json:"services"`
}

type hostStatus struct {
	Addr    string `json:"addr"`
	State   string `json:"state"`
	Kept    bool   `json:"kept"`
	Drained bool   `json:"drained"`
}

// out reports whether the host is out of rotation: any state but healthy or overloaded,
// unless max_ejected keeps it in.
func (h hostStatus) out() bool {
	return h.State != "healthy" && h.State != "overloaded" && !h.Kept
}

func (a adminClient) status(ctx context.Context, g *Gateway) (*gatewayStatus, error) {
	b, err := a.call(ctx, g, http.MethodGet, "/status", nil)
	if err != nil {
		return nil, err
	}
	var s gatewayStatus
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("%w: GET /status: %w", ErrAdmin, err)
	}
	return &s, nil
}

// host finds ref's host in a status: by index or by address.
func (s *gatewayStatus) host(service, ref string) (hostStatus, error) {
	for _, sv := range s.Services {
		if sv.Name != service {
			continue
		}
		if i, err := strconv.Atoi(ref); err == nil {
			if i < 0 || i >= len(sv.Hosts) {
				return hostStatus{}, fmt.Errorf("service %s has %d hosts; no host %d", service, len(sv.Hosts), i)
			}
			return sv.Hosts[i], nil
		}
		for _, h := range sv.Hosts {
			if h.Addr == ref {
				return h, nil
			}
		}
		return hostStatus{}, fmt.Errorf("service %s has no host %s", service, ref)
	}
	return hostStatus{}, fmt.Errorf("no service %s", service)
}

// addFault posts a fault and returns its id.
func (a adminClient) addFault(ctx context.Context, g *Gateway, body map[string]any) (string, error) {
	b, err := a.call(ctx, g, http.MethodPost, "/faults", body)
	if err != nil {
		return "", err
	}
	var f struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(b, &f); err != nil || f.ID == "" {
		return "", fmt.Errorf("%w: POST /faults: no id in %q", ErrAdmin, b)
	}
	return f.ID, nil
}

func (a adminClient) deleteFault(ctx context.Context, g *Gateway, id string) error {
	_, err := a.call(ctx, g, http.MethodDelete, "/faults/"+url.PathEscape(id), nil)
	return err
}

// failovers returns the sum of bulwark_failovers_total with result ok or error: the failover
// requests actually sent to the other center.
func (a adminClient) failovers(ctx context.Context, g *Gateway) (float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(g.Admin, "/")+"/metrics", nil)
	if err != nil {
		return 0, fmt.Errorf("%w: %w", ErrAdmin, err)
	}
	req.Header.Set("Accept", "text/plain; version=0.0.4")
	if g.Token != "" {
		req.Header.Set("Authorization", "Bearer "+g.Token)
	}
	resp, err := a.c.Do(req)
	if err != nil {
		return 0, fmt.Errorf("%w: GET /metrics: %w", ErrAdmin, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("%w: GET /metrics: %s", ErrAdmin, resp.Status)
	}
	return sumCounter(resp.Body, "bulwark_failovers_total", "result", "ok", "error")
}

// sumCounter sums the samples of a counter in Prometheus text format whose label has one of
// the given values.
func sumCounter(r io.Reader, name, label string, values ...string) (float64, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	var sum float64
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name+"{") {
			continue
		}
		end := strings.LastIndexByte(line, '}')
		if end < 0 {
			continue
		}
		labels, rest := line[len(name)+1:end], strings.Fields(line[end+1:])
		if len(rest) == 0 {
			continue
		}
		match := false
		for _, v := range values {
			if strings.Contains(","+labels, ","+label+`="`+v+`"`) {
				match = true
			}
		}
		if !match {
			continue
		}
		f, err := strconv.ParseFloat(rest[0], 64)
		if err != nil {
			return 0, fmt.Errorf("%w: /metrics: %q: %w", ErrAdmin, line, err)
		}
		sum += f
	}
	return sum, sc.Err()
}

// promQuery runs an instant query and returns its first sample's value; ok is false when the
// result is empty.
func (a adminClient) promQuery(ctx context.Context, base, q string) (v float64, ok bool, err error) {
	u := strings.TrimSuffix(base, "/") + "/api/v1/query?query=" + url.QueryEscape(q)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return 0, false, err
	}
	resp, err := a.c.Do(req)
	if err != nil {
		return 0, false, fmt.Errorf("drill: prometheus: %w", err)
	}
	defer resp.Body.Close()
	var body struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			Result []struct {
				Value [2]any `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 16<<20)).Decode(&body); err != nil {
		return 0, false, fmt.Errorf("drill: prometheus: %w", err)
	}
	if body.Status != "success" {
		return 0, false, fmt.Errorf("drill: prometheus: %s %s", body.Status, body.Error)
	}
	if len(body.Data.Result) == 0 {
		return 0, false, nil
	}
	s, _ := body.Data.Result[0].Value[1].(string)
	v, err = strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, false, fmt.Errorf("drill: prometheus: value %q: %w", s, err)
	}
	return v, true, nil
}

func defaultAdminClient() *http.Client { return &http.Client{Timeout: 10 * time.Second} }
