package fleet

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bulwark-go/bulwark/internal/redistest"
)

// drTVotes turns a compact sequence such as "A×8 B×6" or "A B B" into answers.
func drTVotes(seq string) []string {
	var out []string
	for _, tok := range strings.Fields(seq) {
		v, n, ok := strings.Cut(tok, "×")
		count := 1
		if ok {
			count, _ = strconv.Atoi(n)
		}
		for range count {
			out = append(out, v)
		}
	}
	return out
}

// drTState returns Redis's counts for sig, by answer, and checks that the values hash holds
// exactly the same candidates.
func drTState(t *testing.T, d *DRCache, sig string, names map[string]string) map[string]int64 {
	t.Helper()
	ctx := context.Background()
	counts, values := d.keys(sig)
	raw, err := d.f.Client().HGetAll(ctx, counts).Result()
	if err != nil {
		t.Fatal(err)
	}
	ids, err := d.f.Client().HKeys(ctx, values).Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(ids) != len(raw) {
		t.Fatalf("values hash has %d candidates, counts hash %d", len(ids), len(raw))
	}
	out := map[string]int64{}
	for id, n := range raw {
		out[names[id]], _ = strconv.ParseInt(n, 10, 64)
	}
	return out
}

// drTModelState returns the local votes for sig, by answer.
func drTModelState(d *DRCache, sig string, names map[string]string) map[string]int64 {
	out := map[string]int64{}
	if l, ok := d.local.GetIfPresent(sig); ok {
		for _, c := range l.votes {
			out[names[c.id]] = c.n
		}
	}
	return out
}

// TestDRVoteRule: the documented vote, run by the Lua script in Redis and by the Go copy
// used for the local fallback; both must give the same counts and the same winner.
// Candidate ids order D < A < C < B, so a tie between A and B goes to A.
func TestDRVoteRule(t *testing.T) {
	s := redistest.Start(t)
	f := cacheTFleet(t, s.Addr, "a", nil)
	names := map[string]string{}
	for _, v := range []string{"A", "B", "C", "D"} {
		names[drCandidateID([]byte(v))] = v
	}
	tests := []struct {
		name       string
		k          int
		decayAt    int64
		votes      string
		want       string
		wantCounts map[string]int64
	}{
		{"one answer", 4, 32, "A", "A", map[string]int64{"A": 1}},
		{"most frequent wins", 4, 32, "A B B A B", "B", map[string]int64{"A": 2, "B": 3}},
		{"order does not matter before decay", 4, 32, "B B B A A", "B", map[string]int64{"A": 2, "B": 3}},
		{"tie goes to the smallest id", 4, 32, "B A", "A", map[string]int64{"A": 1, "B": 1}},
		{"old answer holds without decay", 4, 1000, "A×8 B×6", "A", map[string]int64{"A": 8, "B": 6}},
		{"too few new answers to overtake", 4, 8, "A×8 B×3", "A", map[string]int64{"A": 4, "B": 3}},
		{"new answer overtakes after decay", 4, 8, "A×8 B×6", "B", map[string]int64{"A": 2, "B": 3}},
		{"decay drops a one-off answer", 4, 8, "C A×8", "A", map[string]int64{"A": 4}},
		{"K=1 keeps only the last answer", 1, 32, "A×3 B", "B", map[string]int64{"B": 1}},
		{"K=2 evicts the weakest other", 2, 32, "A×3 B C", "A", map[string]int64{"A": 3, "C": 1}},
		{"K=2 eviction ties go to the greatest id", 2, 32, "A C B", "A", map[string]int64{"A": 1, "B": 1}},
		{"four candidates", 4, 32, "D A A C C C B", "C", map[string]int64{"A": 2, "B": 1, "C": 3, "D": 1}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := NewDRCache(f, fmt.Sprintf("vote%d", i), time.Hour, WithDRCandidates(tt.k), WithDRDecayAt(tt.decayAt))
			if err != nil {
				t.Fatal(err)
			}
			for _, v := range drTVotes(tt.votes) {
				d.write(drRecord{sig: "sig", val: []byte(v)})
			}
			if got := drTState(t, d, "sig", names); !maps.Equal(got, tt.wantCounts) {
				t.Fatalf("Redis counts %v, want %v", got, tt.wantCounts)
			}
			if got := drTModelState(d, "sig", names); !maps.Equal(got, tt.wantCounts) {
				t.Fatalf("local counts %v, want %v", got, tt.wantCounts)
			}
			if v, ok := d.Lookup(context.Background(), "sig"); !ok || string(v) != tt.want {
				t.Fatalf("Lookup = %q, %v; want %q", v, ok, tt.want)
			}
			l, _ := d.local.GetIfPresent("sig")
			if w, _ := l.votes.winner(); string(w.val) != tt.want || l.fleetID != drCandidateID([]byte(tt.want)) {
				t.Fatalf("local winner %q, fleet winner %q; want %q", w.val, names[l.fleetID], tt.want)
			}
		})
	}
}

// TestDRVoteScriptMatchesModel: random sequences give the same counts in Redis and in Go
// after every record.
func TestDRVoteScriptMatchesModel(t *testing.T) {
	s := redistest.Start(t)
	f := cacheTFleet(t, s.Addr, "a", nil)
	answers := []string{"A", "B", "C", "D", "E", "F"}
	names := map[string]string{}
	for _, v := range answers {
		names[drCandidateID([]byte(v))] = v
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for round := range 30 {
		k, decay := 1+rng.IntN(4), int64(2+rng.IntN(12))
		d, err := NewDRCache(f, fmt.Sprintf("model%d", round), time.Hour, WithDRCandidates(k), WithDRDecayAt(decay))
		if err != nil {
			t.Fatal(err)
		}
		var seq []string
		for range 40 {
			v := answers[min(rng.IntN(len(answers)), rng.IntN(len(answers)))] // skewed towards A
			seq = append(seq, v)
			d.write(drRecord{sig: "sig", val: []byte(v)})
			redisState, model := drTState(t, d, "sig", names), drTModelState(d, "sig", names)
			if !maps.Equal(redisState, model) {
				t.Fatalf("K=%d decay=%d after %v: Redis %v, Go %v", k, decay, seq, redisState, model)
			}
		}
	}
}
