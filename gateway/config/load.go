package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Load reads the YAML file at path and returns its validated Config: Parse of the file's
// contents with path as the file name in messages. A file that cannot be read is returned as
// the os error (errors.Is(err, fs.ErrNotExist) works); a config that is wrong as Errors.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return Parse(path, data)
}

// Parse decodes one YAML document strictly, expands ${VAR} from the environment in scalar
// values, fills the defaults and validates the result (see Validate). file names the source
// in messages. On any problem it returns nil and Errors holding every problem found, sorted
// by line; the Config is returned only when it is valid.
func Parse(file string, data []byte) (*Config, error) {
	return parse(file, data, os.LookupEnv)
}

// parse is Parse with the environment as a parameter.
func parse(file string, data []byte, lookup func(string) (string, bool)) (*Config, error) {
	root, err := document(file, data)
	if err != nil {
		return nil, err
	}
	cfg := &Config{File: file}
	p := newProblems(file, map[string]int{})
	d := &decoder{p: p, lookup: lookup, lines: p.lines}
	d.value(root, reflect.ValueOf(cfg).Elem(), "")
	cfg.lines = p.lines
	cfg.validate(p)
	if err := p.result(); err != nil {
		return nil, err
	}
	return cfg, nil
}

// document parses data as exactly one YAML document whose root is a mapping.
func document(file string, data []byte) (*yaml.Node, error) {
	one := func(line int, format string, args ...any) error {
		return Errors{{File: file, Line: line, Msg: fmt.Sprintf(format, args...)}}
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, one(0, "the file is empty; a config needs at least center, centers, services and routes")
		}
		return nil, syntaxError(file, err)
	}
	var next yaml.Node
	switch err := dec.Decode(&next); {
	case err == nil:
		return nil, one(next.Line, "a second YAML document starts here; put the whole config in one document")
	case !errors.Is(err, io.EOF):
		return nil, syntaxError(file, err)
	}
	root := &doc
	if doc.Kind == yaml.DocumentNode {
		if len(doc.Content) == 0 {
			return nil, one(0, "the file is empty; a config needs at least center, centers, services and routes")
		}
		root = doc.Content[0]
	}
	if root.Kind == yaml.ScalarNode && root.ShortTag() == tagNull {
		return nil, one(0, "the file is empty; a config needs at least center, centers, services and routes")
	}
	if root.Kind != yaml.MappingNode {
		return nil, one(root.Line, "expected a mapping of keys (center, centers, services, routes, ...), found %s", describe(root))
	}
	return root, nil
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// syntaxError turns a yaml parse error into an Error with its line.
func syntaxError(file string, err error) error {
	msg := err.Error()
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		return Errors{{File: file, Line: line, Msg: "invalid YAML: " + m[2]}}
	}
	return Errors{{File: file, Msg: "invalid YAML: " + strings.TrimPrefix(msg, "yaml: ")}}
}

// expand replaces ${NAME} with the value of environment variable NAME and $$ with $. A $
// followed by anything else is kept as it is, so regexps ending in $ need no escape. A
// variable that is not set is an error; one that is set to "" expands to "".
func expand(s string, lookup func(string) (string, bool)) (string, error) {
	if !strings.Contains(s, "$") {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '$' || i+1 == len(s) {
			b.WriteByte(c)
			continue
		}
		switch s[i+1] {
		case '$':
			b.WriteByte('$')
			i++
		case '{':
			end := strings.IndexByte(s[i+2:], '}')
			if end < 0 {
				return "", fmt.Errorf("unterminated ${ in %q; write ${NAME}, or $$ for a literal $", s)
			}
			name := s[i+2 : i+2+end]
			if !isVarName(name) {
				return "", fmt.Errorf("${%s} is not a variable reference; a name is letters, digits and _, not starting with a digit (write $$ for a literal $)", name)
			}
			val, ok := lookup(name)
			if !ok {
				return "", fmt.Errorf("environment variable %s is not set; set it, or write $$ for a literal $", name)
			}
			b.WriteString(val)
			i += 2 + end
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), nil
}

// isVarName reports whether s is a shell-style variable name.
func isVarName(s string) bool {
	if s == "" || (s[0] >= '0' && s[0] <= '9') {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}
