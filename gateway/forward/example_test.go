package forward_test

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/bulwark-go/bulwark/gateway/forward"
)

// Example shows the engine inside a gateway handler: buffer the body so that it can be
// replayed, try the local hosts in turn (a connect error or a 503 moves on to the next), and
// write the first good answer with the gateway's own headers.
func Example() {
	down := "127.0.0.1:1" // nothing listens there: a connect error
	busy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer busy.Close()
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "%s %s from %s: %s", r.Method, r.Host, r.Header.Get("X-Forwarded-For"), body)
	}))
	defer up.Close()

	eng := forward.New(forward.Options{DialTimeout: time.Second})
	defer eng.Close()
	hosts := []string{down, busy.Listener.Addr().String(), up.Listener.Addr().String()}

	gateway := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := forward.NewBody(r.Body, r.ContentLength, 1<<20, 64<<20)
		if errors.Is(err, forward.ErrBodyTooLarge) {
			http.Error(w, "too large", http.StatusRequestEntityTooLarge)
			return
		}
		if err != nil {
			return // the client went away mid-body
		}
		defer body.Release()
		for _, host := range hosts {
			resp, err := eng.RoundTrip(&forward.Request{In: r, Target: host, Body: body, Timeout: time.Second})
			if err != nil {
				fmt.Println("attempt:", forward.Classify(err))
				continue
			}
			if resp.StatusCode == http.StatusServiceUnavailable {
				fmt.Println("attempt: 503")
				resp.Discard()
				continue
			}
			err = eng.WriteResponse(w, resp, [][2]string{{"Bulwark-Center", "p"}}, nil)
			if errors.Is(err, forward.ErrUpstreamBody) {
				panic(http.ErrAbortHandler) // the client must not take a cut body for a whole one
			}
			return
		}
		w.WriteHeader(http.StatusBadGateway)
	}))
	defer gateway.Close()

	req, _ := http.NewRequest(http.MethodPost, gateway.URL+"/orders", strings.NewReader("one order"))
	req.Host = "shop.example"
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()
	got, _ := io.ReadAll(resp.Body)
	fmt.Println(resp.StatusCode, resp.Header.Get("Bulwark-Center"))
	fmt.Println(string(got))
	// Output:
	// attempt: connect
	// attempt: 503
	// 200 p
	// POST shop.example from 127.0.0.1: one order
}
