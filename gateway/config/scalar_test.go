package config

import (
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

// scalarNode parses text as a one-value YAML document and returns the value's node.
func scalarNode(t *testing.T, text string) *yaml.Node {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte("v: "+text), &doc); err != nil {
		t.Fatal(err)
	}
	return doc.Content[0].Content[1]
}

func TestDurationUnmarshal(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		err  string
	}{
		{in: "250ms", want: 250 * time.Millisecond},
		{in: "1m30s", want: 90 * time.Second},
		{in: `"1s"`, want: time.Second},
		{in: "0", want: 0},
		{in: "~", want: 0},
		{in: "-1s", want: -time.Second}, // Validate reports it, with its line
		{in: "60", err: `"60" has no unit; write a duration such as 60ms or 1s`},
		{in: `"60"`, err: `"60" has no unit; write a duration such as 60ms or 1s`},
		{in: "1.5", err: `"1.5" has no unit; write a duration such as 250ms or 1s`},
		{in: "soon", err: `"soon" is not a duration; write a number with a unit (ns, us, ms, s, m, h), such as 250ms or 1m30s`},
		{in: "[1s]", err: "expected a duration such as 250ms or 1s, found a list"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			var d Duration
			err := d.UnmarshalYAML(scalarNode(t, tc.in))
			if tc.err != "" {
				if err == nil || err.Error() != tc.err {
					t.Errorf("got %v, %v; want error %q", d, err, tc.err)
				}
				return
			}
			if err != nil || d.D() != tc.want {
				t.Errorf("got %v, %v; want %v", d, err, tc.want)
			}
		})
	}
}

func TestSizeUnmarshal(t *testing.T) {
	tests := []struct {
		in   string
		want Size
		err  string
	}{
		{in: "512", want: 512},
		{in: "512B", want: 512},
		{in: "64KiB", want: 64 << 10},
		{in: "64kb", want: 64 << 10},
		{in: "1MiB", want: 1 << 20},
		{in: "1 MB", want: 1 << 20},
		{in: "2GiB", want: 2 << 30},
		{in: "2GB", want: 2 << 30},
		{in: "1.5MiB", err: `"1.5MiB" is not a size; write bytes (512) or a whole number with a unit: 64KiB, 1MiB, 1GiB`},
		{in: "1TiB", err: `"1TiB" is not a size; write bytes (512) or a whole number with a unit: 64KiB, 1MiB, 1GiB`},
		{in: "MiB", err: `"MiB" is not a size; write bytes (512) or a whole number with a unit: 64KiB, 1MiB, 1GiB`},
		{in: "9999999999GiB", err: `"9999999999GiB" is too large`},
		{in: "99999999999999999999", err: `"99999999999999999999" is too large`},
		{in: "{a: 1}", err: "expected a size such as 64KiB or 1MiB, found a mapping (key: value)"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			var s Size
			err := s.UnmarshalYAML(scalarNode(t, tc.in))
			if tc.err != "" {
				if err == nil || err.Error() != tc.err {
					t.Errorf("got %v, %v; want error %q", s, err, tc.err)
				}
				return
			}
			if err != nil || s != tc.want {
				t.Errorf("got %d, %v; want %d", s, err, tc.want)
			}
		})
	}
}

func TestPercentUnmarshal(t *testing.T) {
	tests := []struct {
		in   string
		want Percent
		err  string
	}{
		{in: "50%", want: 0.5},
		{in: "12.5 %", want: 0.125},
		{in: "0.5", want: 0.5},
		{in: "1", want: 1},
		{in: "half", err: `"half" is not a share; write a percentage such as 50% or a fraction such as 0.5`},
		{in: "abc%", err: `"abc%" is not a share; write a percentage such as 50% or a fraction such as 0.5`},
		{in: ".nan", err: `".nan" is not a share; write a percentage such as 50% or a fraction such as 0.5`},
		{in: "[1]", err: "expected a share such as 50% or 0.5, found a list"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			var p Percent
			err := p.UnmarshalYAML(scalarNode(t, tc.in))
			if tc.err != "" {
				if err == nil || err.Error() != tc.err {
					t.Errorf("got %v, %v; want error %q", p, err, tc.err)
				}
				return
			}
			if err != nil || p != tc.want {
				t.Errorf("got %v, %v; want %v", p, err, tc.want)
			}
		})
	}
}

func TestScalarStrings(t *testing.T) {
	tests := []struct {
		name string
		v    interface {
			String() string
			MarshalYAML() (any, error)
		}
		want string
	}{
		{"duration", Duration(1500 * time.Millisecond), "1.5s"},
		{"zero duration", Duration(0), "0s"},
		{"size MiB", Size(1 << 20), "1MiB"},
		{"size KiB", Size(3 << 10), "3KiB"},
		{"size GiB", Size(2 << 30), "2GiB"},
		{"size bytes", Size(1000), "1000"},
		{"size zero", Size(0), "0"},
		{"percent", Percent(0.5), "50%"},
		{"percent fraction", Percent(0.125), "12.5%"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.v.String(); got != tc.want {
				t.Errorf("String() = %q, want %q", got, tc.want)
			}
			if got, err := tc.v.MarshalYAML(); err != nil || got != tc.want {
				t.Errorf("MarshalYAML() = %v, %v; want %q", got, err, tc.want)
			}
		})
	}
}

// The scalar types also work with plain yaml.Unmarshal, outside Load.
func TestScalarsWithYAMLUnmarshal(t *testing.T) {
	var v struct {
		D Duration `yaml:"d"`
		S Size     `yaml:"s"`
		P Percent  `yaml:"p"`
	}
	if err := yaml.Unmarshal([]byte("d: 2s\ns: 4KiB\np: 25%\n"), &v); err != nil {
		t.Fatal(err)
	}
	if v.D.D() != 2*time.Second || v.S != 4096 || v.P != 0.25 {
		t.Errorf("got %+v", v)
	}
}
