package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"
)

// backend is the example service's handler. It is safe for concurrent use.
type backend struct {
	name     string
	latency  time.Duration
	slots    chan struct{} // a semaphore of -workers slots; nil = unlimited
	failRate float64

	// Prebuilt header values and bodies: the hot paths allocate nothing of their own.
	nameHdr  []string
	jsonHdr  []string
	textHdr  []string
	songs    []byte
	songsLen []string
	healthz  []byte
	okLen    []string

	orders     atomic.Int64 // POST /api/orders recorded
	orderBytes atomic.Int64 // their body bytes
}

// song is one entry of GET /api/songs.
type song struct {
	ID     int    `json:"id"`
	Title  string `json:"title"`
	Artist string `json:"artist"`
}

// catalog is the fixed list that GET /api/songs returns.
var catalog = []song{
	{1, "Blue in Green", "Miles Davis"},
	{2, "Naima", "John Coltrane"},
	{3, "Peace Piece", "Bill Evans"},
	{4, "Song for My Father", "Horace Silver"},
	{5, "Take Five", "Dave Brubeck"},
}

// newBackend checks the settings and prebuilds the fixed responses.
func newBackend(name string, latency time.Duration, workers int, failRate float64) (*backend, error) {
	switch {
	case name == "":
		return nil, fmt.Errorf("-name: must not be empty")
	case latency < 0:
		return nil, fmt.Errorf("-latency: must be ≥ 0, got %v", latency)
	case workers < 0:
		return nil, fmt.Errorf("-workers: must be ≥ 0, got %d", workers)
	case !(failRate >= 0 && failRate <= 1): // also refuses NaN
		return nil, fmt.Errorf("-fail-rate: must be in [0, 1], got %v", failRate)
	}
	songs, err := json.Marshal(struct {
		Backend string `json:"backend"`
		Songs   []song `json:"songs"`
	}{name, catalog})
	if err != nil {
		return nil, err
	}
	songs = append(songs, '\n')
	b := &backend{
		name:     name,
		latency:  latency,
		failRate: failRate,
		nameHdr:  []string{name},
		jsonHdr:  []string{"application/json"},
		textHdr:  []string{"text/plain; charset=utf-8"},
		songs:    songs,
		songsLen: []string{strconv.Itoa(len(songs))},
		healthz:  []byte("ok\n"),
		okLen:    []string{"3"},
	}
	if workers > 0 {
		b.slots = make(chan struct{}, workers)
	}
	return b, nil
}

// ServeHTTP answers /healthz at once; every other request takes a worker slot, spends the
// service time, may fail by -fail-rate, and is then dispatched by path.
func (b *backend) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h["X-Backend"] = b.nameHdr // canonical key set directly: no per-request allocation
	if r.URL.Path == "/healthz" {
		h["Content-Type"] = b.textHdr
		h["Content-Length"] = b.okLen
		_, _ = w.Write(b.healthz)
		return
	}
	if b.slots != nil {
		select {
		case b.slots <- struct{}{}:
			defer func() { <-b.slots }()
		case <-r.Context().Done():
			return // the client gave up while queued; nobody reads an answer
		}
	}
	if b.latency > 0 {
		t := time.NewTimer(b.latency)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return
		}
	}
	if b.failRate > 0 && rand.Float64() < b.failRate {
		b.writeJSON(w, http.StatusInternalServerError, map[string]any{"backend": b.name, "error": "injected failure"})
		return
	}
	switch r.URL.Path {
	case "/api/songs":
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			b.notAllowed(w, "GET, HEAD")
			return
		}
		h["Content-Type"] = b.jsonHdr
		h["Content-Length"] = b.songsLen
		if r.Method == http.MethodGet {
			_, _ = w.Write(b.songs)
		}
	case "/api/orders":
		b.serveOrders(w, r)
	default:
		b.writeJSON(w, http.StatusOK, map[string]any{"backend": b.name, "method": r.Method, "path": r.URL.Path})
	}
}

// serveOrders records a POST's body length, or reports the totals on GET.
func (b *backend) serveOrders(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodPost:
		n, err := io.Copy(io.Discard, r.Body)
		if err != nil {
			b.writeJSON(w, http.StatusBadRequest, map[string]any{"backend": b.name, "error": "reading the body: " + err.Error()})
			return
		}
		b.orderBytes.Add(n)
		count := b.orders.Add(1)
		b.writeJSON(w, http.StatusCreated, map[string]any{"backend": b.name, "received": n, "orders": count})
	case http.MethodGet, http.MethodHead:
		b.writeJSON(w, http.StatusOK, map[string]any{"backend": b.name, "orders": b.orders.Load(), "bytes": b.orderBytes.Load()})
	default:
		b.notAllowed(w, "GET, HEAD, POST")
	}
}

// notAllowed answers 405 with the Allow header.
func (b *backend) notAllowed(w http.ResponseWriter, allow string) {
	w.Header().Set("Allow", allow)
	b.writeJSON(w, http.StatusMethodNotAllowed, map[string]any{"backend": b.name, "error": "method not allowed"})
}

// writeJSON writes v as a JSON body with its length. v is always encodable (maps of strings
// and numbers), so an encoding error cannot happen.
func (b *backend) writeJSON(w http.ResponseWriter, status int, v any) {
	body, _ := json.Marshal(v)
	body = append(body, '\n')
	h := w.Header()
	h["Content-Type"] = b.jsonHdr
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}
