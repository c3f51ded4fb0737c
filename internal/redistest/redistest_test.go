package redistest

import "testing"

func TestStartKillRestart(t *testing.T) {
	s := Start(t)
	if err := ping(s.Addr); err != nil {
		t.Fatal(err)
	}
	s.Kill()
	if ping(s.Addr) == nil || s.Running() {
		t.Fatal("the server answers after Kill")
	}
	s.Restart(t)
	if err := ping(s.Addr); err != nil || !s.Running() {
		t.Fatalf("after Restart: %v", err)
	}
}
