package fleet

import (
	"encoding/binary"
	"errors"
)

// The ops a switches message carries.
const (
	switchOpSet    byte = 'S' // field = value
	switchOpDelete byte = 'D' // field removed
	switchOpResync byte = 'R' // read the whole hash again (an instance re-seeded it)
)

// switchFormat is the first byte of every message; a message in another format is ignored, so
// a later version can change the layout.
const switchFormat byte = 1

// switchMessage is one announcement on a Switches channel.
type switchMessage struct {
	op     byte
	origin string // the instance that made the change
	field  string
	value  []byte
}

// encodeSwitchMessage lays m out as: format, op, uvarint len(origin), origin, uvarint
// len(field), field, value (the rest). Values are opaque bytes.
func encodeSwitchMessage(m switchMessage) []byte {
	b := make([]byte, 0, 2+2*binary.MaxVarintLen64+len(m.origin)+len(m.field)+len(m.value))
	b = append(b, switchFormat, m.op)
	b = binary.AppendUvarint(b, uint64(len(m.origin)))
	b = append(b, m.origin...)
	b = binary.AppendUvarint(b, uint64(len(m.field)))
	b = append(b, m.field...)
	return append(b, m.value...)
}

var errSwitchMessage = errors.New("fleet: switches: malformed message")

// decodeSwitchMessage is the inverse of encodeSwitchMessage. It rejects a message in another
// format, an unknown op, a length past the end, and a set or delete without a field.
func decodeSwitchMessage(b []byte) (switchMessage, error) {
	if len(b) < 2 || b[0] != switchFormat {
		return switchMessage{}, errSwitchMessage
	}
	m := switchMessage{op: b[1]}
	if m.op != switchOpSet && m.op != switchOpDelete && m.op != switchOpResync {
		return switchMessage{}, errSwitchMessage
	}
	rest := b[2:]
	var ok bool
	if m.origin, rest, ok = switchString(rest); !ok {
		return switchMessage{}, errSwitchMessage
	}
	if m.field, rest, ok = switchString(rest); !ok {
		return switchMessage{}, errSwitchMessage
	}
	if (m.field == "") != (m.op == switchOpResync) || (m.op != switchOpSet && len(rest) > 0) {
		return switchMessage{}, errSwitchMessage
	}
	if m.op == switchOpSet {
		m.value = append([]byte{}, rest...)
	}
	return m, nil
}

// switchString reads a uvarint length (in its shortest form, so that a message has one
// encoding) and that many bytes.
func switchString(b []byte) (string, []byte, bool) {
	n, size := binary.Uvarint(b)
	var canonical [binary.MaxVarintLen64]byte
	if size <= 0 || size != binary.PutUvarint(canonical[:], n) || n > uint64(len(b)-size) {
		return "", nil, false
	}
	end := size + int(n)
	return string(b[size:end]), b[end:], true
}
