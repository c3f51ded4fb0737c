package demo

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/adaptive"
	"github.com/bulwark-go/bulwark/internal/cpulock"
)

// TestStory plays the whole story, shortened, and requires every phase to meet its stated
// expectation: the demo is itself a test. It holds the suite's CPU lock: the topology, the
// gateways and the load share this process, and a starved process misses its own schedule.
func TestStory(t *testing.T) {
	if testing.Short() {
		t.Skip("the story takes 30 s")
	}
	cpulock.Hold(t)
	cpu := &StoryCPU{}
	top, err := Start(Options{CPU: func(string) adaptive.CPU { return cpu }})
	if err != nil {
		t.Fatal(err)
	}
	defer top.Close()
	var live strings.Builder
	sum, err := RunStory(context.Background(), top, cpu, StoryOptions{Duration: 30 * time.Second, ReadRate: 30, Live: &syncWriter{b: &live}})
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	sum.WriteText(&out)
	t.Log(out.String())
	if !sum.Pass {
		t.Errorf("the story failed:\n%s\nlive view:\n%s", out.String(), live.String())
	}
	if len(sum.Phases) != 5 || !strings.Contains(live.String(), "phase 4") {
		t.Errorf("phases %d; live view:\n%s", len(sum.Phases), live.String())
	}
}

// syncWriter is a strings.Builder safe for the live view's goroutine.
type syncWriter struct {
	mu sync.Mutex
	b  *strings.Builder
}

func (w *syncWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}
