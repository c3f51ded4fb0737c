package fleet

import (
	"encoding/binary"
	"errors"
	"hash/crc32"
)

// Values the Cache and the DRCache keep in Redis carry a small header, so that a value that
// was cut short, overwritten by something else, or written by an incompatible version is
// recognized and skipped instead of served:
//
//	offset 0  1 byte   magic 'B'
//	offset 1  1 byte   format version (1)
//	offset 2  4 bytes  payload length, big-endian
//	offset 6  4 bytes  CRC-32C (Castagnoli) of the payload, big-endian
//	offset 10          payload
const (
	cacheMagic         = 'B'
	cacheFormatVersion = 1
	cacheHeaderLen     = 10
)

var (
	cacheCRCTable = crc32.MakeTable(crc32.Castagnoli)

	// errCacheCorrupt marks a value read from Redis that fails to decode or check.
	errCacheCorrupt = errors.New("fleet: cached value is corrupt")
)

// encodeCacheValue returns payload with its header, in a new slice.
func encodeCacheValue(payload []byte) []byte {
	b := make([]byte, cacheHeaderLen+len(payload))
	b[0] = cacheMagic
	b[1] = cacheFormatVersion
	binary.BigEndian.PutUint32(b[2:6], uint32(len(payload)))
	binary.BigEndian.PutUint32(b[6:10], crc32.Checksum(payload, cacheCRCTable))
	copy(b[cacheHeaderLen:], payload)
	return b
}

// decodeCacheValue checks b's header and checksum and returns its payload, which shares b's
// memory. Any mismatch is errCacheCorrupt.
func decodeCacheValue(b []byte) ([]byte, error) {
	if len(b) < cacheHeaderLen || b[0] != cacheMagic || b[1] != cacheFormatVersion {
		return nil, errCacheCorrupt
	}
	payload := b[cacheHeaderLen:]
	if uint64(binary.BigEndian.Uint32(b[2:6])) != uint64(len(payload)) {
		return nil, errCacheCorrupt
	}
	if binary.BigEndian.Uint32(b[6:10]) != crc32.Checksum(payload, cacheCRCTable) {
		return nil, errCacheCorrupt
	}
	return payload, nil
}
