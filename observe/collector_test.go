package observe_test

import (
	"compress/gzip"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	collectortrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
)

// obsSpan is one span as an OTLP collector stub received it.
type obsSpan struct {
	Name     string
	Attrs    map[string]string
	Resource map[string]string
	TraceID  []byte
}

// obsCollector is an OTLP trace collector stub: a real HTTP server (POST /v1/traces) or gRPC
// server on loopback that decodes real OTLP protobuf requests.
type obsCollector struct {
	mu      sync.Mutex
	spans   []obsSpan
	headers []http.Header
	calls   int
}

func (c *obsCollector) add(req *collectortrace.ExportTraceServiceRequest, h http.Header) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls++
	c.headers = append(c.headers, h)
	for _, rs := range req.GetResourceSpans() {
		res := obsKV(rs.GetResource().GetAttributes())
		for _, ss := range rs.GetScopeSpans() {
			for _, s := range ss.GetSpans() {
				c.spans = append(c.spans, obsSpan{Name: s.GetName(), Attrs: obsKV(s.GetAttributes()), Resource: res, TraceID: s.GetTraceId()})
			}
		}
	}
}

func obsKV(kvs []*commonpb.KeyValue) map[string]string {
	m := make(map[string]string, len(kvs))
	for _, kv := range kvs {
		v := kv.GetValue()
		switch {
		case v.GetStringValue() != "":
			m[kv.GetKey()] = v.GetStringValue()
		default:
			m[kv.GetKey()] = v.String()
		}
	}
	return m
}

func (c *obsCollector) Spans() []obsSpan {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]obsSpan(nil), c.spans...)
}

func (c *obsCollector) Headers() []http.Header {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]http.Header(nil), c.headers...)
}

// obsHTTPCollector starts the HTTP collector and returns it with its base URL.
func obsHTTPCollector(t *testing.T) (*obsCollector, string) {
	t.Helper()
	c := &obsCollector{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/v1/traces" {
			http.Error(w, "not found", http.StatusNotFound)
			return
		}
		var body io.Reader = r.Body
		if r.Header.Get("Content-Encoding") == "gzip" {
			zr, err := gzip.NewReader(r.Body)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			body = zr
		}
		b, err := io.ReadAll(body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		var req collectortrace.ExportTraceServiceRequest
		if err := proto.Unmarshal(b, &req); err != nil {
			http.Error(w, "bad protobuf: "+err.Error(), http.StatusBadRequest)
			return
		}
		c.add(&req, r.Header.Clone())
		out, _ := proto.Marshal(&collectortrace.ExportTraceServiceResponse{})
		w.Header().Set("Content-Type", "application/x-protobuf")
		w.Write(out)
	}))
	t.Cleanup(srv.Close)
	return c, srv.URL
}

type obsGRPCServer struct {
	collectortrace.UnimplementedTraceServiceServer
	c *obsCollector
}

func (s obsGRPCServer) Export(_ context.Context, req *collectortrace.ExportTraceServiceRequest) (*collectortrace.ExportTraceServiceResponse, error) {
	s.c.add(req, nil)
	return &collectortrace.ExportTraceServiceResponse{}, nil
}

// obsGRPCCollector starts the gRPC collector and returns it with its host:port.
func obsGRPCCollector(t *testing.T) (*obsCollector, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c := &obsCollector{}
	gs := grpc.NewServer()
	collectortrace.RegisterTraceServiceServer(gs, obsGRPCServer{c: c})
	go gs.Serve(ln)
	t.Cleanup(gs.Stop)
	return c, ln.Addr().String()
}

// obsWaitSpans polls (bounded) until the collector holds n spans.
func obsWaitSpans(t *testing.T, c *obsCollector, n int) []obsSpan {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		s := c.Spans()
		if len(s) >= n {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("collector holds %d spans after 10s, want %d", len(s), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
