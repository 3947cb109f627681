// Package smtpsink is a small SMTP server for tests: it listens on
// loopback, speaks EHLO, HELO, MAIL, RCPT, DATA, RSET, NOOP and QUIT (and,
// when asked, STARTTLS with its own certificate and AUTH PLAIN), keeps
// every message it accepts, and answers the end of DATA with whatever
// replies a test queued (451, 550, …) before accepting again.
package smtpsink

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"io"
	"math/big"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"strings"
	"sync"
	"testing"
	"time"
)

// Message is one accepted message.
type Message struct {
	From string
	To   []string
	Data string
	// Header is the parsed header ("Message-ID", "Subject", …).
	Header mail.Header
	// Text is the body, quoted-printable decoded.
	Text string
	// Reply is what the sink answered at the end of DATA.
	Reply string
}

// Sink is a running server.
type Sink struct {
	Addr string
	lis  net.Listener

	mu       sync.Mutex
	attempts []Message
	replies  []string
	tls      *tls.Config
	user     string
	password string
}

// Secure makes the sink offer STARTTLS with a fresh self-signed
// certificate for 127.0.0.1 and require AUTH PLAIN with user and password
// before MAIL; it returns the pool that trusts the certificate.
func (s *Sink) Secure(t testing.TB, user, password string) *x509.CertPool {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatalf("smtpsink key: %v", err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "smtpsink"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, NotBefore: time.Now().Add(-time.Minute), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatalf("smtpsink certificate: %v", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatalf("smtpsink certificate: %v", err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tls = &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}, MinVersion: tls.VersionTLS12}
	s.user, s.password = user, password
	return pool
}

// Start runs a sink until the test ends.
func Start(t testing.TB) *Sink {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("smtpsink: %v", err)
	}
	s := &Sink{Addr: lis.Addr().String(), lis: lis}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := lis.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() { defer wg.Done(); s.serve(c) }()
		}
	}()
	t.Cleanup(func() { lis.Close(); wg.Wait() })
	return s
}

// FailNext queues replies ("451 4.3.0 try later", "550 5.1.1 no such
// user") for the next messages' end of DATA, one each.
func (s *Sink) FailNext(replies ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.replies = append(s.replies, replies...)
}

// Messages returns the accepted messages.
func (s *Sink) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Message
	for _, m := range s.attempts {
		if strings.HasPrefix(m.Reply, "250") {
			out = append(out, m)
		}
	}
	return out
}

// Attempts returns every message whose DATA ended, accepted or not.
func (s *Sink) Attempts() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.attempts...)
}

func (s *Sink) serve(c net.Conn) {
	defer func() { c.Close() }()
	s.mu.Lock()
	tc, user, password := s.tls, s.user, s.password
	s.mu.Unlock()
	r, w := bufio.NewReader(c), bufio.NewWriter(c)
	say := func(line string) { w.WriteString(line + "\r\n"); w.Flush() }
	say("220 smtpsink ready")
	var from string
	var to []string
	secure, authed := false, tc == nil
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		line = strings.TrimRight(line, "\r\n")
		verb, arg, _ := strings.Cut(line, " ")
		switch strings.ToUpper(verb) {
		case "EHLO":
			say("250-smtpsink")
			switch {
			case tc != nil && !secure:
				say("250-STARTTLS")
			case tc != nil:
				say("250-AUTH PLAIN")
			}
			say("250 8BITMIME")
		case "STARTTLS":
			if tc == nil || secure {
				say("502 5.5.2 not offered")
				continue
			}
			say("220 2.0.0 go ahead")
			tlsConn := tls.Server(c, tc)
			if err := tlsConn.Handshake(); err != nil {
				return
			}
			c, secure = tlsConn, true
			r, w = bufio.NewReader(c), bufio.NewWriter(c)
		case "AUTH":
			mech, resp, _ := strings.Cut(arg, " ")
			creds, err := base64.StdEncoding.DecodeString(resp)
			parts := strings.Split(string(creds), "\x00")
			switch {
			case !secure || !strings.EqualFold(mech, "PLAIN"):
				say("504 5.5.4 PLAIN over TLS only")
			case err != nil || len(parts) != 3 || parts[1] != user || parts[2] != password:
				say("535 5.7.8 authentication failed")
			default:
				authed = true
				say("235 2.7.0 authenticated")
			}
		case "HELO":
			say("250 smtpsink")
		case "MAIL":
			if !authed {
				say("530 5.7.0 authentication required")
				continue
			}
			from, to = address(arg), nil
			say("250 2.1.0 ok")
		case "RCPT":
			to = append(to, address(arg))
			say("250 2.1.5 ok")
		case "DATA":
			if len(to) == 0 {
				say("503 5.5.1 no recipients")
				continue
			}
			say("354 go ahead")
			var data strings.Builder
			for {
				l, err := r.ReadString('\n')
				if err != nil {
					return
				}
				if l == ".\r\n" || l == ".\n" {
					break
				}
				data.WriteString(strings.TrimPrefix(l, "."))
			}
			say(s.finish(from, to, data.String()))
			from, to = "", nil
		case "RSET":
			from, to = "", nil
			say("250 ok")
		case "NOOP":
			say("250 ok")
		case "QUIT":
			say("221 bye")
			return
		default:
			say("502 5.5.2 not implemented")
		}
	}
}

// finish answers the end of DATA: the next queued reply, or acceptance.
func (s *Sink) finish(from string, to []string, data string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	msg := Message{From: from, To: to, Data: data, Reply: "250 2.0.0 queued"}
	if len(s.replies) > 0 {
		msg.Reply, s.replies = s.replies[0], s.replies[1:]
	}
	if m, err := mail.ReadMessage(strings.NewReader(data)); err == nil {
		msg.Header = m.Header
		body, _ := io.ReadAll(quotedprintable.NewReader(m.Body))
		msg.Text = string(body)
	}
	s.attempts = append(s.attempts, msg)
	return msg.Reply
}

// address takes the address out of "FROM:<a@b>" or "TO:<a@b>".
func address(arg string) string {
	_, a, _ := strings.Cut(arg, ":")
	a = strings.TrimSpace(a)
	if i := strings.IndexByte(a, ' '); i >= 0 {
		a = a[:i]
	}
	return strings.Trim(a, "<>")
}
