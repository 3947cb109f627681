package main

import (
	"strings"
	"testing"

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
		"CUSTOMER_GRPC_TARGET": "customer:9090", "PIPELINE_GRPC_TARGET": "pipeline:9090", "TICKET_GRPC_TARGET": "ticket:9090", "PARTNER_GRPC_TARGET": "partner:9090",
		"ANALYTICS_API_KEY": key,
	}
	cfg, err := Load(getenv(full), "serve")
	if err != nil {
		t.Fatalf("Load(serve, complete) = %v", err)
	}
	if cfg.Tenant != tenant || cfg.PipelineTarget != "pipeline:9090" || cfg.MaxBackoff <= cfg.MinBackoff {
		t.Fatalf("Load(serve) = %+v, want the key's tenant, the targets and default backoffs", cfg)
	}
	_, err = Load(getenv(nil), "serve")
	for _, v := range []string{"CUSTOMER_GRPC_TARGET", "PIPELINE_GRPC_TARGET", "TICKET_GRPC_TARGET", "PARTNER_GRPC_TARGET", "ANALYTICS_API_KEY"} {
		if err == nil || !strings.Contains(err.Error(), v) {
			t.Errorf("Load(serve, empty) = %v, want it to name %s", err, v)
		}
	}
	bad := map[string]string{"ANALYTICS_API_KEY": "secret", "FEED_MIN_BACKOFF": "1m"}
	for k, v := range full {
		if _, set := bad[k]; !set {
			bad[k] = v
		}
	}
	_, err = Load(getenv(bad), "serve")
	if err == nil || !strings.Contains(err.Error(), "not a Rapport API key") || !strings.Contains(err.Error(), "FEED_MIN_BACKOFF") {
		t.Fatalf("Load(serve, bad key and backoff) = %v, want both reported", err)
	}
	for _, cmd := range []string{"migrate", "rebuild"} {
		if _, err := Load(getenv(map[string]string{"MIGRATE_DATABASE_URL": "postgres://x"}), cmd); err != nil {
			t.Errorf("Load(%s) = %v, want only a database URL needed", cmd, err)
		}
	}
}
