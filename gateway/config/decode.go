package config

import (
	"fmt"
	"math"
	"reflect"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// maxNodes bounds the work of one decode. Aliases let a small file name the same subtree
// many times over (the "billion laughs"); past this many visited nodes decoding stops.
const maxNodes = 1 << 17

// decoder walks a yaml.Node tree against the Go types of this package by reflection. Unlike
// yaml.Node.Decode it keeps going after a problem, so that one run reports every problem, and
// it knows the key path and line of each value: it records them in lines for Validate.
type decoder struct {
	p      *problems
	lookup func(string) (string, bool) // the environment, for ${VAR}
	lines  map[string]int              // key path -> line; shared with p
	nodes  int                         // nodes visited, against maxNodes
}

// fail records a decode problem. Validate's later problems at this path or below it are
// dropped, since they would only restate this one.
func (d *decoder) fail(line int, path, format string, args ...any) {
	d.p.failed[path] = true
	d.p.at(line, path, format, args...)
}

// value decodes n into v, which is addressable. path is v's key path.
func (d *decoder) value(n *yaml.Node, v reflect.Value, path string) {
	if d.nodes++; d.nodes > maxNodes {
		if d.nodes == maxNodes+1 {
			d.fail(n.Line, path, "the document is too large or repeats aliases too often (over %d values)", maxNodes)
		}
		return
	}
	if _, ok := d.lines[path]; !ok {
		d.lines[path] = n.Line
	}
	if n.Kind == yaml.AliasNode {
		if n.Alias == nil {
			d.fail(n.Line, path, "alias to nothing")
			return
		}
		n = n.Alias
	}
	tag := n.ShortTag()
	if !knownTag(tag) {
		d.fail(n.Line, path, "unsupported tag %s; remove it", tag)
		return
	}
	expanded := false
	if n.Kind == yaml.ScalarNode {
		text, err := expand(n.Value, d.lookup)
		if err != nil {
			d.fail(n.Line, path, "%v", err)
			return
		}
		if text != n.Value {
			// The value reads as if it had been written plain, quoted or not (a reference in
			// a flow mapping must be quoted), unless it carries an explicit tag such as !!str.
			c := *n
			c.Value = text
			if n.Style&yaml.TaggedStyle == 0 {
				c.Tag, c.Style = "", 0
			}
			n, expanded = &c, true
		}
	}
	if u, ok := v.Addr().Interface().(yaml.Unmarshaler); ok {
		if err := u.UnmarshalYAML(n); err != nil {
			d.fail(n.Line, path, "%v", err)
		}
		return
	}
	isNull := n.Kind == yaml.ScalarNode && n.ShortTag() == tagNull
	switch v.Kind() {
	case reflect.Pointer:
		if isNull {
			v.SetZero()
			return
		}
		e := reflect.New(v.Type().Elem())
		d.value(n, e.Elem(), path)
		v.Set(e)
	case reflect.Struct:
		d.structure(n, v, path, isNull)
	case reflect.Map:
		d.mapping(n, v, path, isNull)
	case reflect.Slice:
		d.list(n, v, path, isNull)
	default:
		d.scalar(n, v, path, expanded)
	}
}

// structure decodes a mapping into a struct, field by yaml tag. Unknown keys are errors.
func (d *decoder) structure(n *yaml.Node, v reflect.Value, path string, isNull bool) {
	if isNull {
		return
	}
	if n.Kind != yaml.MappingNode {
		d.fail(n.Line, path, "expected a mapping with keys %s, found %s", strings.Join(keysOf(v.Type()), ", "), describe(n))
		return
	}
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		key, ok := d.key(k, path, seen)
		if !ok {
			continue
		}
		child := join(path, key)
		f, ok := fieldByKey(v, key)
		if !ok {
			d.fail(k.Line, child, "%s", unknownKey(key, keysOf(v.Type())))
			continue
		}
		d.lines[child] = k.Line
		d.value(val, f, child)
	}
}

// mapping decodes a mapping into a Go map with string or int keys.
func (d *decoder) mapping(n *yaml.Node, v reflect.Value, path string, isNull bool) {
	if isNull {
		v.SetZero()
		return
	}
	t := v.Type()
	if n.Kind != yaml.MappingNode {
		d.fail(n.Line, path, "expected a mapping (name: value), found %s", describe(n))
		return
	}
	if v.IsNil() {
		v.Set(reflect.MakeMapWithSize(t, len(n.Content)/2))
	}
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		key, ok := d.key(k, path, seen)
		if !ok {
			continue
		}
		child := join(path, key)
		kv := reflect.New(t.Key()).Elem()
		if t.Key().Kind() == reflect.Int {
			num, err := strconv.Atoi(key)
			if err != nil {
				d.fail(k.Line, child, "key %q is not a whole number", key)
				continue
			}
			kv.SetInt(int64(num))
		} else {
			kv.SetString(key)
		}
		d.lines[child] = k.Line
		e := reflect.New(t.Elem()).Elem()
		d.element(val, e, child)
		v.SetMapIndex(kv, e)
	}
}

// list decodes a sequence into a slice.
func (d *decoder) list(n *yaml.Node, v reflect.Value, path string, isNull bool) {
	if isNull {
		v.SetZero()
		return
	}
	if n.Kind != yaml.SequenceNode {
		d.fail(n.Line, path, "expected a list, found %s; write [a, b] or one \"- item\" per line", describe(n))
		return
	}
	s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
	for i, item := range n.Content {
		child := index(path, i)
		d.lines[child] = item.Line
		d.element(item, s.Index(i), child)
	}
	v.Set(s)
}

// element decodes a map value or list item. A null where a *struct is expected is an empty
// struct (all defaults), not a nil pointer, so that consumers never meet nil entries.
func (d *decoder) element(n *yaml.Node, e reflect.Value, path string) {
	d.value(n, e, path)
	if e.Kind() == reflect.Pointer && e.IsNil() && e.Type().Elem().Kind() == reflect.Struct {
		e.Set(reflect.New(e.Type().Elem()))
	}
}

// key returns the text of a mapping key, refusing non-scalar and duplicate keys.
func (d *decoder) key(k *yaml.Node, path string, seen map[string]int) (string, bool) {
	if k.Kind == yaml.AliasNode && k.Alias != nil {
		k = k.Alias
	}
	if k.Kind != yaml.ScalarNode {
		d.fail(k.Line, path, "a key must be a plain name, found %s", describe(k))
		return "", false
	}
	key := k.Value
	if key == "<<" && k.ShortTag() == "!!merge" {
		d.p.failed[path] = true // the merged keys are missing, so the rest would mislead
		d.fail(k.Line, join(path, key), "merge keys (<<) are not supported; write the keys out")
		return "", false
	}
	if first, dup := seen[key]; dup {
		d.fail(k.Line, join(path, key), "duplicate key; %s is already set on line %d", key, first)
		return "", false
	}
	seen[key] = k.Line
	return key, true
}

// scalar decodes a string, bool, int or float. A string that came from ${VAR} is the text
// as it is, even when it reads as null ("~", "null", "").
func (d *decoder) scalar(n *yaml.Node, v reflect.Value, path string, expanded bool) {
	tag := n.ShortTag()
	switch v.Kind() {
	case reflect.String:
		if n.Kind != yaml.ScalarNode {
			d.fail(n.Line, path, "expected text, found %s", describe(n))
			return
		}
		if tag == tagNull && !expanded {
			v.SetString("")
			return
		}
		v.SetString(n.Value)
	case reflect.Bool:
		var b bool
		if n.Kind != yaml.ScalarNode || tag != tagBool || n.Decode(&b) != nil {
			d.fail(n.Line, path, "expected true or false, found %s", describe(n))
			return
		}
		v.SetBool(b)
	case reflect.Int, reflect.Int64, reflect.Int32:
		var i int64
		if n.Kind != yaml.ScalarNode || tag != tagInt {
			var f float64
			if tag == tagFloat && n.Decode(&f) == nil && f == math.Trunc(f) && math.Abs(f) >= 1<<63 {
				d.fail(n.Line, path, "%s is out of range", n.Value) // too large to resolve as !!int
				return
			}
			d.fail(n.Line, path, "expected a whole number, found %s", describe(n))
			return
		}
		if n.Decode(&i) != nil || v.OverflowInt(i) {
			d.fail(n.Line, path, "%s is out of range", n.Value)
			return
		}
		v.SetInt(i)
	case reflect.Float64, reflect.Float32:
		var f float64
		if n.Kind != yaml.ScalarNode || (tag != tagInt && tag != tagFloat) || n.Decode(&f) != nil {
			d.fail(n.Line, path, "expected a number, found %s", describe(n))
			return
		}
		if math.IsNaN(f) || math.IsInf(f, 0) {
			d.fail(n.Line, path, "%s is not a finite number", n.Value)
			return
		}
		v.SetFloat(f)
	default:
		// Only the kinds above occur in this package's types.
		panic(fmt.Sprintf("config: no decoder for %s at %s", v.Type(), path))
	}
}

// knownTag reports whether tag is one of the YAML core tags the decoder understands.
func knownTag(tag string) bool {
	switch tag {
	case tagStr, tagInt, tagFloat, tagBool, tagNull, "!!map", "!!seq", "!!timestamp", "!!merge", "", "!":
		return true
	}
	return false
}

// fieldByKey returns the field of struct v whose yaml tag is key.
func fieldByKey(v reflect.Value, key string) (reflect.Value, bool) {
	t := v.Type()
	for i := range t.NumField() {
		if name, ok := yamlName(t.Field(i)); ok && name == key {
			return v.Field(i), true
		}
	}
	return reflect.Value{}, false
}

// keysOf lists the YAML keys of struct type t, in field order.
func keysOf(t reflect.Type) []string {
	var keys []string
	for i := range t.NumField() {
		if name, ok := yamlName(t.Field(i)); ok {
			keys = append(keys, name)
		}
	}
	return keys
}

// yamlName is the YAML key of a struct field; ok is false for fields that are not keys.
func yamlName(f reflect.StructField) (string, bool) {
	if !f.IsExported() {
		return "", false
	}
	name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
	if name == "-" || name == "" {
		return "", false
	}
	return name, true
}

// unknownKey says that key is not allowed, suggesting the closest allowed key when one is
// near enough to be a typo, and listing the allowed keys otherwise.
func unknownKey(key string, allowed []string) string {
	norm := func(s string) string { return strings.ReplaceAll(strings.ToLower(s), "-", "_") }
	best, bestDist := "", math.MaxInt
	for _, a := range allowed {
		dist := editDistance(norm(key), norm(a))
		if dist < bestDist {
			best, bestDist = a, dist
		}
	}
	if best != "" && bestDist <= max(1, len(key)/3) {
		return "unknown key; did you mean " + best + "?"
	}
	sorted := append([]string(nil), allowed...)
	sort.Strings(sorted)
	return "unknown key; allowed keys: " + strings.Join(sorted, ", ")
}

// editDistance is the optimal string alignment distance: insertions, deletions,
// substitutions and transpositions of neighbours each cost 1.
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev2 := make([]int, len(rb)+1)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(rb)]
}
