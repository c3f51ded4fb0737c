package drill

import (
	"net/http"
	"sort"
	"sync"
	"sync/atomic"
)

// targetHeader tags each load request with its target's name, so that the client-side tally
// can count by target; the tally's transport removes it before the request is sent.
const targetHeader = "X-Bulwark-Drill-Target"

// tally counts the load's answers on the client side, by target, while it is on (after the
// step's settle time).
type tally struct {
	on       atomic.Bool
	mu       sync.Mutex
	byTarget map[string]*targetCounts
}

// targetCounts are the client-side counts of one target.
type targetCounts struct {
	Requests int64                    `json:"requests"`          // answered + errors
	OK       int64                    `json:"ok"`                // 2xx and 3xx answers
	Errors   int64                    `json:"errors"`            // no answer
	Rejects  map[string]map[int]int64 `json:"rejects,omitempty"` // Bulwark-Reject → status → count
	Status   map[int]int64            `json:"status,omitempty"`
}

func newTally() *tally { return &tally{byTarget: map[string]*targetCounts{}} }

func (t *tally) record(target string, resp *http.Response, err error) {
	if !t.on.Load() {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	c := t.byTarget[target]
	if c == nil {
		c = &targetCounts{Rejects: map[string]map[int]int64{}, Status: map[int]int64{}}
		t.byTarget[target] = c
	}
	c.Requests++
	if err != nil {
		c.Errors++
		return
	}
	c.Status[resp.StatusCode]++
	if resp.StatusCode >= 200 && resp.StatusCode < 400 {
		c.OK++
	}
	if r := resp.Header.Get("Bulwark-Reject"); r != "" {
		if c.Rejects[r] == nil {
			c.Rejects[r] = map[int]int64{}
		}
		c.Rejects[r][resp.StatusCode]++
	}
}

// counts returns the counts of target, or of every target summed when target is "".
func (t *tally) counts(target string) targetCounts {
	t.mu.Lock()
	defer t.mu.Unlock()
	sum := targetCounts{Rejects: map[string]map[int]int64{}, Status: map[int]int64{}}
	names := make([]string, 0, len(t.byTarget))
	for n := range t.byTarget {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if target != "" && n != target {
			continue
		}
		c := t.byTarget[n]
		sum.Requests += c.Requests
		sum.OK += c.OK
		sum.Errors += c.Errors
		for s, v := range c.Status {
			sum.Status[s] += v
		}
		for r, m := range c.Rejects {
			if sum.Rejects[r] == nil {
				sum.Rejects[r] = map[int]int64{}
			}
			for s, v := range m {
				sum.Rejects[r][s] += v
			}
		}
	}
	return sum
}

// tallyTransport records every answer in a tally.
type tallyTransport struct {
	next http.RoundTripper
	t    *tally
}

func (tt tallyTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	name := req.Header.Get(targetHeader)
	if name != "" {
		req = req.Clone(req.Context())
		req.Header.Del(targetHeader)
	}
	resp, err := tt.next.RoundTrip(req)
	tt.t.record(name, resp, err)
	return resp, err
}
