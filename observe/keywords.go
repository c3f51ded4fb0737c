package observe

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/textproto"
	"net/url"
	"strings"
	"unicode/utf8"

	"go.opentelemetry.io/otel/attribute"
)

// KeywordPrefix starts the attribute name of every keyword: header X-Order-Id becomes
// keyword.x_order_id, query parameter user_id becomes keyword.user_id.
const KeywordPrefix = "keyword."

// MaxKeywordLen is the longest keyword value recorded, in bytes; a longer value is cut at a
// character boundary, so a huge header cannot bloat every span and log line.
const MaxKeywordLen = 256

// maxKeywords bounds the configured query keywords (a bit set tracks which were seen).
const maxKeywords = 64

// Keywords picks business keywords (D3: an order id, a user id) out of requests so that a
// trace or log line can be found from a complaint. Values are masked by the Masker before
// they are returned. Only the first value of a header or parameter is used. A request
// without any of them costs no allocation. A Keywords is immutable and safe for concurrent
// use; a nil *Keywords finds nothing.
type Keywords struct {
	headers []headerKeyword
	query   []queryKeyword
	mask    *Masker
}

type headerKeyword struct{ canon, attr string }
type queryKeyword struct{ name, attr string }

// NewKeywords returns Keywords for the named request headers (matched case-insensitively)
// and query parameters (matched exactly, after unescaping), masked by m (nil: unmasked).
// An empty name, more than 64 query names, or two names that map to the same attribute
// (header User-Id and query user_id both give keyword.user_id) is an error.
func NewKeywords(headers, query []string, m *Masker) (*Keywords, error) {
	if len(query) > maxKeywords {
		return nil, fmt.Errorf("observe: keywords.query: at most %d names, got %d", maxKeywords, len(query))
	}
	k := &Keywords{mask: m}
	seen := map[string]string{}
	claim := func(what, name string) (string, error) {
		if strings.TrimSpace(name) == "" {
			return "", fmt.Errorf("observe: %s: empty name", what)
		}
		attr := KeywordAttr(name)
		if prev, dup := seen[attr]; dup {
			return "", fmt.Errorf("observe: %s %q and %s both record %s", what, name, prev, attr)
		}
		seen[attr] = fmt.Sprintf("%s %q", what, name)
		return attr, nil
	}
	for _, h := range headers {
		attr, err := claim("keywords.headers", h)
		if err != nil {
			return nil, err
		}
		k.headers = append(k.headers, headerKeyword{canon: textproto.CanonicalMIMEHeaderKey(strings.TrimSpace(h)), attr: attr})
	}
	for _, q := range query {
		attr, err := claim("keywords.query", q)
		if err != nil {
			return nil, err
		}
		k.query = append(k.query, queryKeyword{name: q, attr: attr})
	}
	return k, nil
}

// KeywordAttr returns the attribute name of a keyword: KeywordPrefix and the name in lower
// case with every character outside [a-z0-9_.] replaced by '_'.
func KeywordAttr(name string) string {
	b := []byte(strings.ToLower(strings.TrimSpace(name)))
	for i, c := range b {
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '_' || c == '.') {
			b[i] = '_'
		}
	}
	return KeywordPrefix + string(b)
}

// Attrs returns the request's keywords as span attributes, masked; nil when it has none.
func (k *Keywords) Attrs(r *http.Request) []attribute.KeyValue {
	var out []attribute.KeyValue
	k.each(r, func(attr, v string) {
		if out == nil {
			out = make([]attribute.KeyValue, 0, len(k.headers)+len(k.query))
		}
		out = append(out, attribute.String(attr, v))
	})
	return out
}

// LogAttrs returns the request's keywords as slog attributes with the same names and masked
// values as Attrs; nil when it has none.
func (k *Keywords) LogAttrs(r *http.Request) []slog.Attr {
	var out []slog.Attr
	k.each(r, func(attr, v string) {
		if out == nil {
			out = make([]slog.Attr, 0, len(k.headers)+len(k.query))
		}
		out = append(out, slog.String(attr, v))
	})
	return out
}

// each calls fn with the attribute name and masked value of every keyword r carries, headers
// first, in configuration order.
func (k *Keywords) each(r *http.Request, fn func(attr, v string)) {
	if k == nil || r == nil {
		return
	}
	for _, h := range k.headers {
		if vs := r.Header[h.canon]; len(vs) > 0 && vs[0] != "" {
			fn(h.attr, k.value(h.canon, vs[0]))
		}
	}
	if len(k.query) == 0 || r.URL == nil || r.URL.RawQuery == "" {
		return
	}
	var seen uint64
	for raw := r.URL.RawQuery; raw != ""; {
		var pair string
		pair, raw, _ = strings.Cut(raw, "&")
		key, val, _ := strings.Cut(pair, "=")
		key = queryUnescape(key)
		for i, q := range k.query {
			if q.name != key || seen&(1<<i) != 0 {
				continue
			}
			seen |= 1 << i
			if v := queryUnescape(val); v != "" {
				fn(q.attr, k.value(q.name, v))
			}
		}
	}
}

// value truncates v to MaxKeywordLen and masks it.
func (k *Keywords) value(name, v string) string {
	if len(v) > MaxKeywordLen {
		cut := MaxKeywordLen
		for cut > 0 && !utf8.RuneStart(v[cut]) {
			cut--
		}
		v = v[:cut]
	}
	return k.mask.MaskValue(name, v)
}

// queryUnescape unescapes a query key or value, allocating only when it has escapes; an
// invalid escape leaves s as it is.
func queryUnescape(s string) string {
	if !strings.ContainsAny(s, "%+") {
		return s
	}
	if u, err := url.QueryUnescape(s); err == nil {
		return u
	}
	return s
}
