package demo

import (
	"fmt"
	"io"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/bulwark-go/bulwark/loadgen"
)

// liveView prints the story as it runs, once a second: per center and per level the request
// rate, success and p99 of the last second, and per center the songs failovers and retry
// window, the requests shed so far, and the hosts out of rotation. On a terminal it redraws a
// table; otherwise it prints one line per second.
type liveView struct {
	top    *Topology
	out    io.Writer
	tty    bool
	phases int

	mu    sync.Mutex
	snaps map[string]map[string]loadgen.Snapshot // center → service → last tick
	phase int
	name  string
	start time.Time
	fo    map[string]float64 // center → songs failovers counted at the last print
	done  chan struct{}
	wg    sync.WaitGroup
}

func newLiveView(top *Topology, opts StoryOptions, phases int) *liveView {
	v := &liveView{top: top, out: opts.Live, tty: opts.TTY, phases: phases, snaps: map[string]map[string]loadgen.Snapshot{},
		start: time.Now(), fo: map[string]float64{}, done: make(chan struct{})}
	if v.out == nil {
		return v
	}
	v.wg.Add(1)
	go v.loop()
	return v
}

func (v *liveView) startPhase(i int, ph phase) {
	v.mu.Lock()
	v.phase, v.name = i+1, ph.name
	v.snaps = map[string]map[string]loadgen.Snapshot{}
	v.mu.Unlock()
	if v.out != nil && !v.tty {
		fmt.Fprintf(v.out, "== phase %d/%d: %s — expect: %s\n", i+1, v.phases, ph.name, ph.expect)
	}
}

func (v *liveView) tick(center, service string, s loadgen.Snapshot) {
	v.mu.Lock()
	if v.snaps[center] == nil {
		v.snaps[center] = map[string]loadgen.Snapshot{}
	}
	v.snaps[center][service] = s
	v.mu.Unlock()
}

func (v *liveView) stop() {
	if v.out == nil {
		return
	}
	close(v.done)
	v.wg.Wait()
}

func (v *liveView) loop() {
	defer v.wg.Done()
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-v.done:
			return
		case <-t.C:
			v.print()
		}
	}
}

// levelStats sums one second of a center's services of one level (0 = all levels).
func (v *liveView) levelStats(center string, level int) (rate, success float64, p99 time.Duration) {
	var finished, errs float64
	for _, s := range v.top.Services {
		if level != 0 && s.Level != level {
			continue
		}
		snap, ok := v.snaps[center][s.Name]
		if !ok {
			continue
		}
		rate += snap.Rate
		finished += snap.Rate
		errs += snap.Rate * snap.ErrorRate
		p99 = max(p99, snap.P99)
	}
	success = 1
	if finished > 0 {
		success = 1 - errs/finished
	}
	return rate, success, p99
}

// centerStatus reads what the load generator cannot see from a gateway: the songs failovers
// since the last print, the songs retry window, the requests shed so far, and the hosts out.
func (v *liveView) centerStatus(center string) (fo float64, window int64, shed uint64, out int) {
	ce := v.top.Centers[center]
	other := Secondary
	if center == Secondary {
		other = Primary
	}
	total := failovers(ce.AdminURL, other)
	fo, v.fo[center] = total-v.fo[center], total
	st := ce.Gateway.Status()
	for _, svc := range st.Services {
		if svc.Name == "songs" {
			window = svc.Windows[other].Window
		}
		for _, l := range svc.Admit.Levels {
			shed += l.Shed + l.TimedOut
		}
		for _, h := range svc.Hosts {
			if h.State.String() != "healthy" {
				out++
			}
		}
	}
	if st.Adaptive != nil {
		for _, l := range st.Adaptive.Admission.Levels {
			shed += l.Shed + l.TimedOut
		}
	}
	return fo, window, shed, out
}

func (v *liveView) print() {
	v.mu.Lock()
	defer v.mu.Unlock()
	elapsed := time.Since(v.start).Round(time.Second)
	if !v.tty {
		var b strings.Builder
		fmt.Fprintf(&b, "%4s phase %d %-18s", elapsed, v.phase, v.name)
		for _, c := range []string{Primary, Secondary} {
			r, s, p := v.levelStats(c, 0)
			fo, w, shed, out := v.centerStatus(c)
			fmt.Fprintf(&b, " | %s %4.0f/s ok %6.2f%% p99 %5s fo %3.0f win %4d shed %5d out %d",
				c, r, 100*s, p.Round(time.Millisecond), fo, w, shed, out)
		}
		fmt.Fprintln(v.out, b.String())
		return
	}
	var b strings.Builder
	b.WriteString("\033[H\033[2J") // home and clear
	fmt.Fprintf(&b, "bulwark demo — %s — phase %d/%d: %s\n\n", elapsed, v.phase, v.phases, v.name)
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "center\tlevel\treq/s\tsuccess\tp99\t")
	for _, c := range []string{Primary, Secondary} {
		for level := 1; level <= 4; level++ {
			r, s, p := v.levelStats(c, level)
			fmt.Fprintf(tw, "%s\t%d\t%.0f\t%.2f%%\t%s\t\n", c, level, r, 100*s, p.Round(time.Millisecond))
		}
	}
	tw.Flush()
	b.WriteString("\n")
	tw = tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "center\tsongs failovers/s\tretry window\tshed so far\thosts out\t")
	for _, c := range []string{Primary, Secondary} {
		fo, w, shed, out := v.centerStatus(c)
		fmt.Fprintf(tw, "%s\t%.0f\t%d\t%d\t%d\t\n", c, fo, w, shed, out)
	}
	tw.Flush()
	fmt.Fprint(v.out, b.String())
}
