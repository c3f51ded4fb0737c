package main

import (
	"bytes"
	"cmp"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
)

// ours is the implementation name of Bulwark's side in every family.
const ours = "bulwark"

// Units the table reads; any other unit is listed with the raw medians.
const (
	unitNs     = "ns/op"
	unitBytes  = "B/op"
	unitAllocs = "allocs/op"
)

// An impl is the medians of one implementation in one row.
type impl struct {
	name    string
	n       int                // samples
	medians map[string]float64 // unit → median
	units   []string           // units in first-seen order
}

// A row is one family and variant at one GOMAXPROCS: ours against its peers.
type row struct {
	family, variant string
	impls           []*impl // in first-seen order
}

// A table is every row at one GOMAXPROCS.
type table struct {
	procs int
	rows  []*row
}

// summarize groups results by GOMAXPROCS, then by family and variant, then
// by implementation, and takes the median of every unit. Tables are in
// ascending GOMAXPROCS; rows and implementations in the order the results
// first name them.
func summarize(results []Result) []table {
	type implKey struct {
		procs                  int
		family, variant, named string
	}
	type rowKey struct {
		procs           int
		family, variant string
	}
	samples := map[implKey]map[string][]float64{}
	impls := map[implKey]*impl{}
	rows := map[rowKey]*row{}
	byProcs := map[int]*table{}
	for _, r := range results {
		family, name, variant := r.Split()
		rk := rowKey{r.Procs, family, variant}
		ik := implKey{r.Procs, family, variant, name}
		t := byProcs[r.Procs]
		if t == nil {
			t = &table{procs: r.Procs}
			byProcs[r.Procs] = t
		}
		rw := rows[rk]
		if rw == nil {
			rw = &row{family: family, variant: variant}
			rows[rk] = rw
			t.rows = append(t.rows, rw)
		}
		im := impls[ik]
		if im == nil {
			im = &impl{name: name, medians: map[string]float64{}}
			impls[ik] = im
			samples[ik] = map[string][]float64{}
			rw.impls = append(rw.impls, im)
		}
		im.n++
		for _, v := range r.Values {
			if _, seen := samples[ik][v.Unit]; !seen {
				im.units = append(im.units, v.Unit)
			}
			samples[ik][v.Unit] = append(samples[ik][v.Unit], v.Value)
		}
	}
	for k, im := range impls {
		for unit, xs := range samples[k] {
			im.medians[unit] = median(xs)
		}
	}
	var tables []table
	for _, t := range byProcs {
		tables = append(tables, *t)
	}
	slices.SortFunc(tables, func(a, b table) int { return cmp.Compare(a.procs, b.procs) })
	return tables
}

// median returns the median of xs (the mean of the middle two for an even
// count); xs must not be empty. It sorts xs.
func median(xs []float64) float64 {
	slices.Sort(xs)
	n := len(xs)
	if n%2 == 1 {
		return xs[n/2]
	}
	return (xs[n/2-1] + xs[n/2]) / 2
}

// A verdict compares ours with the fastest peer of a row.
type verdict struct {
	ours, peer *impl // nil when missing
	ratio      float64
	pass       bool
}

// judge finds ours and the fastest peer (least median ns/op) of a row.
// The verdict passes when ours is no slower (ratio ≤ 1.0) and allocates
// nothing.
func judge(r *row) verdict {
	var v verdict
	for _, im := range r.impls {
		if _, ok := im.medians[unitNs]; !ok {
			continue
		}
		if im.name == ours {
			v.ours = im
		} else if v.peer == nil || im.medians[unitNs] < v.peer.medians[unitNs] {
			v.peer = im
		}
	}
	if v.ours == nil || v.peer == nil {
		return v
	}
	v.ratio = v.ours.medians[unitNs] / v.peer.medians[unitNs]
	allocs, known := v.ours.medians[unitAllocs]
	v.pass = v.ratio <= 1.0 && known && allocs == 0
	return v
}

// mark is the verdict column: ✓, or ✗ with what failed, or ? when a side is
// missing.
func (v verdict) mark() string {
	if v.ours == nil || v.peer == nil {
		return "? (no ours or no peer)"
	}
	if v.pass {
		return "✓"
	}
	var why []string
	if v.ratio > 1.0 {
		why = append(why, "slower")
	}
	if a, ok := v.ours.medians[unitAllocs]; !ok || a != 0 {
		why = append(why, "allocates")
	}
	return "✗ " + strings.Join(why, ", ")
}

// write prints one table per GOMAXPROCS, then the raw medians of every
// implementation.
func write(w io.Writer, tables []table, config map[string]string) error {
	var buf bytes.Buffer
	tw := tabwriter.NewWriter(&buf, 0, 0, 2, ' ', 0)
	if c := config["cpu"]; c != "" {
		fmt.Fprintf(tw, "cpu: %s\n", c)
	}
	fmt.Fprintln(tw, "medians over the runs; ratio = ours/peer ns/op; ✓ = ratio ≤ 1.00 and ours 0 allocs/op")
	for _, t := range tables {
		fmt.Fprintf(tw, "\nGOMAXPROCS=%d\n", t.procs)
		fmt.Fprintln(tw, "family\tvariant\tours ns/op\tallocs/op\tfastest peer\tns/op\tallocs/op\tratio\tverdict")
		for _, r := range t.rows {
			v := judge(r)
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.family, r.variant,
				value(v.ours, unitNs), value(v.ours, unitAllocs),
				name(v.peer), value(v.peer, unitNs), value(v.peer, unitAllocs),
				ratio(v), v.mark())
		}
	}
	for _, t := range tables {
		fmt.Fprintf(tw, "\nraw medians, GOMAXPROCS=%d\n", t.procs)
		fmt.Fprintln(tw, "benchmark\truns\tns/op\tB/op\tallocs/op\tother")
		for _, r := range t.rows {
			for _, im := range r.impls {
				fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\n", path(r, im), im.n,
					value(im, unitNs), value(im, unitBytes), value(im, unitAllocs), others(im))
			}
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	// tabwriter pads the last cell when it is empty: trim that.
	for line := range strings.Lines(buf.String()) {
		if _, err := io.WriteString(w, strings.TrimRight(line, " \n")+"\n"); err != nil {
			return err
		}
	}
	return nil
}

func path(r *row, im *impl) string {
	p := r.family + "/" + im.name
	if r.variant != "" {
		p += "/" + r.variant
	}
	return p
}

func name(im *impl) string {
	if im == nil {
		return "-"
	}
	return im.name
}

func value(im *impl, unit string) string {
	if im == nil {
		return "-"
	}
	v, ok := im.medians[unit]
	if !ok {
		return "-"
	}
	if unit == unitNs {
		return strconv.FormatFloat(v, 'f', 1, 64)
	}
	return format(v)
}

func ratio(v verdict) string {
	if v.ours == nil || v.peer == nil {
		return "-"
	}
	return strconv.FormatFloat(v.ratio, 'f', 2, 64)
}

// others lists the units the table does not show, such as waits/op.
func others(im *impl) string {
	var out []string
	for _, u := range im.units {
		if u != unitNs && u != unitBytes && u != unitAllocs {
			out = append(out, u+"="+format(im.medians[u]))
		}
	}
	return strings.Join(out, " ")
}

// format prints a value with up to one decimal, or with three significant
// digits when it is below 1 (a metric such as waits/op), and whole numbers
// without decimals.
func format(v float64) string {
	switch {
	case v == float64(int64(v)):
		return strconv.FormatInt(int64(v), 10)
	case v < 1 && v > -1:
		return strconv.FormatFloat(v, 'g', 3, 64)
	default:
		return strconv.FormatFloat(v, 'f', 1, 64)
	}
}
