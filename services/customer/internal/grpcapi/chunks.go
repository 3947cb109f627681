package grpcapi

// chunkReader reads the byte chunks of a client stream as one byte stream;
// next returns the next message's chunk, or fails on a message that has none.
type chunkReader struct {
	next func() ([]byte, error)
	buf  []byte
}

// Read implements io.Reader.
func (r *chunkReader) Read(p []byte) (int, error) {
	for len(r.buf) == 0 {
		chunk, err := r.next()
		if err != nil {
			return 0, err
		}
		r.buf = chunk
	}
	n := copy(p, r.buf)
	r.buf = r.buf[n:]
	return n, nil
}
