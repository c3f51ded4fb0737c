package config

import (
	"os"
	"testing"
)

// BenchmarkParse measures a whole load of the example: decode, expand, validate. It
// runs once per start or reload, so it is not a hot path; the number is for reference.
func BenchmarkParse(b *testing.B) {
	b.Setenv("BULWARK_ADMIN_TOKEN", "s3cret")
	data, err := os.ReadFile("testdata/example.yaml")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse("gw.yaml", data); err != nil {
			b.Fatal(err)
		}
	}
}
