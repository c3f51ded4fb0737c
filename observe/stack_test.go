package observe

import (
	"runtime/debug"
	"strings"
	"testing"
)

const obsStackText = `goroutine 7 [running]:
runtime/debug.Stack()
	/usr/lib/go/src/runtime/debug/stack.go:26 +0x5e
github.com/bulwark-go/bulwark/gateway.(*Gateway).serve.func1()
	/src/gateway/gateway.go:120 +0x1d
panic({0x7a2b40?, 0xc000012345?})
	/usr/lib/go/src/runtime/panic.go:792 +0x132
main.handler(...)
	/src/main.go:8
created by net/http.(*Server).Serve in goroutine 1
	/usr/lib/go/src/net/http/server.go:3454 +0x485
`

func TestParseStack(t *testing.T) {
	frames := parseStack([]byte(obsStackText))
	want := []struct {
		module, fn, file string
		line             int
		inApp            bool
	}{ // oldest first
		{"net/http", "(*Server).Serve", "server.go", 3454, false},
		{"main", "handler", "main.go", 8, true},
		{"runtime", "panic", "panic.go", 792, false},
		{"github.com/bulwark-go/bulwark/gateway", "(*Gateway).serve.func1", "gateway.go", 120, true},
		{"runtime/debug", "Stack", "stack.go", 26, false},
	}
	if len(frames) != len(want) {
		t.Fatalf("%d frames: %+v", len(frames), frames)
	}
	for i, w := range want {
		f := frames[i]
		if f.Module != w.module || f.Function != w.fn || f.Filename != w.file || f.Lineno != w.line || f.InApp != w.inApp {
			t.Errorf("frame %d = %+v, want %+v", i, f, w)
		}
	}
}

func TestParseStackOfThisGoroutine(t *testing.T) {
	frames := parseStack(debug.Stack())
	top := frames[len(frames)-2] // under debug.Stack
	if top.Function != "TestParseStackOfThisGoroutine" || top.Module != "github.com/bulwark-go/bulwark/observe" ||
		!strings.HasSuffix(top.AbsPath, "stack_test.go") || top.Lineno == 0 {
		t.Fatalf("frame under debug.Stack = %+v", top)
	}
}

// FuzzParseStack: any input parses without a panic, and every frame has a function.
func FuzzParseStack(f *testing.F) {
	f.Add(obsStackText)
	f.Add("created by \n\t:\n()")
	f.Add("a.b(\n\tx:-1 +0x")
	f.Add(".()") // once gave a frame with neither package nor function
	f.Fuzz(func(t *testing.T, s string) {
		for _, fr := range parseStack([]byte(s)) {
			if fr.Function == "" && fr.Module == "" {
				t.Fatalf("empty frame from %q", s)
			}
			if fr.Lineno < 0 {
				t.Fatalf("negative line from %q", s)
			}
		}
	})
}
