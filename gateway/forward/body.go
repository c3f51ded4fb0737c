package forward

import (
	"errors"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
)

// chunkSize is the unit of a Body's buffer. Chunks come from a pool and are never grown or
// copied: a body of n bytes holds ⌈n/chunkSize⌉ of them.
const chunkSize = 16 << 10

var chunkPool = sync.Pool{New: func() any { b := make([]byte, chunkSize); return &b }}

// Body holds an incoming request body so that it can be sent to more than one upstream: another
// local host after a connect error, or the other center on failover.
//
// A body no longer than the replay limit is read whole into pooled chunks by NewBody and is
// replayable: every attempt reads the same bytes. A longer one is not: it streams to a single
// attempt, which reads the prefix NewBody buffered (if any) and then the rest of the incoming
// body. Sent reports whether an attempt has started reading it; once a non-replayable body is
// sent, RoundTrip refuses to send it again (ErrNotReplayable).
//
// A Body is used by one request: RoundTrip and the transport goroutines it starts read it,
// while the request's handler calls Replayable, Sent and Release. Release returns the chunks to
// the pool once the last attempt's reader is closed, so a transport goroutine that is still
// writing a discarded attempt never reads a chunk that another request reuses.
type Body struct {
	chunks     []*[]byte
	size       int64         // bytes held in chunks
	length     int64         // total length when known, else -1
	rest       io.ReadCloser // the unread remainder of the incoming body; nil when all is held
	maxBytes   int64
	replayable bool
	getBody    func() (io.ReadCloser, error) // for http.Request.GetBody; nil unless replayable

	sent     atomic.Bool
	tooLarge atomic.Bool

	mu       sync.Mutex
	refs     int // the owner's reference, plus one per open reader
	released bool
}

// NewBody prepares the incoming body r (of contentLength bytes, -1 when unknown) for forwarding.
//
//   - r nil or http.NoBody, or contentLength 0: an empty, replayable body; nothing is read.
//   - maxBytes > 0 and contentLength > maxBytes: ErrBodyTooLarge at once; nothing is read.
//   - contentLength > replayLimit: not replayable; nothing is read now, and the single attempt
//     streams r.
//   - contentLength known and ≤ replayLimit: exactly contentLength bytes are read now (a shorter
//     body is io.ErrUnexpectedEOF); replayable.
//   - contentLength unknown: up to replayLimit+1 bytes are read now. If r ends within
//     replayLimit bytes the body is replayable with that length; otherwise it is not, and the
//     attempt sends the bytes read so far followed by the rest of r. More than maxBytes in all
//     (maxBytes > 0) is ErrBodyTooLarge: from NewBody when already buffered, else from the
//     attempt's read, which fails the attempt with ErrBodyTooLarge in its error chain.
//
// A negative replayLimit counts as 0. A read error of r is returned (the client went away, or
// sent a broken body); the chunks are released then. NewBody never closes r: the http.Server
// owns the incoming body. The caller must call Release when the request is done.
func NewBody(r io.ReadCloser, contentLength, replayLimit, maxBytes int64) (*Body, error) {
	replayLimit = max(replayLimit, 0)
	b := &Body{length: contentLength, maxBytes: maxBytes, refs: 1}
	if r == nil || r == http.NoBody || contentLength == 0 {
		b.length = 0
		b.setReplayable()
		return b, nil
	}
	if maxBytes > 0 && contentLength > maxBytes {
		return nil, ErrBodyTooLarge
	}
	if contentLength > replayLimit {
		b.rest = r
		return b, nil
	}
	want := replayLimit + 1
	if contentLength > 0 {
		want = contentLength
	} else if maxBytes > 0 {
		want = min(want, maxBytes+1) // one byte past maxBytes proves the body too large
	}
	eof, err := b.fill(r, want)
	if err == nil && contentLength > 0 && b.size < contentLength {
		err = io.ErrUnexpectedEOF
	}
	if err == nil && maxBytes > 0 && b.size > maxBytes {
		err = ErrBodyTooLarge
	}
	if err != nil {
		b.Release()
		return nil, err
	}
	switch {
	case contentLength > 0 || eof:
		b.length = b.size
		b.setReplayable()
	default: // more than replayLimit bytes of unknown length: stream the rest
		b.rest = r
	}
	return b, nil
}

func (b *Body) setReplayable() {
	b.replayable = true
	b.getBody = func() (io.ReadCloser, error) {
		br := &bodyReader{}
		if err := b.open(br); err != nil {
			return nil, err
		}
		return br, nil
	}
}

// fill reads from r into pooled chunks until want bytes are held or r ends (eof true).
func (b *Body) fill(r io.Reader, want int64) (eof bool, err error) {
	for b.size < want {
		off := int(b.size % chunkSize)
		if off == 0 {
			b.chunks = append(b.chunks, chunkPool.Get().(*[]byte))
		}
		c := *b.chunks[len(b.chunks)-1]
		end := min(int64(chunkSize), int64(off)+want-b.size)
		n, rerr := r.Read(c[off:end])
		b.size += int64(n)
		if rerr == io.EOF {
			return true, nil
		}
		if rerr != nil {
			return false, rerr
		}
	}
	return false, nil
}

// Replayable reports whether every attempt can send the whole body (it is held in memory).
func (b *Body) Replayable() bool { return b.replayable }

// Sent reports whether any attempt has started reading the body. A dial that failed leaves it
// false, so even a non-replayable body may then go to another host.
func (b *Body) Sent() bool { return b.sent.Load() }

// AppendHead appends the first limit bytes of a replayable body (all of it when shorter) to
// dst and returns the result with ok true. It reads only what NewBody already holds, so it
// never consumes the incoming body and never disturbs an attempt, before, during or after
// one. A body that is not replayable (streamed), or already released, appends nothing and
// reports false. A limit ≤ 0 appends nothing.
func (b *Body) AppendHead(dst []byte, limit int64) ([]byte, bool) {
	if !b.replayable {
		return dst, false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.released {
		return dst, false
	}
	n := min(max(limit, 0), b.size)
	for i := int64(0); i < n; i += chunkSize {
		dst = append(dst, (*b.chunks[i/chunkSize])[:min(chunkSize, n-i)]...)
	}
	return dst, true
}

// Len returns the body's length in bytes, or -1 when it is not known (a streamed body of
// unknown length).
func (b *Body) Len() int64 { return b.length }

// Release gives the buffered chunks back to the pool once no attempt's reader is open any more.
// Call it once the request is finished; later calls do nothing. The Body must not be sent after
// Release.
func (b *Body) Release() {
	b.mu.Lock()
	if b.released {
		b.mu.Unlock()
		return
	}
	b.released = true
	b.unrefLocked()
	b.mu.Unlock()
}

func (b *Body) unrefLocked() {
	b.refs--
	if b.refs > 0 {
		return
	}
	for i, c := range b.chunks {
		chunkPool.Put(c)
		b.chunks[i] = nil
	}
	b.chunks = b.chunks[:0]
}

// errBodyReleased is returned when a Body is sent after Release.
var errBodyReleased = errors.New("forward: body sent after Release")

// open readies br as a new reader of b from its first byte. It fails after Release.
func (b *Body) open(br *bodyReader) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.released {
		return errBodyReleased
	}
	b.refs++
	br.b = b
	return nil
}

// bodyReader is one attempt's view of a Body. Reads of the held chunks happen under mu, and
// Close takes mu, so once Close returns no read of a chunk is in flight and the chunks can be
// recycled. Reads of the incoming remainder happen outside mu (they may block on the client);
// a read after Close fails with errBodyClosed.
type bodyReader struct {
	b      *Body
	mu     sync.Mutex
	pos    int64 // bytes delivered from the chunks
	restN  int64 // bytes delivered from b.rest
	closed atomic.Bool
}

// Read implements io.Reader.
func (br *bodyReader) Read(p []byte) (int, error) {
	b := br.b
	if !b.sent.Load() {
		b.sent.Store(true)
	}
	br.mu.Lock()
	if br.closed.Load() {
		br.mu.Unlock()
		return 0, errBodyClosed
	}
	if br.pos < b.size {
		n := 0
		for n < len(p) && br.pos < b.size {
			off := br.pos % chunkSize
			end := min(int64(chunkSize), off+b.size-br.pos)
			c := (*b.chunks[br.pos/chunkSize])[off:end]
			m := copy(p[n:], c)
			n += m
			br.pos += int64(m)
		}
		br.mu.Unlock()
		return n, nil
	}
	br.mu.Unlock()
	if b.rest == nil {
		return 0, io.EOF
	}
	n, err := b.rest.Read(p)
	br.restN += int64(n)
	if b.maxBytes > 0 && b.length < 0 && b.size+br.restN > b.maxBytes {
		b.tooLarge.Store(true)
		return 0, ErrBodyTooLarge
	}
	return n, err
}

// Close ends the reader; it waits for a chunk read in flight and drops the reader's reference.
func (br *bodyReader) Close() error {
	br.mu.Lock()
	if br.closed.Swap(true) {
		br.mu.Unlock()
		return nil
	}
	br.mu.Unlock()
	br.b.mu.Lock()
	br.b.unrefLocked()
	br.b.mu.Unlock()
	return nil
}

// incomingBody forwards the incoming request body to a single attempt (Request.Body nil). Close
// does not close the incoming body, which the server owns (see ReverseProxy's noopCloseReader);
// it only makes later reads fail, so that a transport goroutine cannot read the body after the
// handler has returned.
type incomingBody struct {
	rc     io.ReadCloser
	closed atomic.Bool
}

// Read implements io.Reader.
func (ib *incomingBody) Read(p []byte) (int, error) {
	if ib.closed.Load() {
		return 0, errBodyClosed
	}
	return ib.rc.Read(p)
}

// Close implements io.Closer.
func (ib *incomingBody) Close() error {
	ib.closed.Store(true)
	return nil
}
