package main

import (
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/rapportcrm/rapport/pkg/auth"
)

func getenv(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

func TestLoad(t *testing.T) {
	t.Parallel()
	tenant := uuid.New()
	key, _ := auth.NewAPIKey(tenant, uuid.New())
	full := map[string]string{
		"CUSTOMER_GRPC_TARGET": "customer:9090", "PIPELINE_GRPC_TARGET": "pipeline:9090", "TICKET_GRPC_TARGET": "ticket:9090",
		"PARTNER_GRPC_TARGET": "partner:9090", "INTEGRATION_API_KEY": key,
	}
	cfg, err := Load(getenv(full), "serve")
	if err != nil {
		t.Fatalf("Load(serve, complete) = %v", err)
	}
	if cfg.Tenant != tenant || !cfg.RequireHTTPS || cfg.RetryBudget != 12 || cfg.Lease <= cfg.Timeout {
		t.Fatalf("Load(serve) = %+v, want the key's tenant and production defaults", cfg)
	}
	tests := []struct {
		name string
		set  map[string]string
		want string
	}{
		{"missing key", map[string]string{"INTEGRATION_API_KEY": ""}, "INTEGRATION_API_KEY"},
		{"not a key", map[string]string{"INTEGRATION_API_KEY": "secret"}, "not a Rapport API key"},
		{"lease shorter than timeout", map[string]string{"WEBHOOK_LEASE": "5s", "WEBHOOK_TIMEOUT": "10s"}, "WEBHOOK_LEASE"},
		{"no budget", map[string]string{"WEBHOOK_RETRY_BUDGET": "0"}, "WEBHOOK_RETRY_BUDGET"},
		{"backoff upside down", map[string]string{"WEBHOOK_MIN_BACKOFF": "1m", "WEBHOOK_MAX_BACKOFF": "1s"}, "WEBHOOK_MIN_BACKOFF"},
		{"relay without sender", map[string]string{"SMTP_ADDR": "127.0.0.1:25"}, "SMTP_FROM"},
		{"relay without port", map[string]string{"SMTP_ADDR": "relay.example.com", "SMTP_FROM": "crm@example.com"}, "SMTP_ADDR"},
		{"credentials in clear", map[string]string{"SMTP_ADDR": "relay.example.com:587", "SMTP_FROM": "crm@example.com", "SMTP_USERNAME": "crm"}, "SMTP_STARTTLS"},
	}
	for _, tt := range tests {
		vars := map[string]string{}
		for k, v := range full {
			vars[k] = v
		}
		for k, v := range tt.set {
			vars[k] = v
		}
		if _, err := Load(getenv(vars), "serve"); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Load(%s) = %v, want an error naming %s", tt.name, err, tt.want)
		}
	}
	if cfg.Email.Configured() {
		t.Fatalf("Load(serve) configured e-mail without SMTP_ADDR: %+v", cfg.Email)
	}
	relay := map[string]string{"SMTP_ADDR": "relay.example.com:587", "SMTP_FROM": "crm@example.com", "SMTP_STARTTLS": "true",
		"SMTP_USERNAME": "crm", "SMTP_PASSWORD": "pw"}
	for k, v := range full {
		relay[k] = v
	}
	if cfg, err := Load(getenv(relay), "serve"); err != nil || !cfg.Email.Configured() || cfg.Email.Attempts != 8 {
		t.Fatalf("Load(serve, relay) = %+v, %v; want e-mail on with default attempts", cfg.Email, err)
	}
	if cfg, err := Load(getenv(map[string]string{"WEBHOOK_REQUIRE_HTTPS": "false"}), "migrate"); err != nil || cfg.RequireHTTPS || cfg.Timeout != 10*time.Second {
		t.Fatalf("Load(migrate) = %+v, %v; want no peers needed", cfg, err)
	}
}
