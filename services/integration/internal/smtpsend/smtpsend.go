// Package smtpsend hands e-mail to the operator's SMTP relay with the
// standard library's net/smtp client: optional STARTTLS, optional AUTH
// PLAIN, and the relay's reply codes kept so 4xx can be retried and 5xx
// not.
package smtpsend

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/smtp"
	"net/textproto"
	"strings"
	"time"

	"github.com/rapportcrm/rapport/services/integration/internal/email"
)

// Config is the relay and the sender.
type Config struct {
	// Addr is the relay's host:port.
	Addr string
	// From is the sender address.
	From string
	// StartTLS upgrades the connection before AUTH and MAIL; required when
	// Username is set.
	StartTLS bool
	// Username and Password enable AUTH PLAIN.
	Username, Password string
	// Timeout bounds one whole message exchange.
	Timeout time.Duration
	// TLS overrides the TLS configuration (tests trust their own CA).
	TLS *tls.Config
}

// Sender implements email.Sender.
type Sender struct{ cfg Config }

// New returns a Sender.
func New(cfg Config) *Sender { return &Sender{cfg: cfg} }

// Domain implements email.Sender.
func (s *Sender) Domain() string {
	if at := strings.LastIndexByte(s.cfg.From, '@'); at >= 0 {
		return s.cfg.From[at+1:]
	}
	return "localhost"
}

// Send implements email.Sender: one connection per message, so a broken
// exchange never leaves a half-used session behind.
func (s *Sender) Send(ctx context.Context, m email.Outgoing) error {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("dial relay: %w", err)
	}
	deadline, _ := ctx.Deadline()
	if err := conn.SetDeadline(deadline); err != nil {
		conn.Close()
		return err
	}
	host, _, _ := net.SplitHostPort(s.cfg.Addr)
	c, err := smtp.NewClient(conn, host)
	if err != nil {
		conn.Close()
		return reply(err)
	}
	defer c.Close()
	if err := c.Hello(s.Domain()); err != nil {
		return reply(err)
	}
	if s.cfg.StartTLS {
		tc := s.cfg.TLS
		if tc == nil {
			tc = &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}
		}
		if err := c.StartTLS(tc); err != nil {
			return reply(err)
		}
	}
	if s.cfg.Username != "" {
		if err := c.Auth(smtp.PlainAuth("", s.cfg.Username, s.cfg.Password, host)); err != nil {
			return reply(err)
		}
	}
	if err := c.Mail(s.cfg.From); err != nil {
		return reply(err)
	}
	if err := c.Rcpt(m.To); err != nil {
		return reply(err)
	}
	w, err := c.Data()
	if err != nil {
		return reply(err)
	}
	if _, err := w.Write(Compose(s.cfg.From, m)); err != nil {
		return reply(err)
	}
	if err := w.Close(); err != nil {
		return reply(err)
	}
	// The relay took the message when DATA ended; a failed QUIT must not
	// make it look unsent and be sent again.
	_ = c.Quit()
	return nil
}

// reply turns an SMTP reply into an email.ReplyError, keeping other errors.
func reply(err error) error {
	var te *textproto.Error
	if errors.As(err, &te) {
		return &email.ReplyError{Code: te.Code, Text: te.Msg}
	}
	return err
}

// Compose writes the message: headers, then the text body, or a
// multipart/alternative of text and HTML.
func Compose(from string, m email.Outgoing) []byte {
	var b strings.Builder
	h := func(k, v string) { b.WriteString(k + ": " + v + "\r\n") }
	h("From", from)
	h("To", m.To)
	h("Subject", mime.QEncoding.Encode("utf-8", m.Subject))
	h("Date", m.Date.Format(time.RFC1123Z))
	h("Message-ID", m.MessageID)
	h("MIME-Version", "1.0")
	part := func(ctype, body string) {
		h("Content-Type", ctype+"; charset=utf-8")
		h("Content-Transfer-Encoding", "quoted-printable")
		b.WriteString("\r\n")
		q := quotedprintable.NewWriter(&b)
		_, _ = q.Write([]byte(body))
		_ = q.Close()
		b.WriteString("\r\n")
	}
	if m.HTML == "" {
		part("text/plain", m.Text)
		return []byte(b.String())
	}
	var r [12]byte
	_, _ = rand.Read(r[:])
	boundary := "rapport-" + hex.EncodeToString(r[:])
	h("Content-Type", `multipart/alternative; boundary="`+boundary+`"`)
	b.WriteString("\r\n")
	b.WriteString("--" + boundary + "\r\n")
	part("text/plain", m.Text)
	b.WriteString("--" + boundary + "\r\n")
	part("text/html", m.HTML)
	b.WriteString("--" + boundary + "--\r\n")
	return []byte(b.String())
}
