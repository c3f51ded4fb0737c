package drill

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/bulwark-go/bulwark/loadgen"
)

// Result is the checklist of one run.
type Result struct {
	Drill       string        `json:"drill"`
	File        string        `json:"file,omitempty"`
	Start       time.Time     `json:"start"`
	Elapsed     time.Duration `json:"elapsed_ns"`
	Steps       []StepResult  `json:"steps"`
	Aborted     string        `json:"aborted,omitempty"` // why the drill was aborted; "" when it was not
	Interrupted bool          `json:"interrupted,omitempty"`
}

// StepResult is one step's part of the checklist.
type StepResult struct {
	Name           string        `json:"name"`
	Elapsed        time.Duration `json:"elapsed_ns"`
	Checks         []Check       `json:"checks"`
	Load           *LoadSummary  `json:"load,omitempty"`
	GuardBreaches  []string      `json:"guard_breaches,omitempty"`
	Aborted        string        `json:"aborted,omitempty"`
	RollbackErrors []string      `json:"rollback_errors,omitempty"`
}

// Check is one line of the checklist: an expectation, what was measured, and the verdict.
type Check struct {
	Expectation string  `json:"expectation"`
	Measured    string  `json:"measured"`
	Value       float64 `json:"value"`
	Pass        bool    `json:"pass"`
}

// LoadSummary is the step's load over its measured window (after settle).
type LoadSummary struct {
	Sent    int64            `json:"sent"`
	Rate    float64          `json:"achieved_rate"`
	P50     time.Duration    `json:"p50_ns"`
	P99     time.Duration    `json:"p99_ns"`
	Errors  int64            `json:"errors"`
	Dropped int64            `json:"dropped"`
	Status  map[int]int64    `json:"status"`
	Rejects map[string]int64 `json:"rejects,omitempty"`
}

func summarize(r *loadgen.Report) *LoadSummary {
	return &LoadSummary{Sent: r.Sent, Rate: r.AchievedRate, P50: r.Percentile(50), P99: r.Percentile(99),
		Errors: r.Errors, Dropped: r.Dropped, Status: r.Status, Rejects: r.Rejects}
}

// Failed counts the checks that did not pass.
func (r *Result) Failed() int {
	n := 0
	for _, s := range r.Steps {
		for _, c := range s.Checks {
			if !c.Pass {
				n++
			}
		}
	}
	return n
}

// Passed reports whether the drill ran to the end, every check passed and every rollback
// succeeded.
func (r *Result) Passed() bool {
	if r.Aborted != "" || r.Interrupted || r.Failed() > 0 {
		return false
	}
	for _, s := range r.Steps {
		if len(s.RollbackErrors) > 0 {
			return false
		}
	}
	return true
}

// WriteText writes the checklist for people.
func (r *Result) WriteText(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "drill %s", r.Drill)
	if r.File != "" {
		fmt.Fprintf(&b, " (%s)", r.File)
	}
	fmt.Fprintf(&b, ": %d steps in %s\n", len(r.Steps), r.Elapsed.Round(time.Millisecond))
	for i, s := range r.Steps {
		fmt.Fprintf(&b, "step %d %q (%s)\n", i+1, s.Name, s.Elapsed.Round(time.Millisecond))
		if l := s.Load; l != nil {
			fmt.Fprintf(&b, "  load: %d sent at %.1f/s, p50 %s, p99 %s, errors %d, dropped %d, status %s%s\n",
				l.Sent, l.Rate, l.P50.Round(time.Microsecond), l.P99.Round(time.Microsecond), l.Errors, l.Dropped, statusText(l.Status), rejectText(l.Rejects))
		}
		for _, c := range s.Checks {
			mark := "PASS"
			if !c.Pass {
				mark = "FAIL"
			}
			fmt.Fprintf(&b, "  [%s] %s: %s\n", mark, c.Expectation, c.Measured)
		}
		for _, g := range s.GuardBreaches {
			fmt.Fprintf(&b, "  guard breach: %s\n", g)
		}
		if s.Aborted != "" {
			fmt.Fprintf(&b, "  ABORTED: %s\n", s.Aborted)
		}
		for _, e := range s.RollbackErrors {
			fmt.Fprintf(&b, "  ROLLBACK FAILED: %s\n", e)
		}
	}
	switch {
	case r.Interrupted:
		b.WriteString("INTERRUPTED (changes rolled back)\n")
	case r.Aborted != "":
		fmt.Fprintf(&b, "ABORTED: %s (changes rolled back)\n", r.Aborted)
	case r.Passed():
		b.WriteString("PASS\n")
	default:
		fmt.Fprintf(&b, "FAIL: %d of %d checks failed\n", r.Failed(), r.checks())
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func (r *Result) checks() int {
	n := 0
	for _, s := range r.Steps {
		n += len(s.Checks)
	}
	return n
}

// WriteJSON writes the result as one indented JSON object, with "passed" added.
func (r *Result) WriteJSON(w io.Writer) error {
	type alias Result
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(struct {
		*alias
		Passed bool `json:"passed"`
	}{(*alias)(r), r.Passed()})
}

func statusText(m map[int]int64) string {
	keys := make([]int, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Ints(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%d:%d", k, m[k])
	}
	return strings.Join(parts, " ")
}

func rejectText(m map[string]int64) string {
	if len(m) == 0 {
		return ""
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s:%d", k, m[k])
	}
	return ", rejects " + strings.Join(parts, " ")
}
