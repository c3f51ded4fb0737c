package config

import (
	"os"
	"path/filepath"
	"testing"
)

// BenchmarkParse measures a whole load of the examples, without and with a fleet:
// decode, expand, validate (key specs included). It runs once per start or reload, so it is
// not a hot path; the number is for reference.
func BenchmarkParse(b *testing.B) {
	b.Setenv("BULWARK_ADMIN_TOKEN", "s3cret")
	b.Setenv("REDIS_PASSWORD", "s3cret")
	for _, file := range []string{"testdata/example.yaml", "testdata/fleet.yaml"} {
		data, err := os.ReadFile(file)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(filepath.Base(file), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Parse("gw.yaml", data); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
