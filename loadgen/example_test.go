package loadgen_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/bulwark-go/bulwark/loadgen"
)

func Example() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()

	p99, _ := loadgen.ParseRule("p99>500ms")
	rep, err := loadgen.Run(context.Background(), loadgen.Config{
		Targets:  []loadgen.Target{{Method: "GET", URL: srv.URL + "/api/songs"}},
		Schedule: loadgen.Constant(50), // requests per second
		Duration: time.Second,
		StopIf:   []loadgen.Rule{p99},
		Color:    "stress",
	})
	if err != nil {
		panic(err)
	}
	// rep.WriteText(os.Stdout) prints the full report; rep.Percentile(99) is the p99.
	fmt.Println(rep.Scheduled, rep.Sent, rep.Status[200], rep.Dropped, rep.StoppedBy == "")
	// Output: 50 50 50 0 true
}
