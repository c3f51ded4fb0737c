package config

import (
	"net/http"
	"strings"
)

// Defaults of the faults and recorder sections.
const (
	DefaultFaultMaxPercent = 50
	DefaultRecorderDir     = "/var/lib/bulwark/rec"
	DefaultRecorderSample  = 0.01
	DefaultRecorderMaxBody = 64 << 10
	DefaultRecorderMaxFile = 64 << 20
	DefaultRecorderFiles   = 10
	DefaultRecorderQueue   = 1024
	// MinRecorderMaxFile is the smallest recorder.max_file accepted.
	MinRecorderMaxFile = 1 << 10
)

// AlwaysRedacted are the request headers the recorder never writes, whatever recorder.headers
// and recorder.redact say. Callers must not modify it.
var AlwaysRedacted = []string{"Authorization", "Cookie", "Set-Cookie", "Proxy-Authorization"}

// defaultRecorderHeaders is the default of recorder.headers.
var defaultRecorderHeaders = []string{"Accept", "Content-Type", "User-Agent"}

// validateRuntime fills and checks faults and recorder.
func (c *Config) validateRuntime(p *problems) {
	f := &c.Faults
	defBool(&f.Enabled, true)
	defFloat(&f.MaxPercent, DefaultFaultMaxPercent)
	if f.MaxPercent > 100 {
		p.add("faults.max_percent", "%g is outside (0, 100]; write a percentage such as 50", f.MaxPercent)
	}

	r := &c.Recorder
	defStr(&r.Dir, DefaultRecorderDir)
	defFloat(&r.Sample, DefaultRecorderSample)
	if r.Sample > 1 {
		p.add("recorder.sample", "%g is outside (0, 1]; write a fraction such as 0.01", r.Sample)
	}
	if r.MaxBody == 0 {
		r.MaxBody = DefaultRecorderMaxBody
	}
	if r.MaxFile == 0 {
		r.MaxFile = DefaultRecorderMaxFile
	}
	if r.MaxFile < MinRecorderMaxFile {
		p.add("recorder.max_file", "%s is under the minimum of 1KiB", r.MaxFile)
	}
	defInt(&r.MaxFiles, DefaultRecorderFiles)
	defInt(&r.Queue, DefaultRecorderQueue)
	if len(r.Headers) == 0 {
		r.Headers = append([]string(nil), defaultRecorderHeaders...)
	}
	redacted := RedactedHeaders(r.Redact)
	for i, h := range r.Redact {
		checkHeaderName(p, index("recorder.redact", i), h)
	}
	for i, h := range r.Headers {
		path := index("recorder.headers", i)
		checkHeaderName(p, path, h)
		if isHeaderName(h) && redacted[http.CanonicalHeaderKey(h)] {
			p.add(path, "%s is redacted (%s are never recorded, plus recorder.redact); remove it from headers",
				h, strings.Join(AlwaysRedacted, ", "))
		}
	}
}

// RedactedHeaders is the set of canonical header names the recorder must not write: the
// AlwaysRedacted ones and extra.
func RedactedHeaders(extra []string) map[string]bool {
	set := make(map[string]bool, len(AlwaysRedacted)+len(extra))
	for _, h := range AlwaysRedacted {
		set[h] = true
	}
	for _, h := range extra {
		set[http.CanonicalHeaderKey(h)] = true
	}
	return set
}

// isHeaderName reports whether name is an HTTP token.
func isHeaderName(name string) bool {
	return name != "" && strings.IndexFunc(name, func(r rune) bool { return !isTokenChar(r) }) < 0
}
