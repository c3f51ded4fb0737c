package client_test

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/bulwark-go/bulwark/client"
)

// A client whose home center (sz) is down: the request fails over to bj's gateway, whose
// answer carries Bulwark-Center.
func Example() {
	// Two stand-in gateways on loopback; in production these are the centers' gateway URLs.
	sz := httptest.NewServer(http.NotFoundHandler())
	sz.Close() // sz is down: connections are refused
	bj := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Bulwark-Center", "bj")
		fmt.Fprintf(w, "hello from bj, path %s", r.URL.Path)
	}))
	defer bj.Close()

	c, err := client.New(client.Config{
		Centers: []client.Center{
			{Name: "sz", URL: sz.URL},
			{Name: "bj", URL: bj.URL},
		},
		Home:      "sz",
		Timeout:   2 * time.Second, // per attempt, until the response headers
		Probe:     "1.1.1.1:53",    // checked only when both centers fail
		FreezeFor: 10 * time.Second,
	})
	if err != nil {
		panic(err)
	}
	hc := c.HTTPClient() // or use c as the Transport of your own http.Client

	// The URL's host is a placeholder: the client sends the request to a center.
	resp, err := hc.Get("http://bulwark/hello")
	switch {
	case errors.Is(err, client.ErrFrozen):
		fmt.Println("both gateways are down; degrade at once:", err)
		return
	case err != nil:
		fmt.Println("failed:", err)
		return
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Println(resp.StatusCode, resp.Header.Get("Bulwark-Center"), string(body))
	// Output:
	// 200 bj hello from bj, path /hello
}
