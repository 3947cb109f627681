// Package smtpsink is a small SMTP server for tests: it listens on
// loopback, speaks EHLO, HELO, MAIL, RCPT, DATA, RSET, NOOP and QUIT,
// keeps every message it accepts, and answers the end of DATA with
// whatever replies a test queued (451, 550, …) before accepting again.
package smtpsink

import (
	"bufio"
	"io"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"strings"
	"sync"
	"testing"
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
	defer c.Close()
	r, w := bufio.NewReader(c), bufio.NewWriter(c)
	say := func(line string) { w.WriteString(line + "\r\n"); w.Flush() }
	say("220 smtpsink ready")
	var from string
	var to []string
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
			say("250 8BITMIME")
		case "HELO":
			say("250 smtpsink")
		case "MAIL":
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
