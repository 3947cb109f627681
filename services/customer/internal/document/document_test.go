package document_test

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/rapportcrm/rapport/pkg/validation"
	"github.com/rapportcrm/rapport/services/customer/internal/document"
)

func TestDetectContentType(t *testing.T) {
	t.Parallel()
	png := []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
	zip := []byte("PK\x03\x04\x14\x00\x00\x00")
	tests := []struct {
		name, file string
		head       []byte
		want       string
	}{
		{"sniffed PDF", "a.pdf", []byte("%PDF-1.7\n"), "application/pdf"},
		{"content beats the name", "photo.pdf", png, "image/png"},
		{"binary named by extension", "data.wasm", []byte{0, 'a', 's', 'm', 1, 0, 0, 0}, "application/wasm"},
		{"unknown binary", "blob.bin-unknown", []byte{0, 1, 2, 3}, "application/octet-stream"},
		{"text refined to JSON", "a.json", []byte(`{"a": 1}`), "application/json"},
		{"text not refined to a binary type", "a.png", []byte("hello"), "text/plain; charset=utf-8"},
		{"text without extension", "README", []byte("hello"), "text/plain; charset=utf-8"},
		{"upper-case extension", "A.JSON", []byte(`[1]`), "application/json"},
		{"zip stays zip", "a.zip-unknown", zip, "application/zip"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := document.DetectContentType(tt.head, tt.file); got != tt.want {
				t.Fatalf("DetectContentType(%q, %s) = %s, want %s", tt.head, tt.file, got, tt.want)
			}
		})
	}
}

func TestBodyLimit(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		size    int
		limit   int64
		wantErr bool
	}{
		{"under", 99, 100, false},
		{"at", 100, 100, false},
		{"over", 101, 100, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := document.NewBody(bytes.NewReader(bytes.Repeat([]byte("a"), tt.size)), tt.limit)
			_, err := io.Copy(io.Discard, b)
			var verr *validation.Error
			if got := errors.As(err, &verr); got != tt.wantErr {
				t.Fatalf("reading %d bytes under limit %d: error %v, want a limit error %t", tt.size, tt.limit, err, tt.wantErr)
			}
			if !b.Started() {
				t.Fatalf("Started() = false after reading")
			}
		})
	}
}
