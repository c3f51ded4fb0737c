package drill

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const validDrill = `name: t
gateways:
  sz: {url: "${SZ_URL}", admin: "${SZ_ADMIN}"}
guards: {success: 90%, breaches: 2, interval: 200ms}
steps:
  - name: one
    faults:
      - {gateway: sz, fault: {service: badges, kind: abort, percent: 10}}
    actions:
      - drain: {gateway: sz, service: songs, host: "0"}
      - admin: {gateway: sz, method: put, path: /switches, body: {degrade: {badges: 0}}, undo: {gateway: sz, method: PUT, path: /switches}}
    load:
      rate: 10
      duration: 1s
      targets:
        - {name: a, gateway: sz, path: /api/songs}
        - {url: "http://127.0.0.1:1/x", method: post, body: hi}
    expect:
      - success: {min: 99%, target: a}
      - success: {min: 0.5, level: 1}
      - p99: {max: 200ms}
      - retry_amplification: {max: 0.5}
      - shed_order: {levels: [4, 3, 2]}
      - host_out_within: {gateway: sz, service: songs, host: "0", within: 2s}
      - rejects: {reason: limit, status: 429, min: 10%, max: 90%}
`

func TestParseValid(t *testing.T) {
	d, err := Parse("d.yaml", []byte(validDrill), nil)
	if err != nil {
		t.Fatal(err)
	}
	s := d.Steps[0]
	if d.Gateways["sz"].Admin != DefaultEnv["SZ_ADMIN"] || d.Gateways["sz"].URL != DefaultEnv["SZ_URL"] {
		t.Errorf("env defaults not applied: %+v", d.Gateways["sz"])
	}
	if s.Line != 6 || s.Expect[2].line != 21 {
		t.Errorf("lines: step %d, expect[2] %d; want 6, 21", s.Line, s.Expect[2].line)
	}
	if got := s.Load.Targets[1]; got.Method != "POST" || got.Name != "POST http://127.0.0.1:1/x" {
		t.Errorf("target defaults: %+v", got)
	}
	if s.Actions[1].Admin.Method != "PUT" || s.Faults[0].Body["ttl"] != "10m" {
		t.Errorf("defaults: method %q ttl %v", s.Actions[1].Admin.Method, s.Faults[0].Body["ttl"])
	}
	if *d.Guards.Success != 0.9 || float64(s.Expect[1].Success.Min) != 0.5 {
		t.Errorf("shares: %v %v", *d.Guards.Success, s.Expect[1].Success.Min)
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name, edit, want string
	}{
		{"unknown key", "    load:\n", "    lod:\n"},
		{"bad share", "min: 99%, target: a", "min: 120%, target: a"},
		{"no unit", "duration: 1s", "duration: 1"},
		{"unknown gateway", "{gateway: sz, fault:", "{gateway: bj, fault:"},
		{"unknown target", "target: a}", "target: b}"},
		{"two kinds", "- p99: {max: 200ms}", "- {p99: {max: 200ms}, shed_order: {levels: [4, 3]}}"},
		{"bad level", "levels: [4, 3, 2]", "levels: [4, 3, 7]"},
		{"bad rate", "rate: 10", "rate: 0"},
		{"action kinds", "- drain: {gateway: sz, service: songs, host: \"0\"}", "- {}"},
		{"missing env", `"${SZ_URL}"`, `"${NOPE}"`},
		{"bad url", `"${SZ_ADMIN}"`, `"ftp://x"`},
		{"no steps", "steps:\n", "stepz:\n"},
	}
	wants := map[string]string{
		"unknown key": "d.yaml:12: lod: unknown key", "bad share": `d.yaml:19: "120%" is not a share`, "no unit": `"1" is not a duration`,
		"unknown gateway": `steps[0].faults[0].gateway: unknown gateway "bj"; known gateways: sz`,
		"unknown target":  `d.yaml:19: steps[0].expect[0].success.target: unknown target "b"`,
		"two kinds":       "d.yaml:21: steps[0].expect[2]: exactly one of", "bad level": "levels are 1..4, got 7",
		"bad rate": "steps[0].load.rate: must be in", "action kinds": "steps[0].actions[0]: exactly one of admin or drain",
		"missing env": "environment variable NOPE is not set", "bad url": `gateways.sz.admin: "ftp://x" is not`,
		"no steps": "stepz: unknown key",
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := strings.Replace(validDrill, tt.edit, tt.want, 1)
			if src == validDrill {
				t.Fatalf("edit %q did not apply", tt.edit)
			}
			_, err := Parse("d.yaml", []byte(src), nil)
			if !errors.Is(err, ErrFile) {
				t.Fatalf("err = %v, want ErrFile", err)
			}
			if !strings.Contains(err.Error(), wants[tt.name]) {
				t.Errorf("err = %v\nwant it to contain %q", err, wants[tt.name])
			}
		})
	}
}

func TestParseEnv(t *testing.T) {
	src := strings.Replace(validDrill, `"${SZ_URL}"`, `"${GW:-http://10.0.0.1:80}"`, 1)
	env := map[string]string{"SZ_ADMIN": "http://127.0.0.1:9"}
	d, err := Parse("d.yaml", []byte(src), func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil {
		t.Fatal(err)
	}
	if g := d.Gateways["sz"]; g.URL != "http://10.0.0.1:80" || g.Admin != "http://127.0.0.1:9" {
		t.Errorf("got %+v", g)
	}
}

// TestShippedDrillsParse keeps every shipped drill valid even when the demo test is skipped.
func TestShippedDrillsParse(t *testing.T) {
	files, _ := filepath.Glob("../examples/drills/*.yaml")
	if len(files) < 5 {
		t.Fatalf("want at least 5 shipped drills, got %d", len(files))
	}
	for _, f := range files {
		if _, err := Load(f); err != nil {
			t.Error(err)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(validDrill))
	for _, name := range []string{"host-stop", "user-limit", "overload-3x"} {
		if b, err := os.ReadFile("../examples/drills/" + name + ".yaml"); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte("steps: [{expect: [~]}]"))
	f.Add([]byte("name: x\nsteps: [null]\ngateways: {a: null}"))
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := Parse("f.yaml", b, nil)
		if err != nil {
			if !errors.Is(err, ErrFile) {
				t.Fatalf("error without ErrFile: %v", err)
			}
			return
		}
		if d.Name == "" || len(d.Steps) == 0 || len(d.Gateways) == 0 {
			t.Fatalf("accepted an incomplete drill: %+v", d)
		}
	})
}
