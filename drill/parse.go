package drill

import (
	"fmt"
	"net/url"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// setLines records the line of each step and expectation from the document's node tree.
func (d *Drill) setLines(doc *yaml.Node) {
	if doc.Kind == yaml.DocumentNode && len(doc.Content) == 1 {
		doc = doc.Content[0]
	}
	steps := child(doc, "steps")
	if steps == nil || steps.Kind != yaml.SequenceNode {
		return
	}
	for i, sn := range steps.Content {
		if i >= len(d.Steps) || d.Steps[i] == nil {
			break
		}
		d.Steps[i].Line = sn.Line
		ex := child(sn, "expect")
		if ex == nil || ex.Kind != yaml.SequenceNode {
			continue
		}
		for j, en := range ex.Content {
			if j < len(d.Steps[i].Expect) && d.Steps[i].Expect[j] != nil {
				d.Steps[i].Expect[j].line = en.Line
			}
		}
	}
}

// child returns the value of key in mapping n, or nil.
func child(n *yaml.Node, key string) *yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

// Load reads and validates a drill file; ${NAME} takes the environment's value or DefaultEnv's.
func Load(path string) (*Drill, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrFile, err)
	}
	return Parse(path, b, os.LookupEnv)
}

var lineRe = regexp.MustCompile(`line (\d+):`)

var envRe = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)(:-([^}]*))?\}`)

// Parse reads and validates a drill from data; name is used in messages. ${NAME} is replaced
// by lookup(NAME), else the ${NAME:-default} default, else DefaultEnv[NAME]; a name with none
// of these is an error. lookup may be nil.
func Parse(name string, data []byte, lookup func(string) (string, bool)) (*Drill, error) {
	var missing []string
	text := envRe.ReplaceAllStringFunc(string(data), func(m string) string {
		sm := envRe.FindStringSubmatch(m)
		if lookup != nil {
			if v, ok := lookup(sm[1]); ok {
				return v
			}
		}
		if sm[2] != "" {
			return sm[3]
		}
		if v, ok := DefaultEnv[sm[1]]; ok {
			return v
		}
		missing = append(missing, sm[1])
		return ""
	})
	if len(missing) > 0 {
		return nil, fmt.Errorf("%w: %s: environment variable %s is not set", ErrFile, name, strings.Join(missing, ", "))
	}
	var d Drill
	dec := yaml.NewDecoder(strings.NewReader(text))
	dec.KnownFields(true)
	if err := dec.Decode(&d); err != nil {
		return nil, fmt.Errorf("%w: %s", ErrFile, yamlErrors(name, err))
	}
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(text), &doc); err == nil {
		d.setLines(&doc)
	}
	d.File = name
	if errs := d.validate(); len(errs) > 0 {
		return nil, fmt.Errorf("%w: %s", ErrFile, strings.Join(prefix(name, errs), "\n"))
	}
	return &d, nil
}

var unknownRe = regexp.MustCompile(`field (\S+) not found in type \S+`)

// yamlErrors rewrites yaml.v3's messages as "FILE:LINE: message", one a line.
func yamlErrors(name string, err error) string {
	msg := strings.TrimPrefix(strings.TrimPrefix(err.Error(), "yaml: unmarshal errors:\n  "), "yaml: ")
	lines := strings.Split(msg, "\n")
	for i, l := range lines {
		l = strings.TrimSpace(l)
		l = unknownRe.ReplaceAllString(l, "$1: unknown key")
		if m := lineRe.FindStringSubmatchIndex(l); m != nil && m[0] == 0 {
			l = name + ":" + l[m[2]:m[3]] + ":" + l[m[1]:]
		} else {
			l = name + ": " + l
		}
		lines[i] = l
	}
	return strings.Join(lines, "\n")
}

func prefix(name string, errs []string) []string {
	for i := range errs {
		errs[i] = name + ":" + errs[i]
	}
	return errs
}

// problems collects validation messages as "LINE: key: message".
type problems []string

func (p *problems) add(line int, key, format string, args ...any) {
	*p = append(*p, fmt.Sprintf("%d: %s: %s", line, key, fmt.Sprintf(format, args...)))
}

func (d *Drill) validate() []string {
	var p problems
	if d.Name == "" {
		p.add(1, "name", "required")
	}
	if len(d.Gateways) == 0 {
		p.add(1, "gateways", "at least one gateway is required")
	}
	names := make([]string, 0, len(d.Gateways))
	for n, g := range d.Gateways {
		names = append(names, n)
		if g == nil {
			p.add(1, "gateways."+n, "admin and url are required")
			continue
		}
		if !httpURL(g.Admin) {
			p.add(1, "gateways."+n+".admin", "%q is not an http:// or https:// URL", g.Admin)
		}
		if g.URL != "" && !httpURL(g.URL) {
			p.add(1, "gateways."+n+".url", "%q is not an http:// or https:// URL", g.URL)
		}
	}
	sort.Strings(names)
	known := func(line int, key, gw string) {
		if _, ok := d.Gateways[gw]; !ok {
			p.add(line, key, "unknown gateway %q; known gateways: %s", gw, strings.Join(names, ", "))
		}
	}
	for _, gw := range d.Guards.Gateways {
		known(1, "guards.gateways", gw)
	}
	if d.Guards.Breaches < 0 {
		p.add(1, "guards.breaches", "must be ≥ 1")
	}
	if pg := d.Guards.Prometheus; pg != nil {
		if !httpURL(pg.URL) {
			p.add(1, "guards.prometheus.url", "%q is not an http:// or https:// URL", pg.URL)
		}
		for i, q := range pg.Queries {
			if q == nil || q.Query == "" || (q.Min == nil && q.Max == nil) {
				p.add(1, fmt.Sprintf("guards.prometheus.queries[%d]", i), "needs query and min or max")
			}
		}
	}
	if len(d.Steps) == 0 {
		p.add(1, "steps", "at least one step is required")
	}
	for i, s := range d.Steps {
		key := fmt.Sprintf("steps[%d]", i)
		if s == nil {
			p.add(1, key, "empty step")
			continue
		}
		s.validate(&p, key, known)
	}
	sort.SliceStable(p, func(i, j int) bool { return lineOf(p[i]) < lineOf(p[j]) })
	return p
}

func lineOf(s string) int {
	n, _ := strconv.Atoi(s[:strings.IndexByte(s, ':')])
	return n
}

func httpURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}

func (s *Step) validate(p *problems, key string, known func(int, string, string)) {
	ln := s.Line
	if s.Name == "" {
		p.add(ln, key+".name", "required")
	}
	targets := map[string]bool{}
	if l := s.Load; l != nil {
		if !(l.Rate > 0) || l.Rate > 1e6 {
			p.add(ln, key+".load.rate", "must be in (0, 1000000] requests per second")
		}
		if l.Duration <= 0 {
			p.add(ln, key+".load.duration", "required, > 0")
		}
		if l.Workers < 0 {
			p.add(ln, key+".load.workers", "must be ≥ 0")
		}
		if len(l.Targets) == 0 {
			p.add(ln, key+".load.targets", "at least one target is required")
		}
		for j, t := range l.Targets {
			tk := fmt.Sprintf("%s.load.targets[%d]", key, j)
			if t == nil {
				p.add(ln, tk, "empty target")
				continue
			}
			if t.Method == "" {
				t.Method = "GET"
			}
			t.Method = strings.ToUpper(t.Method)
			switch {
			case t.URL != "" && (t.Path != "" || t.Gateway != ""):
				p.add(ln, tk, "url excludes gateway and path")
			case t.URL != "":
				if !httpURL(t.URL) {
					p.add(ln, tk+".url", "%q is not an http:// or https:// URL", t.URL)
				}
			case t.Gateway == "" || !strings.HasPrefix(t.Path, "/"):
				p.add(ln, tk, "needs url, or gateway and a path starting with /")
			default:
				known(ln, tk+".gateway", t.Gateway)
			}
			if t.Name == "" {
				t.Name = t.Method + " " + t.Path + t.URL
			}
			if targets[t.Name] {
				p.add(ln, tk+".name", "two targets are named %q", t.Name)
			}
			targets[t.Name] = true
			if t.Weight < 0 {
				p.add(ln, tk+".weight", "must be ≥ 0")
			}
		}
	}
	for j, f := range s.Faults {
		fk := fmt.Sprintf("%s.faults[%d]", key, j)
		if f == nil || f.Body == nil {
			p.add(ln, fk, "needs gateway and fault")
			continue
		}
		known(ln, fk+".gateway", f.Gateway)
		if _, ok := f.Body["ttl"]; !ok {
			f.Body["ttl"] = "10m"
		}
	}
	for j, a := range s.Actions {
		ak := fmt.Sprintf("%s.actions[%d]", key, j)
		switch {
		case a == nil || (a.Admin == nil) == (a.Drain == nil):
			p.add(ln, ak, "exactly one of admin or drain")
		case a.Admin != nil:
			for c, ck := a.Admin, ak+".admin"; c != nil; c, ck = c.Undo, ck+".undo" {
				known(ln, ck+".gateway", c.Gateway)
				if c.Method == "" {
					c.Method = "POST"
				}
				c.Method = strings.ToUpper(c.Method)
				if !strings.HasPrefix(c.Path, "/") {
					p.add(ln, ck+".path", "required, starts with /")
				}
			}
		default:
			a.Drain.check(p, ln, ak+".drain", known)
		}
	}
	if s.Load == nil && len(s.Expect) > 0 {
		for _, e := range s.Expect {
			if e != nil && e.HostOutWithin == nil {
				p.add(ln, key+".expect", "needs a load (only host_out_within can be checked without one)")
				break
			}
		}
	}
	for j, e := range s.Expect {
		ek := fmt.Sprintf("%s.expect[%d]", key, j)
		if e == nil {
			p.add(ln, ek, "empty expectation")
			continue
		}
		e.validate(p, ek, targets, known)
	}
}

func (h *HostRef) check(p *problems, ln int, key string, known func(int, string, string)) {
	known(ln, key+".gateway", h.Gateway)
	if h.Service == "" || h.Host == "" {
		p.add(ln, key, "needs service and host (an index in /status or an address)")
	}
}

func (e *Expect) validate(p *problems, key string, targets map[string]bool, known func(int, string, string)) {
	ln := e.line
	n := 0
	for _, set := range []bool{e.Success != nil, e.P99 != nil, e.RetryAmplification != nil, e.ShedOrder != nil, e.HostOutWithin != nil, e.Rejects != nil} {
		if set {
			n++
		}
	}
	if n != 1 {
		p.add(ln, key, "exactly one of success, p99, retry_amplification, shed_order, host_out_within, rejects")
		return
	}
	target := func(k, t string) {
		if t != "" && !targets[t] {
			p.add(ln, key+k, "unknown target %q", t)
		}
	}
	gws := func(k string, g []string) {
		for _, gw := range g {
			known(ln, key+k, gw)
		}
	}
	switch {
	case e.Success != nil:
		s := e.Success
		if s.Level < 0 || s.Level > 4 {
			p.add(ln, key+".success.level", "must be 1..4")
		}
		if (s.Level > 0 || s.Service != "") && (s.Target != "" || s.Admitted) {
			p.add(ln, key+".success", "level and service (gateway /status) exclude target and admitted (client side)")
		}
		target(".success.target", s.Target)
		gws(".success.gateways", s.Gateways)
	case e.P99 != nil:
		if e.P99.Max <= 0 {
			p.add(ln, key+".p99.max", "required, > 0")
		}
	case e.RetryAmplification != nil:
		if e.RetryAmplification.Max < 0 {
			p.add(ln, key+".retry_amplification.max", "must be ≥ 0")
		}
		gws(".retry_amplification.gateways", e.RetryAmplification.Gateways)
	case e.ShedOrder != nil:
		if len(e.ShedOrder.Levels) < 2 {
			p.add(ln, key+".shed_order.levels", "needs at least two levels")
		}
		for _, l := range e.ShedOrder.Levels {
			if l < 1 || l > 4 {
				p.add(ln, key+".shed_order.levels", "levels are 1..4, got %d", l)
			}
		}
		gws(".shed_order.gateways", e.ShedOrder.Gateways)
	case e.HostOutWithin != nil:
		e.HostOutWithin.check(p, ln, key+".host_out_within", known)
		if e.HostOutWithin.Within <= 0 {
			p.add(ln, key+".host_out_within.within", "required, > 0")
		}
	case e.Rejects != nil:
		if e.Rejects.Reason == "" {
			p.add(ln, key+".rejects.reason", "required (a Bulwark-Reject value such as limit, rate_limited, shed)")
		}
		if e.Rejects.Status != 0 && (e.Rejects.Status < 400 || e.Rejects.Status > 599) {
			p.add(ln, key+".rejects.status", "must be 400..599")
		}
		target(".rejects.target", e.Rejects.Target)
	}
}
