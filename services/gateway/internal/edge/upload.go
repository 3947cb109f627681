package edge

import (
	"errors"
	"io"

	"google.golang.org/grpc"
)

// uploadPiece is how much of a request body one stream message carries.
const uploadPiece = 64 << 10

// relayUpload streams a request body to a client-streaming call: first,
// then the body in pieces that piece wraps, and returns the service's
// answer; a service that answered early (a bad header, say) has its status
// returned. A body that fails to read returns readErr without closing the
// stream, whose cancellation then tells the service the upload was cut
// short rather than complete.
func relayUpload[Req, Resp any](stream grpc.ClientStreamingClient[Req, Resp], first *Req, piece func([]byte) *Req, body io.Reader, readErr error) (*Resp, error) {
	if err := stream.Send(first); err != nil {
		return stream.CloseAndRecv()
	}
	buf := make([]byte, uploadPiece)
	for {
		n, err := io.ReadFull(body, buf)
		if n > 0 {
			// Send may keep the slice until it is written; give it its own copy.
			if serr := stream.Send(piece(append([]byte(nil), buf[:n]...))); serr != nil {
				return stream.CloseAndRecv()
			}
		}
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return stream.CloseAndRecv()
		}
		if err != nil {
			return nil, readErr
		}
	}
}
