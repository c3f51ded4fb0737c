package loadgen

import (
	"bytes"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"
)

// fakeReport builds a report whose histograms hold vals (µs).
func fakeReport(vals []int64, status int) *Report {
	r := &Report{
		Runs: 1, Start: time.Unix(1700000000, 0).UTC(), Duration: 3 * time.Second,
		TargetRate: 100, AchievedRate: 99.9, Throughput: 99.5,
		Scheduled: int64(len(vals)) + 2, Sent: int64(len(vals)) + 1, Completed: int64(len(vals)), Errors: 1, Dropped: 1, Late: 3,
		Status: map[int]int64{status: int64(len(vals))}, Rejects: map[string]int64{"shed": 2},
		ErrorKinds: map[string]int64{"timeout": 1}, Latency: newHist(), ServiceTime: newHist(),
	}
	for _, v := range vals {
		_ = r.Latency.RecordValue(v)
		_ = r.ServiceTime.RecordValue(v / 2)
	}
	return r
}

func TestMergeIsExact(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var a, b, all []int64
	for range 20000 {
		v := 1 + rng.Int64N(2_000_000)
		if rng.IntN(2) == 0 {
			a = append(a, v)
		} else {
			b = append(b, v)
		}
		all = append(all, v)
	}
	// Through JSON, as `bulwark bench report` reads them.
	var ra, rb Report
	for _, p := range []struct {
		in  *Report
		out *Report
	}{{fakeReport(a, 200), &ra}, {fakeReport(b, 503), &rb}} {
		js, err := json.Marshal(p.in)
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(js, p.out); err != nil {
			t.Fatal(err)
		}
	}
	m, err := Merge(&ra, &rb)
	if err != nil {
		t.Fatal(err)
	}
	one := fakeReport(all, 200)
	if !reflect.DeepEqual(m.Latency.Distribution(), one.Latency.Distribution()) || m.Latency.TotalCount() != int64(len(all)) {
		t.Fatal("merged histogram differs from one histogram of all values")
	}
	for _, q := range []float64{0, 50, 90, 99, 99.9, 99.99, 100} {
		if m.Percentile(q) != one.Percentile(q) {
			t.Fatalf("p%v: merged %v, one %v", q, m.Percentile(q), one.Percentile(q))
		}
	}
	if m.Runs != 2 || m.Sent != int64(len(all))+2 || m.Status[200] != int64(len(a)) || m.Status[503] != int64(len(b)) ||
		m.Rejects["shed"] != 4 || m.ErrorKinds["timeout"] != 2 || m.Duration != 3*time.Second || m.TargetRate != 200 {
		t.Fatalf("merged counts wrong: %+v", m)
	}
	if _, err := Merge(); !errors.Is(err, ErrReport) {
		t.Fatalf("empty merge: %v", err)
	}
	if _, err := Merge(&Report{}); !errors.Is(err, ErrReport) {
		t.Fatalf("merge without histograms: %v", err)
	}
}

func TestReportJSONRoundTrip(t *testing.T) {
	in := fakeReport([]int64{100, 200, 300, 5000}, 200)
	in.StoppedBy, in.StopValue = "p99>1ms", "5.000ms"
	js, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{`"latency_hdr":"HIST`, `"status":{"200":4}`, `"stopped_by":"p99\u003e1ms"`, `"p99.99":`} {
		if !strings.Contains(string(js), key) {
			t.Fatalf("JSON lacks %s: %s", key, js)
		}
	}
	var out Report
	if err := json.Unmarshal(js, &out); err != nil {
		t.Fatal(err)
	}
	if out.Latency.TotalCount() != 4 || out.Percentile(100) != in.Percentile(100) || out.Sent != in.Sent || out.StoppedBy != in.StoppedBy || !out.Start.Equal(in.Start) {
		t.Fatalf("round trip: %+v", out)
	}
	for _, bad := range []string{`{"latency_hdr":"nope"}`, `{"latency_hdr":"` + mustEncode(t) + `","service_time_hdr":"` + mustEncode(t) + `","status":{"x":1}}`} {
		var r Report
		if err := json.Unmarshal([]byte(bad), &r); !errors.Is(err, ErrReport) {
			t.Fatalf("Unmarshal(%s) = %v", bad, err)
		}
	}
}

func mustEncode(t *testing.T) string {
	s, err := encodeHist(newHist())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestWriteTextAndHDR(t *testing.T) {
	r := fakeReport([]int64{1000, 2000, 3000}, 200)
	r.StoppedBy, r.StopValue = "error_rate>5%", "12.00%"
	var b bytes.Buffer
	if err := r.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"STOPPED by rule \"error_rate>5%\" (value 12.00%)", "p99.99", "max", "200: 3", "shed: 2", "timeout: 1", "late 3", "dropped 1"} {
		if !strings.Contains(b.String(), want) {
			t.Fatalf("text report lacks %q:\n%s", want, b.String())
		}
	}
	b.Reset()
	if err := r.WriteHDR(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	if !strings.HasPrefix(out, " Value\tPercentile\tTotalCount\t1/(1-Percentile)") || !strings.Contains(out, "#[Max     =        3.001, Total count    =            3]") {
		t.Fatalf("HDR output:\n%s", out)
	}
}
