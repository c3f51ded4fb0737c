package metrics

import (
	"os"
	"strings"
	"testing"
)

// TestREADMEListsEveryMetric: the README's metrics table has a row for every family Names
// lists, so the documented contract cannot fall behind the code.
func TestREADMEListsEveryMetric(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range Names() {
		if !strings.Contains(string(readme), "| `"+name+"` |") {
			t.Errorf("README.md has no metrics row for %s", name)
		}
	}
}
