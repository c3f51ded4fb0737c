package fleet

import (
	"bytes"
	"testing"
)

func TestSwitchMessageCodec(t *testing.T) {
	good := []switchMessage{
		{op: switchOpSet, origin: "gw-1", field: "retry", value: []byte("on")},
		{op: switchOpSet, origin: "", field: "f", value: []byte{}},
		{op: switchOpSet, origin: "a", field: "bin", value: []byte{0, 0xff, '\n'}},
		{op: switchOpDelete, origin: "b", field: "retry"},
		{op: switchOpResync, origin: "c"},
	}
	for _, m := range good {
		t.Run("round trip "+string(m.op)+" "+m.field, func(t *testing.T) {
			got, err := decodeSwitchMessage(encodeSwitchMessage(m))
			if err != nil {
				t.Fatal(err)
			}
			if got.op != m.op || got.origin != m.origin || got.field != m.field || !bytes.Equal(got.value, m.value) {
				t.Fatalf("got %+v, want %+v", got, m)
			}
		})
	}
	bad := []struct {
		name string
		msg  []byte
	}{
		{"empty", nil},
		{"format only", []byte{switchFormat}},
		{"other format", []byte{2, 'S', 0, 1, 'f'}},
		{"unknown op", []byte{switchFormat, 'X', 0, 1, 'f'}},
		{"origin past the end", []byte{switchFormat, 'S', 5, 'a'}},
		{"field past the end", []byte{switchFormat, 'S', 0, 9, 'f'}},
		{"long-form length", []byte{switchFormat, 'D', 0x80, 0x00, 1, 'f'}},
		{"bad varint", []byte{switchFormat, 'S', 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}},
		{"set without a field", []byte{switchFormat, 'S', 0, 0, 'v'}},
		{"delete with a value", []byte{switchFormat, 'D', 0, 1, 'f', 'v'}},
		{"resync with a field", []byte{switchFormat, 'R', 0, 1, 'f'}},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			if m, err := decodeSwitchMessage(tt.msg); err == nil {
				t.Fatalf("accepted as %+v", m)
			}
		})
	}
}

func TestSwitchHashReply(t *testing.T) {
	if _, err := parseSwitchHash([]any{"a"}); err == nil {
		t.Fatal("odd length accepted")
	}
	if _, err := parseSwitchHash([]any{"a", int64(1)}); err == nil {
		t.Fatal("a number accepted")
	}
	if _, err := parseSwitchHash("x"); err == nil {
		t.Fatal("a string accepted")
	}
	m, err := parseSwitchHash([]any{"", "1", "k", "v"})
	if err != nil || len(m) != 2 || m["k"] != "v" {
		t.Fatalf("%q, %v", m, err)
	}
}

// FuzzSwitchMessage: decoding any payload from the channel fails cleanly or yields a message
// that encodes back to the same bytes.
func FuzzSwitchMessage(f *testing.F) {
	f.Add(encodeSwitchMessage(switchMessage{op: switchOpSet, origin: "a", field: "retry", value: []byte("on")}))
	f.Add(encodeSwitchMessage(switchMessage{op: switchOpDelete, origin: "b", field: "x"}))
	f.Add(encodeSwitchMessage(switchMessage{op: switchOpResync, origin: "c"}))
	f.Add([]byte{switchFormat, 'S', 0x80})
	f.Add([]byte("\x01D\x80\x00\x010")) // a length in a longer form than needed
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := decodeSwitchMessage(b)
		if err != nil {
			return
		}
		if again := encodeSwitchMessage(m); !bytes.Equal(again, b) {
			t.Fatalf("%q decoded as %+v encodes as %q", b, m, again)
		}
	})
}
