package loadgen

import (
	"errors"
	"net/http"
	"strings"
	"testing"
)

func TestPickerWeights(t *testing.T) {
	ts := []Target{{Weight: 1}, {Weight: 3}, {Weight: 0}, {Weight: 6}} // 0 counts as 1
	p := newPicker(ts, false, 42)
	const n = 110_000
	got := make([]int, len(ts))
	for range n {
		got[p.pick()]++
	}
	want := []float64{1, 3, 1, 6}
	for i, w := range want {
		exp := n * w / 11
		if d := float64(got[i]) - exp; d > exp*0.03 || d < -exp*0.03 {
			t.Errorf("target %d picked %d times, want %.0f ±3%%", i, got[i], exp)
		}
	}
	inOrder := newPicker(ts, true, 1)
	for i := range 8 {
		if k := inOrder.pick(); k != i%4 {
			t.Fatalf("in-order pick %d = %d", i, k)
		}
	}
}

func TestPickerAllocs(t *testing.T) {
	p := newPicker([]Target{{Weight: 1}, {Weight: 2}}, false, 1)
	if a := testing.AllocsPerRun(1000, func() { p.pick() }); a != 0 {
		t.Fatalf("pick allocates %v", a)
	}
}

func BenchmarkPick(b *testing.B) {
	p := newPicker([]Target{{Weight: 1}, {Weight: 2}, {Weight: 3}, {Weight: 4}}, false, 1)
	b.ReportAllocs()
	for b.Loop() {
		p.pick()
	}
}

const replayGood = `{"time":"2025-01-02T15:04:05.123Z","method":"GET","path":"/api/songs","query":"a=1","headers":{"Accept":["*/*"],"Host":["x"],"Connection":["close"],"X-Multi":["a","b"]},"body_b64":""}

{"method":"POST","path":"/api/orders","headers":{"Content-Type":["application/json"]},"body_b64":"eyJpZCI6MX0="}
{"method":"PUT","path":"/api/text","body":"plain text"}
`

func TestParseReplay(t *testing.T) {
	ts, err := ParseReplay(strings.NewReader(replayGood), "http://127.0.0.1:8080/base/")
	if err != nil {
		t.Fatal(err)
	}
	if len(ts) != 3 {
		t.Fatalf("%d targets", len(ts))
	}
	if ts[0].Method != "GET" || ts[0].URL != "http://127.0.0.1:8080/base/api/songs?a=1" {
		t.Fatalf("target 0 = %+v", ts[0])
	}
	if ts[0].Header.Get("Host") != "" || ts[0].Header.Get("Connection") != "" || len(ts[0].Header["X-Multi"]) != 2 || ts[0].Header.Get("Accept") != "*/*" {
		t.Fatalf("headers = %v", ts[0].Header)
	}
	if ts[1].Method != http.MethodPost || string(ts[1].Body) != `{"id":1}` {
		t.Fatalf("target 1 = %+v", ts[1])
	}
	if string(ts[2].Body) != "plain text" {
		t.Fatalf("target 2 body %q", ts[2].Body)
	}

	bad := map[string]string{
		`{"method":"GET","path":"nope"}`:                            "line 1: path",
		`{"method":"GET","path":"/a","body_b64":"%%%"}`:             "line 1: body_b64",
		`{"method":"GET","path":"/a","body_b64":"aA==","body":"x"}`: "not both",
		`{"method":"G T","path":"/a"}`:                              "not a token",
		`{"method":"GET","path":"/a","extra":1}`:                    `unknown field`,
		`{"path":"/a","headers":{"Bad Name":["x"]}}`:                "header name",
		`{"path":"/a","headers":{"X":["a\r\nb"]}}`:                  "line break",
		"\n\n{not json": "line 3",
		"":              "no requests",
	}
	for in, want := range bad {
		t.Run(want, func(t *testing.T) {
			_, err := ParseReplay(strings.NewReader(in), "http://127.0.0.1:1")
			if !errors.Is(err, ErrReplay) || !strings.Contains(err.Error(), want) {
				t.Fatalf("err = %v, want ErrReplay mentioning %q", err, want)
			}
		})
	}
	if _, err := ParseReplay(strings.NewReader(replayGood), "ftp://x"); !errors.Is(err, ErrReplay) {
		t.Fatalf("bad base: %v", err)
	}
}

func FuzzParseReplay(f *testing.F) {
	f.Add(replayGood)
	f.Add(`{"method":"GET","path":"/%zz"}`)
	f.Add(`{"path":"/a","query":"#x","headers":{"a":[""]}}`)
	f.Fuzz(func(t *testing.T, s string) {
		ts, err := ParseReplay(strings.NewReader(s), "http://127.0.0.1:9/p")
		if err != nil {
			if !errors.Is(err, ErrReplay) {
				t.Fatalf("error %v is not ErrReplay", err)
			}
			return
		}
		for _, tg := range ts {
			if err := checkTarget(tg); err != nil {
				t.Fatalf("accepted a target it cannot send: %v", err)
			}
			if _, err := http.NewRequest(tg.Method, tg.URL, nil); err != nil {
				t.Fatalf("target %+v: %v", tg, err)
			}
		}
	})
}
