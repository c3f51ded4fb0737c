package forward

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// echoProtocol is a tiny upgraded protocol: after the 101, the server answers every line with
// the line in upper case, and closes when it reads "bye".
const echoProtocol = "echo-upper"

func upgradeBackend(t *testing.T, answerProtocol string) (addr string, done *signal) {
	done = newSignal()
	s := newBackend(t, func(w http.ResponseWriter, r *http.Request) {
		if upgradeType(r.Header) != echoProtocol {
			http.Error(w, "want an upgrade", http.StatusBadRequest)
			return
		}
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		defer done.fire()
		brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: " + answerProtocol +
			"\r\nX-Backend: 1\r\nKeep-Alive: timeout=5\r\n\r\n")
		brw.Flush()
		for {
			line, err := brw.ReadString('\n')
			if err != nil {
				return
			}
			brw.WriteString(strings.ToUpper(line))
			brw.Flush()
			if line == "bye\n" {
				return
			}
		}
	})
	return hostOf(s), done
}

// dialUpgrade opens a raw connection to addr, asks for the echo protocol and sends its first
// line in the same write as the request (it must reach the backend even though it arrives
// before the 101).
func dialUpgrade(t *testing.T, addr string) (net.Conn, *bufio.Reader, *http.Response) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, waitLimit)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(waitLimit))
	io.WriteString(c, "GET /ws HTTP/1.1\r\nHost: front.test\r\nConnection: keep-alive, Upgrade\r\nUpgrade: "+
		echoProtocol+"\r\n\r\nearly\n")
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	return c, br, resp
}

func TestUpgradePassesThrough(t *testing.T) {
	tests := []struct {
		name string
		hops int // engines between the client and the backend: 2 = via the remote center's gateway
	}{
		{"direct", 1},
		{"via remote gateway", 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkGoroutines(t)
			target, backendDone := upgradeBackend(t, echoProtocol)
			var front *proxy
			for i := range tt.hops {
				center := [][2]string{{"Bulwark-Center", "s"}} // the remote center's gateway
				if i == tt.hops-1 {
					center[0][1] = "p" // the gateway the client reached
				}
				front = newProxy(t, newEngine(t, Options{}), target, proxyConfig{setResp: center})
				target = hostOf(front.Server)
			}
			c, br, resp := dialUpgrade(t, target)
			if resp.StatusCode != http.StatusSwitchingProtocols {
				t.Fatalf("status %d", resp.StatusCode)
			}
			checks := []struct{ key, want string }{
				{"Upgrade", echoProtocol}, {"Connection", "Upgrade"}, {"X-Backend", "1"},
				{"Keep-Alive", ""}, {"Bulwark-Center", "p"},
			}
			for _, ch := range checks {
				if got := resp.Header.Get(ch.key); got != ch.want {
					t.Errorf("101 header %s = %q, want %q", ch.key, got, ch.want)
				}
			}
			for _, line := range []string{"early", "hello", "bye"} {
				if line != "early" {
					io.WriteString(c, line+"\n")
				}
				got, err := br.ReadString('\n')
				if err != nil || got != strings.ToUpper(line)+"\n" {
					t.Fatalf("echo of %q: %q, %v", line, got, err)
				}
			}
			// The backend closed after "bye": the client must see the end of the stream. Its
			// own side stays open (a half-closed protocol may still send), until it closes.
			if _, err := br.ReadByte(); err != io.EOF {
				t.Fatalf("after bye: %v, want EOF", err)
			}
			c.Close()
			if !backendDone.wait() {
				t.Fatal("backend handler did not end")
			}
			if err := front.result(t); err != nil {
				t.Errorf("WriteResponse: %v", err)
			}
		})
	}
}

func TestUpgradeClientCloses(t *testing.T) {
	checkGoroutines(t)
	target, backendDone := upgradeBackend(t, echoProtocol)
	p := newProxy(t, newEngine(t, Options{}), target, proxyConfig{})
	c, br, resp := dialUpgrade(t, hostOf(p.Server))
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if got, err := br.ReadString('\n'); got != "EARLY\n" {
		t.Fatalf("echo %q, %v", got, err)
	}
	c.Close()
	if !backendDone.wait() {
		t.Fatal("backend connection not closed after the client left")
	}
	if err := p.result(t); err != nil {
		t.Fatalf("WriteResponse: %v", err)
	}
}

func TestUpgradeWrongProtocolRefused(t *testing.T) {
	target, _ := upgradeBackend(t, "something-else")
	p := newProxy(t, newEngine(t, Options{}), target, proxyConfig{})
	_, _, resp := dialUpgrade(t, hostOf(p.Server))
	if resp.StatusCode != http.StatusBadGateway {
		t.Fatalf("status %d, want 502 from the caller", resp.StatusCode)
	}
	if err := p.result(t); !errors.Is(err, ErrBadUpgrade) {
		t.Fatalf("WriteResponse error %v, want ErrBadUpgrade", err)
	}
}
