package observe

import (
	"strconv"
	"strings"

	"github.com/getsentry/sentry-go"
)

// parseStack turns the text of runtime/debug.Stack (one goroutine) into Sentry frames,
// oldest call first as Sentry wants them. Lines it does not understand are skipped; a frame
// whose file line is missing keeps its function alone. It never fails: garbage in gives
// fewer frames.
func parseStack(stack []byte) []sentry.Frame {
	var frames []sentry.Frame
	lines := strings.Split(string(stack), "\n")
	for i := 0; i < len(lines); i++ {
		line := strings.TrimRight(lines[i], "\r")
		if line == "" || line[0] == '\t' || strings.HasPrefix(line, "goroutine ") {
			continue
		}
		fn := funcName(line)
		if fn == "" {
			continue
		}
		f := sentry.Frame{}
		if f.Module, f.Function = splitFuncName(fn); f.Function == "" {
			continue
		}
		if i+1 < len(lines) && strings.HasPrefix(lines[i+1], "\t") {
			i++
			f.AbsPath, f.Lineno = fileLine(strings.TrimRight(lines[i][1:], "\r"))
			if j := strings.LastIndexByte(f.AbsPath, '/'); j >= 0 {
				f.Filename = f.AbsPath[j+1:]
			} else {
				f.Filename = f.AbsPath
			}
		}
		f.InApp = inApp(f.Module)
		frames = append(frames, f)
	}
	for l, r := 0, len(frames)-1; l < r; l, r = l+1, r-1 {
		frames[l], frames[r] = frames[r], frames[l]
	}
	return frames
}

// funcName extracts the qualified function of a stack line: "pkg.F(0x1, ...)" or
// "created by pkg.F in goroutine 1".
func funcName(line string) string {
	if rest, ok := strings.CutPrefix(line, "created by "); ok {
		if i := strings.Index(rest, " in goroutine "); i >= 0 {
			rest = rest[:i]
		}
		return strings.TrimSpace(rest)
	}
	if !strings.HasSuffix(line, ")") {
		return ""
	}
	// The arguments never contain '(' (they are hex words, braces and "..."), so the last
	// '(' opens them; "(*T).M(...)" keeps its receiver.
	i := strings.LastIndexByte(line, '(')
	if i <= 0 {
		return ""
	}
	return line[:i]
}

// splitFuncName splits "github.com/a/b.(*T).M" into the package "github.com/a/b" and the
// function "(*T).M". An unqualified name is the runtime's: the builtin panic appears as
// "panic(...)".
func splitFuncName(fn string) (pkg, name string) {
	slash := strings.LastIndexByte(fn, '/') + 1
	if dot := strings.IndexByte(fn[slash:], '.'); dot >= 0 {
		return fn[:slash+dot], fn[slash+dot+1:]
	}
	return "runtime", fn
}

// fileLine parses "/path/file.go:12 +0x1d" into the path and the line number.
func fileLine(s string) (string, int) {
	if i := strings.LastIndex(s, " +0x"); i >= 0 {
		s = s[:i]
	}
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, ':'); i >= 0 {
		if n, err := strconv.Atoi(s[i+1:]); err == nil && n >= 0 {
			return s[:i], n
		}
	}
	return s, 0
}

// inApp reports whether a package is the program's own rather than the standard library's:
// standard packages have no dot in their first path element ("net/http", "runtime").
func inApp(pkg string) bool {
	first, _, _ := strings.Cut(pkg, "/")
	return pkg == "main" || strings.Contains(first, ".")
}
