package smtpsend_test

import (
	"crypto/tls"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/rapportcrm/rapport/pkg/smtpsink"
	"github.com/rapportcrm/rapport/services/integration/internal/email"
	"github.com/rapportcrm/rapport/services/integration/internal/smtpsend"
)

func TestSend(t *testing.T) {
	t.Parallel()
	msg := email.Outgoing{To: "grete@example.de", MessageID: "<1@rapport.test>", Subject: "Grüße", Text: "Hallo Grete",
		HTML: "<p>Hallo</p>", Date: time.Now()}
	tests := []struct {
		name     string
		secure   bool
		password string
		fail     string
		wantCode int
	}{
		{name: "plain"},
		{name: "starttls and auth", secure: true, password: "right"},
		{name: "wrong password", secure: true, password: "wrong", wantCode: 535},
		{name: "transient", fail: "451 4.3.0 later", wantCode: 451},
		{name: "permanent", fail: "550 5.1.1 unknown", wantCode: 550},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			sink := smtpsink.Start(t)
			cfg := smtpsend.Config{Addr: sink.Addr, From: "crm@rapport.test", Timeout: 5 * time.Second}
			if tt.secure {
				pool := sink.Secure(t, "crm", "right")
				cfg.StartTLS, cfg.Username, cfg.Password = true, "crm", tt.password
				cfg.TLS = &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}
			}
			if tt.fail != "" {
				sink.FailNext(tt.fail)
			}
			err := smtpsend.New(cfg).Send(t.Context(), msg)
			var reply *email.ReplyError
			if tt.wantCode != 0 {
				if !errors.As(err, &reply) || reply.Code != tt.wantCode {
					t.Fatalf("Send = %v, want reply %d", err, tt.wantCode)
				}
				return
			}
			if err != nil {
				t.Fatalf("Send = %v", err)
			}
			got := sink.Messages()
			if len(got) != 1 || got[0].From != "crm@rapport.test" || got[0].To[0] != "grete@example.de" ||
				got[0].Header.Get("Message-ID") != "<1@rapport.test>" || !strings.Contains(got[0].Data, "text/html") {
				t.Fatalf("sink got %+v, want the message with its Message-ID and both parts", got)
			}
		})
	}
}
