package fleet

import (
	"bytes"
	"testing"
)

func TestCacheCodecRoundTrip(t *testing.T) {
	tests := []struct {
		name    string
		payload []byte
	}{
		{"empty", []byte{}},
		{"text", []byte("hello")},
		{"binary", []byte{0, 1, 2, 255, 'B', 1}},
		{"1 KiB", bytes.Repeat([]byte("x"), 1024)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			enc := encodeCacheValue(tt.payload)
			got, err := decodeCacheValue(enc)
			if err != nil || !bytes.Equal(got, tt.payload) {
				t.Fatalf("decode(encode(%q)) = %q, %v", tt.payload, got, err)
			}
			for i := range enc { // every single-byte change is caught
				bad := bytes.Clone(enc)
				bad[i] ^= 0x40
				if _, err := decodeCacheValue(bad); err == nil {
					t.Fatalf("flipping byte %d went unnoticed", i)
				}
			}
			if _, err := decodeCacheValue(enc[:len(enc)-1]); len(enc) > cacheHeaderLen && err == nil {
				t.Fatal("a truncated value went unnoticed")
			}
		})
	}
}

// FuzzCacheDecode: decoding never panics, and whatever decodes is exactly what encoding its
// payload gives (so nothing but a well-formed value is ever served).
func FuzzCacheDecode(f *testing.F) {
	f.Add(encodeCacheValue([]byte("hello")))
	f.Add(encodeCacheValue(nil))
	f.Add([]byte("garbage"))
	f.Add([]byte{cacheMagic, cacheFormatVersion, 0, 0, 0, 1, 0, 0, 0, 0, 'x'})
	f.Fuzz(func(t *testing.T, b []byte) {
		payload, err := decodeCacheValue(b)
		if err != nil {
			return
		}
		if !bytes.Equal(encodeCacheValue(payload), b) {
			t.Fatalf("decoded %q from %q, which is not its encoding", payload, b)
		}
	})
}
