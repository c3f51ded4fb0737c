package config

import (
	"errors"
	"io"
	"os"
	"testing"
)

// FuzzParse checks that Parse never panics, that it fails only with Errors that name the
// file, and that whatever it accepts passes Validate again and can be summarised.
func FuzzParse(f *testing.F) {
	example, err := os.ReadFile("testdata/example.yaml")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(example)
	fleetExample, err := os.ReadFile("testdata/fleet.yaml")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(fleetExample)
	observeExample, err := os.ReadFile("testdata/observe.yaml")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(observeExample)
	f.Add([]byte(withFleet))
	f.Add([]byte(withService))
	f.Add([]byte(withRoute))
	for _, tc := range brokenFiles {
		f.Add([]byte(tc.yaml))
	}
	for _, tc := range brokenFleetFiles {
		f.Add([]byte(tc.yaml))
	}
	for _, tc := range brokenObserveFiles {
		f.Add([]byte(tc.yaml))
	}
	env := map[string]string{"BULWARK_ADMIN_TOKEN": "t", "REDIS_PASSWORD": "p", "N": "3", "EMPTY": "",
		"OTEL_API_KEY": "k", "BULWARK_COLOR_TOKEN": obsColorToken, "SENTRY_DSN": "https://k@sentry.io/1"}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := parse("fuzz.yaml", data, lookup)
		if err != nil {
			var es Errors
			if !errors.As(err, &es) || len(es) == 0 || !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %T %v is not a non-empty Errors", err, err)
			}
			for _, e := range es {
				if e.File != "fuzz.yaml" || e.Msg == "" {
					t.Fatalf("problem without file or message: %#v", e)
				}
			}
			if cfg != nil {
				t.Fatal("a Config came back with an error")
			}
			return
		}
		if err := cfg.Validate(); err != nil {
			t.Fatalf("accepted config fails Validate again: %v\n%s", err, data)
		}
		cfg.Summary(io.Discard)
		if RestartChanges(cfg, cfg) != nil {
			t.Fatal("a config needs a restart to reload itself")
		}
		for _, s := range cfg.Services {
			if !Equal(s, s) {
				t.Fatalf("service %s is not Equal to itself", s.Name)
			}
		}
	})
}
