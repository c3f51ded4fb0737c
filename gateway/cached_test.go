package gateway

import (
	"bytes"
	"net/http"
	"reflect"
	"testing"
)

func TestResponseCodecRoundTrip(t *testing.T) {
	h := http.Header{"Content-Type": {"application/json"}, "X-Multi": {"a", "b"}, "Empty": {""}}
	for _, body := range [][]byte{nil, []byte(`{"ok":true}`), bytes.Repeat([]byte{0, 255}, 5000)} {
		cr, err := decodeResponse(encodeResponse(203, h, body))
		if err != nil {
			t.Fatal(err)
		}
		if cr.status != 203 || !reflect.DeepEqual(cr.header, h) || !bytes.Equal(cr.body, body) {
			t.Fatalf("round trip: %d %v %d bytes", cr.status, cr.header, len(cr.body))
		}
	}
}

func TestDecodeRejectsCorrupt(t *testing.T) {
	good := encodeResponse(200, http.Header{"A": {"b"}}, []byte("body"))
	tests := map[string][]byte{
		"empty":         nil,
		"wrong version": append([]byte{9}, good[1:]...),
		"bad status":    {responseFormat, 5, 0},
		"short header":  good[:5],
		"huge count":    {responseFormat, 200, 1, 0xff, 0xff, 0xff, 0xff, 0x0f},
		"lower key":     encodeResponse(200, http.Header{"a": {"b"}}, nil),
	}
	for name, b := range tests {
		t.Run(name, func(t *testing.T) {
			if _, err := decodeResponse(b); err == nil {
				t.Fatalf("decoded %q", b)
			}
		})
	}
}

func FuzzDecodeResponse(f *testing.F) {
	f.Add(encodeResponse(200, http.Header{"Content-Type": {"text/plain"}}, []byte("hi")))
	f.Add([]byte{responseFormat, 200, 1, 1, 'A', 1, 'b'})
	f.Fuzz(func(t *testing.T, b []byte) {
		cr, err := decodeResponse(b)
		if err != nil {
			return
		}
		again, err := decodeResponse(encodeResponse(cr.status, cr.header, cr.body))
		if err != nil || again.status != cr.status || !bytes.Equal(again.body, cr.body) || len(again.header) != len(cr.header) {
			t.Fatalf("re-encoding changed the response: %v", err)
		}
	})
}

func TestStorable(t *testing.T) {
	key := map[string]bool{"Accept-Language": true}
	tests := []struct {
		name string
		h    http.Header
		want bool
	}{
		{"plain", http.Header{"Content-Type": {"text/plain"}}, true},
		{"no-store", http.Header{"Cache-Control": {"max-age=60, No-Store"}}, false},
		{"private", http.Header{"Cache-Control": {"private"}}, false},
		{"private fields", http.Header{"Cache-Control": {`private="x"`}}, false},
		{"public", http.Header{"Cache-Control": {"public, max-age=60"}}, true},
		{"cookie", http.Header{"Set-Cookie": {"a=b"}}, false},
		{"vary in key", http.Header{"Vary": {"accept-language"}}, true},
		{"vary not in key", http.Header{"Vary": {"Accept-Language, Cookie"}}, false},
		{"vary star", http.Header{"Vary": {"*"}}, false},
		{"trailer", http.Header{"Trailer": {"X-Sum"}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := storable(tt.h, key); got != tt.want {
				t.Fatalf("storable(%v) = %v, want %v", tt.h, got, tt.want)
			}
		})
	}
}
