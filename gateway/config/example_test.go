package config_test

import (
	"fmt"
	"os"

	"github.com/bulwark-go/bulwark/gateway/config"
)

func ExampleParse() {
	os.Setenv("SONGS_HOST", "10.0.0.5:8080")
	cfg, err := config.Parse("gw.yaml", []byte(`
center: sz
centers:
  sz: {gateway: http://10.0.0.1:8080, primary: true}
services:
  songs:
    upstreams: {sz: ["${SONGS_HOST}"]}
    timeout: {tavg: 40ms}
routes:
  - {path: /api/songs, service: songs}
`))
	if err != nil {
		fmt.Println(err)
		return
	}
	s := cfg.Services["songs"]
	fmt.Println(s.Upstreams["sz"], s.Timeout.Tavg, s.Timeout.Tmax, cfg.Admin.Listen)
	// Output: [10.0.0.5:8080] 40ms 500ms 127.0.0.1:9901
}

func ExampleParse_errors() {
	_, err := config.Parse("gw.yaml", []byte(`center: sz
centers:
  sz: {gateway: http://10.0.0.1:8080}
services:
  songs:
    upstreams: {sz: [10.0.0.5:8080]}
    timeout: {tavg: 60}
routes:
  - {path: /api/songs, service: song}
  - {path: /api/pay, service: songs, write: true}
`))
	fmt.Println(err)
	// Output:
	// gw.yaml:7: services.songs.timeout.tavg: "60" has no unit; write a duration such as 60ms or 1s
	// gw.yaml:9: routes[0].service: unknown service "song"; known services: songs
	// gw.yaml:10: routes[1].write: a write route needs a primary center, and none is; mark the center that takes writes with primary: true
}

func ExampleConfig_Summary() {
	cfg := &config.Config{
		Center:   "sz",
		Instance: "sz-1",
		Centers:  map[string]*config.Center{"sz": {Gateway: "http://10.0.0.1:8080", Primary: true}},
		Services: map[string]*config.Service{"songs": {Upstreams: map[string][]string{"sz": {"10.0.0.5:8080"}}}},
		Routes:   []*config.Route{{Path: "/api/songs", Service: "songs"}},
	}
	if err := cfg.Validate(); err != nil {
		fmt.Println(err)
		return
	}
	cfg.Summary(os.Stdout)
	// Output:
	// center    sz
	// instance  sz-1
	// listen    127.0.0.1:8080 (http)
	// admin     127.0.0.1:9901 (no token)
	// retry     on, period 1s
	//
	// CENTER     PRIMARY  GATEWAY
	// sz (this)  primary  http://10.0.0.1:8080
	//
	// SERVICE  LEVEL  HOSTS  TIMEOUT avg/hwm/max  BREAKER        RATE LIMIT  CONCURRENCY         FAILOVER     HEALTH
	// songs    1      sz=1   60ms/250ms/500ms     sre k=1.5/10s  -           no max, wait 500ms  all reasons  passive only
	//
	// ROUTE  HOST  PATH        METHODS  SERVICE  LEVEL    WRITE
	// 0      *     /api/songs  *        songs    service
}
