package httpmw_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/bulwark-go/bulwark/breaker"
	"github.com/bulwark-go/bulwark/degrade"
	"github.com/bulwark-go/bulwark/httpmw"
	"github.com/bulwark-go/bulwark/timeout"
)

func ExampleTransport() {
	inventory := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "fresh (deadline sent: %t)", r.Header.Get(httpmw.HeaderDeadline) != "")
	}))
	defer inventory.Close()

	sw, err := degrade.New() // passes every call until an operator moves it
	if err != nil {
		panic(err)
	}
	rt, err := httpmw.Transport(nil, // nil: http.DefaultTransport
		httpmw.WithName("inventory"),
		httpmw.WithBreaker(breaker.KindSRE, breaker.WithK(2)),
		httpmw.WithTimeout(timeout.WithThwm(250*time.Millisecond), timeout.WithTmax(time.Second)),
		httpmw.WithRateLimit(100, time.Second, nil), // per target host
		httpmw.WithDegrade(sw, func(r *http.Request, err error) (*http.Response, error) {
			// Refused or failed: answer from a cache. err says why (errors.Is with
			// degrade.ErrDegraded, breaker.ErrOpen, ratelimit.ErrLimited, httpmw.ErrTimeout).
			return &http.Response{StatusCode: http.StatusOK, Header: http.Header{},
				Body: io.NopCloser(strings.NewReader("cached")), Request: r}, nil
		}),
	)
	if err != nil {
		panic(err)
	}
	prometheus.NewRegistry().MustRegister(rt) // bulwark_httpmw_client_* metrics
	client := &http.Client{Transport: rt}

	get := func() {
		resp, err := client.Get(inventory.URL)
		if err != nil {
			fmt.Println(err)
			return
		}
		defer resp.Body.Close() // releases the call's context
		body, _ := io.ReadAll(resp.Body)
		fmt.Println(resp.StatusCode, string(body))
	}
	get()
	_ = sw.SetPass(0) // take the dependency out: calls go to the fallback
	get()
	// Output:
	// 200 fresh (deadline sent: true)
	// 200 cached
}
