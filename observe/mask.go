package observe

import (
	"fmt"
	"net/http"
	"regexp"
	"strings"
)

// Masked is what a masked value, or a masked part of one, becomes.
const Masked = "***"

// DefaultMaskKeys are the keys masked when NewMasker gets nil keys.
var DefaultMaskKeys = []string{"Authorization", "Cookie"}

// Masker replaces sensitive values before they leave the process (D3): the whole value of a
// header or parameter whose name is one of its keys, and every match of its patterns in any
// value. A nil *Masker masks nothing. A Masker is immutable and safe for concurrent use.
type Masker struct {
	keys []string       // lower case
	re   *regexp.Regexp // the patterns as one alternation; nil when there are none
}

// NewMasker returns a Masker for keys, compared case-insensitively with header and parameter
// names, and patterns, Go regular expressions (RE2 syntax) whose matches in any recorded value
// become "***". nil keys means DefaultMaskKeys; an empty, non-nil slice masks no key. An
// empty key or a pattern that does not compile, or that matches the empty string (it would
// mask between every character), is an error naming it.
func NewMasker(keys, patterns []string) (*Masker, error) {
	if keys == nil {
		keys = DefaultMaskKeys
	}
	m := &Masker{keys: make([]string, 0, len(keys))}
	for i, k := range keys {
		k = strings.TrimSpace(k)
		if k == "" {
			return nil, fmt.Errorf("observe: mask.keys[%d]: empty key", i)
		}
		m.keys = append(m.keys, strings.ToLower(k))
	}
	if len(patterns) == 0 {
		return m, nil
	}
	alts := make([]string, len(patterns))
	for i, p := range patterns {
		re, err := regexp.Compile(p)
		if err != nil {
			return nil, fmt.Errorf("observe: mask.patterns[%d] %q: %v", i, p, err)
		}
		if re.MatchString("") {
			return nil, fmt.Errorf("observe: mask.patterns[%d] %q matches the empty string", i, p)
		}
		alts[i] = "(?:" + p + ")"
	}
	re, err := regexp.Compile(strings.Join(alts, "|"))
	if err != nil { // each compiled alone, so this would be a bug
		return nil, fmt.Errorf("observe: mask.patterns: %v", err)
	}
	m.re = re
	return m, nil
}

// IsKey reports whether name is one of the masked keys, ignoring case.
func (m *Masker) IsKey(name string) bool {
	if m == nil {
		return false
	}
	for _, k := range m.keys {
		if len(k) == len(name) && strings.EqualFold(k, name) {
			return true
		}
	}
	return false
}

// Mask returns v with every match of the patterns replaced by "***". A value without a match
// is returned as it is, without allocating.
func (m *Masker) Mask(v string) string {
	if m == nil || m.re == nil || v == "" || !m.re.MatchString(v) {
		return v
	}
	return m.re.ReplaceAllLiteralString(v, Masked)
}

// MaskValue returns "***" when key is a masked key, else Mask(v).
func (m *Masker) MaskValue(key, v string) string {
	if m.IsKey(key) {
		return Masked
	}
	return m.Mask(v)
}

// MaskHeader returns a copy of h with every value masked by MaskValue under its header
// name. h itself is not changed.
func (m *Masker) MaskHeader(h http.Header) http.Header {
	out := make(http.Header, len(h))
	for k, vs := range h {
		mv := make([]string, len(vs))
		for i, v := range vs {
			mv[i] = m.MaskValue(k, v)
		}
		out[k] = mv
	}
	return out
}

// MaskQuery returns a raw URL query with the values of masked keys replaced by "***" and the
// patterns applied to the whole raw (still escaped) text; the order and encoding of the
// other parameters are kept. Keys are compared after unescaping.
func (m *Masker) MaskQuery(raw string) string {
	if m == nil || raw == "" {
		return raw
	}
	if len(m.keys) > 0 {
		parts := strings.Split(raw, "&")
		changed := false
		for i, p := range parts {
			k, _, _ := strings.Cut(p, "=")
			if m.IsKey(queryUnescape(k)) {
				parts[i] = k + "=" + Masked
				changed = true
			}
		}
		if changed {
			raw = strings.Join(parts, "&")
		}
	}
	return m.Mask(raw)
}
