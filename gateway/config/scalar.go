package config

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

const (
	tagStr   = "!!str"
	tagInt   = "!!int"
	tagFloat = "!!float"
	tagBool  = "!!bool"
	tagNull  = "!!null"
)

// String formats d as time.Duration does ("1.5s", "250ms", "0s").
func (d Duration) String() string { return time.Duration(d).String() }

// MarshalYAML writes d as its String, which UnmarshalYAML reads back.
func (d Duration) MarshalYAML() (any, error) { return d.String(), nil }

// UnmarshalYAML reads a duration with a unit, as time.ParseDuration accepts it ("250ms",
// "1m30s"). A bare number other than 0 is refused because its unit would be a guess.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return errors.New(wrongKind(n, "a duration such as 250ms or 1s"))
	}
	s := strings.TrimSpace(n.Value)
	switch n.ShortTag() {
	case tagNull:
		*d = 0
		return nil
	case tagInt, tagFloat:
		if s == "0" {
			*d = 0
			return nil
		}
		return noUnit(n.Value, s)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		if _, nerr := strconv.ParseFloat(s, 64); nerr == nil {
			return noUnit(n.Value, s)
		}
		return fmt.Errorf("%q is not a duration; write a number with a unit (ns, us, ms, s, m, h), such as 250ms or 1m30s", n.Value)
	}
	*d = Duration(v)
	return nil
}

// noUnit is the error for a duration written as a bare number; the example reuses the
// number when it is a plain whole one.
func noUnit(raw, s string) error {
	example := "250"
	if s != "" && strings.Trim(s, "0123456789") == "" {
		example = s
	}
	return fmt.Errorf("%q has no unit; write a duration such as %sms or 1s", raw, example)
}

// String formats s in the largest binary unit that divides it exactly: "1MiB", "64KiB",
// "1000" (bytes).
func (s Size) String() string {
	for _, u := range sizeUnits[:3] {
		if s != 0 && s%Size(u.mult) == 0 {
			return strconv.FormatInt(int64(s)/u.mult, 10) + u.name
		}
	}
	return strconv.FormatInt(int64(s), 10)
}

// MarshalYAML writes s as its String, which UnmarshalYAML reads back.
func (s Size) MarshalYAML() (any, error) { return s.String(), nil }

var sizeUnits = []struct {
	name string
	mult int64
}{
	{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, // String uses these three
	{"GB", 1 << 30}, {"MB", 1 << 20}, {"KB", 1 << 10},
	{"B", 1}, // last: every other unit ends in B too
}

// UnmarshalYAML reads a byte count: a whole number of bytes (512), or a whole number with a
// unit B, KiB, MiB, GiB (KB, MB, GB are the same binary units; units are case-insensitive).
func (s *Size) UnmarshalYAML(n *yaml.Node) error {
	const want = "write bytes (512) or a whole number with a unit: 64KiB, 1MiB, 1GiB"
	if n.Kind != yaml.ScalarNode {
		return errors.New(wrongKind(n, "a size such as 64KiB or 1MiB"))
	}
	if n.ShortTag() == tagNull {
		*s = 0
		return nil
	}
	v := strings.TrimSpace(n.Value)
	mult := int64(1)
	for _, u := range sizeUnits {
		if len(v) > len(u.name) && strings.EqualFold(v[len(v)-len(u.name):], u.name) {
			v, mult = strings.TrimSpace(v[:len(v)-len(u.name)]), u.mult
			break
		}
	}
	num, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		if errors.Is(err, strconv.ErrRange) {
			return fmt.Errorf("%q is too large", n.Value)
		}
		return fmt.Errorf("%q is not a size; %s", n.Value, want)
	}
	if num > math.MaxInt64/mult || num < math.MinInt64/mult {
		return fmt.Errorf("%q is too large", n.Value)
	}
	*s = Size(num * mult)
	return nil
}

// String formats p as a percentage: "50%", "12.5%".
func (p Percent) String() string {
	return strconv.FormatFloat(float64(p)*100, 'g', -1, 64) + "%"
}

// MarshalYAML writes p as its String, which UnmarshalYAML reads back.
func (p Percent) MarshalYAML() (any, error) { return p.String(), nil }

// UnmarshalYAML reads a share written as a percentage ("50%") or as a fraction (0.5). It
// refuses anything that is not a finite number; the range is Validate's to check.
func (p *Percent) UnmarshalYAML(n *yaml.Node) error {
	const want = "write a percentage such as 50% or a fraction such as 0.5"
	if n.Kind != yaml.ScalarNode {
		return errors.New(wrongKind(n, "a share such as 50% or 0.5"))
	}
	if n.ShortTag() == tagNull {
		*p = 0
		return nil
	}
	v := strings.TrimSpace(n.Value)
	div := 1.0
	if t, ok := strings.CutSuffix(v, "%"); ok {
		v, div = strings.TrimSpace(t), 100
	} else if tag := n.ShortTag(); tag != tagInt && tag != tagFloat {
		return fmt.Errorf("%q is not a share; %s", n.Value, want)
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return fmt.Errorf("%q is not a share; %s", n.Value, want)
	}
	*p = Percent(f / div)
	return nil
}

// wrongKind describes a node that is not of the wanted kind, e.g.
// "expected a duration such as 250ms or 1s, found a list".
func wrongKind(n *yaml.Node, want string) string {
	return "expected " + want + ", found " + describe(n)
}

// describe names what a node is, for messages.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping (key: value)"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case tagNull:
			return "nothing (null)"
		case tagBool:
			return "the boolean " + n.Value
		case tagInt, tagFloat:
			return "the number " + n.Value
		}
		return strconv.Quote(n.Value)
	}
	return "nothing"
}
