package config

import (
	"bytes"
	"os"
	"reflect"
	"regexp"
	"strings"
	"testing"
)

// referenceYAML returns the ```yaml blocks of reference.md.
func referenceYAML(t *testing.T) (doc string, blocks []string) {
	t.Helper()
	data, err := os.ReadFile("reference.md")
	if err != nil {
		t.Fatal(err)
	}
	doc = string(data)
	for rest := doc; ; {
		_, after, ok := strings.Cut(rest, "```yaml\n")
		if !ok {
			return doc, blocks
		}
		block, tail, ok := strings.Cut(after, "```")
		if !ok {
			t.Fatal("reference.md: a ```yaml block is not closed")
		}
		blocks = append(blocks, block)
		rest = tail
	}
}

// The examples in reference.md load, and each is one of the test files, so the tests of
// those files cover the reference too.
func TestReferenceExamples(t *testing.T) {
	t.Setenv("BULWARK_ADMIN_TOKEN", "s3cret")
	t.Setenv("REDIS_PASSWORD", "s3cret")
	setObserveEnv(t)
	_, blocks := referenceYAML(t)
	if len(blocks) < 3 {
		t.Fatalf("reference.md has %d yaml examples, want the plain one, the fleet one and the observability one", len(blocks))
	}
	var files []string
	for _, name := range []string{"testdata/example.yaml", "testdata/fleet.yaml", "testdata/observe.yaml"} {
		data, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, stripComments(string(data)))
	}
	for i, block := range blocks {
		if _, err := Parse("reference.md", []byte(block)); err != nil {
			t.Errorf("example %d does not load: %v", i, err)
		}
		if !contains(files, stripComments(block)) {
			t.Errorf("example %d is not one of the testdata files; keep them the same:\n%s", i, block)
		}
	}
}

// Every YAML key of Config appears in reference.md, as `key`, `a.key` or `key.b`.
func TestReferenceDocumentsEveryKey(t *testing.T) {
	doc, _ := referenceYAML(t)
	seen := map[reflect.Type]bool{}
	var walk func(t reflect.Type, path string)
	var missing []string
	walk = func(typ reflect.Type, path string) {
		for typ.Kind() == reflect.Pointer || typ.Kind() == reflect.Slice || typ.Kind() == reflect.Map {
			typ = typ.Elem()
		}
		if typ.Kind() != reflect.Struct || seen[typ] {
			return
		}
		seen[typ] = true
		for i := range typ.NumField() {
			name, ok := yamlName(typ.Field(i))
			if !ok {
				continue
			}
			if !regexp.MustCompile("[`.]" + regexp.QuoteMeta(name) + "[`.]").MatchString(doc) {
				missing = append(missing, join(path, name))
			}
			walk(typ.Field(i).Type, join(path, name))
		}
	}
	walk(reflect.TypeFor[Config](), "")
	if len(missing) > 0 {
		t.Errorf("reference.md does not document %s", strings.Join(missing, ", "))
	}
}

func stripComments(s string) string {
	var b strings.Builder
	for l := range strings.Lines(s) {
		if !strings.HasPrefix(l, "#") {
			b.WriteString(l)
		}
	}
	return b.String()
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// TestREADMECarriesReference: the README's configuration reference is reference.md, word for
// word, so the two never drift apart.
func TestREADMECarriesReference(t *testing.T) {
	ref, err := os.ReadFile("reference.md")
	if err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(readme, bytes.TrimSpace(ref)) {
		t.Fatal("README.md does not contain gateway/config/reference.md verbatim; copy it into the Configuration reference section")
	}
}
