package loadgen

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
)

// Target is one kind of request the engine sends. Weight sets how often it is picked among
// several targets (≤ 0 counts as 1). Header and Body are shared by every request built from
// the Target and are never modified.
type Target struct {
	Method string
	URL    string
	Header http.Header
	Body   []byte
	Weight int
}

// ErrTarget is returned (wrapped) for a target that cannot be sent: a bad URL or method.
var ErrTarget = errors.New("loadgen: bad target")

func checkTarget(t Target) error {
	u, err := url.Parse(t.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%w: %q: need an absolute http:// or https:// URL", ErrTarget, t.URL)
	}
	if t.Method != "" && strings.ContainsAny(t.Method, " \t\r\n") {
		return fmt.Errorf("%w: method %q", ErrTarget, t.Method)
	}
	return nil
}

// picker chooses targets: by cumulative weights and a PCG random source, or in order.
type picker struct {
	cum     []int // cumulative weights
	total   int
	inOrder bool
	i       int
	rng     *rand.Rand
}

func newPicker(ts []Target, inOrder bool, seed uint64) *picker {
	p := &picker{inOrder: inOrder, rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
	for _, t := range ts {
		w := t.Weight
		if w <= 0 {
			w = 1
		}
		p.total += w
		p.cum = append(p.cum, p.total)
	}
	return p
}

// pick returns the index of the next target. Not safe for concurrent use: the scheduler owns it.
func (p *picker) pick() int {
	if len(p.cum) == 1 {
		return 0
	}
	if p.inOrder {
		i := p.i
		p.i = (p.i + 1) % len(p.cum)
		return i
	}
	x := p.rng.IntN(p.total)
	lo, hi := 0, len(p.cum)-1
	for lo < hi {
		mid := (lo + hi) / 2
		if x < p.cum[mid] {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	return lo
}

// ReplayRecord is one line of the gateway's traffic recorder (JSON Lines):
//
//	{"time":"2025-01-02T15:04:05.123Z","method":"GET","path":"/api/songs","query":"a=1",
//	 "headers":{"Accept":["*/*"]},"body_b64":"aGk="}
//
// body_b64 is the body in standard base64. A hand-written line may give "body" as plain text
// instead; a line with both is an error. time is kept for reference and is not used to pace.
type ReplayRecord struct {
	Time    string              `json:"time,omitempty"`
	Method  string              `json:"method"`
	Path    string              `json:"path"`
	Query   string              `json:"query,omitempty"`
	Headers map[string][]string `json:"headers,omitempty"`
	BodyB64 string              `json:"body_b64,omitempty"`
	Body    *string             `json:"body,omitempty"`
}

// ErrReplay is returned (wrapped, with the line number) for a replay file that cannot be read.
var ErrReplay = errors.New("loadgen: bad replay file")

// replaySkip lists headers a replayed request does not copy: the hop-by-hop ones, those the
// client computes (Host comes from the base URL, Content-Length from the body), and Bulwark's
// own markers, which the gateway sets and must not see from a client.
var replaySkip = map[string]bool{
	"Host": true, "Content-Length": true, "Connection": true, "Keep-Alive": true,
	"Proxy-Connection": true, "Proxy-Authorization": true, "Te": true, "Trailer": true,
	"Transfer-Encoding": true, "Upgrade": true, "Bulwark-Failover": true, "Bulwark-Instance": true,
}

// maxReplayLine bounds one recorded request (headers and body).
const maxReplayLine = 16 << 20

// ParseReplay reads a replay file and returns one Target per line, against base (an absolute
// http:// or https:// URL whose path, if any, prefixes every recorded path). Blank lines are
// skipped. Errors name the line. Replay targets are meant to be sent in file order
// (Config.InOrder).
func ParseReplay(r io.Reader, base string) ([]Target, error) {
	bu, err := url.Parse(base)
	if err != nil || (bu.Scheme != "http" && bu.Scheme != "https") || bu.Host == "" {
		return nil, fmt.Errorf("%w: base URL %q: need an absolute http:// or https:// URL (--target)", ErrReplay, base)
	}
	prefix := strings.TrimSuffix(bu.Path, "/")
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), maxReplayLine)
	var out []Target
	for line := 1; sc.Scan(); line++ {
		text := strings.TrimSpace(sc.Text())
		if text == "" {
			continue
		}
		var rec ReplayRecord
		dec := json.NewDecoder(strings.NewReader(text))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&rec); err != nil {
			return nil, fmt.Errorf("%w: line %d: %v", ErrReplay, line, err)
		}
		t, err := rec.target(bu, prefix)
		if err != nil {
			return nil, fmt.Errorf("%w: line %d: %v", ErrReplay, line, err)
		}
		out = append(out, t)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrReplay, err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: no requests in the file", ErrReplay)
	}
	return out, nil
}

func (rec ReplayRecord) target(base *url.URL, prefix string) (Target, error) {
	method := rec.Method
	if method == "" {
		method = http.MethodGet
	}
	if strings.ContainsAny(method, " \t\r\n()<>@,;:\\\"/[]?={}") {
		return Target{}, fmt.Errorf("method %q is not a token", method)
	}
	if !strings.HasPrefix(rec.Path, "/") {
		return Target{}, fmt.Errorf("path %q must start with /", rec.Path)
	}
	u := *base
	u.Path = prefix + rec.Path
	u.RawPath = ""
	u.RawQuery = rec.Query
	u.Fragment = ""
	full := u.String()
	if _, err := url.Parse(full); err != nil {
		return Target{}, fmt.Errorf("path or query: %v", err)
	}
	var body []byte
	switch {
	case rec.BodyB64 != "" && rec.Body != nil:
		return Target{}, errors.New(`give "body_b64" or "body", not both`)
	case rec.BodyB64 != "":
		b, err := base64.StdEncoding.DecodeString(rec.BodyB64)
		if err != nil {
			return Target{}, fmt.Errorf("body_b64: %v", err)
		}
		body = b
	case rec.Body != nil:
		body = []byte(*rec.Body)
	}
	h := make(http.Header, len(rec.Headers))
	for k, vs := range rec.Headers {
		ck := http.CanonicalHeaderKey(k)
		if replaySkip[ck] || strings.HasPrefix(ck, "Proxy-") {
			continue
		}
		if !validHeaderName(k) {
			return Target{}, fmt.Errorf("header name %q", k)
		}
		for _, v := range vs {
			if strings.ContainsAny(v, "\r\n\x00") {
				return Target{}, fmt.Errorf("header %s: value holds a line break or NUL", ck)
			}
			h.Add(ck, v)
		}
	}
	return Target{Method: method, URL: full, Header: h, Body: body, Weight: 1}, nil
}

func validHeaderName(k string) bool {
	if k == "" {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte("()<>@,;:\\\"/[]?={}", c) >= 0 {
			return false
		}
	}
	return true
}
