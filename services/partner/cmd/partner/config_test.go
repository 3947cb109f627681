package main

import (
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/rapportcrm/rapport/pkg/auth"
)

func TestLoad(t *testing.T) {
	t.Parallel()
	vars := map[string]string{}
	getenv := func(k string) string { return vars[k] }
	if _, err := Load(getenv, "serve"); err == nil || !strings.Contains(err.Error(), "CUSTOMER_GRPC_TARGET") {
		t.Fatalf("Load(serve) without CUSTOMER_GRPC_TARGET = %v, want it named", err)
	}
	if _, err := Load(getenv, "migrate"); err != nil {
		t.Fatalf("Load(migrate) = %v, want only a database URL needed", err)
	}
	vars["CUSTOMER_GRPC_TARGET"] = "customer:9090"
	if _, err := Load(getenv, "serve"); err == nil || !strings.Contains(err.Error(), "PIPELINE_GRPC_TARGET") {
		t.Fatalf("Load(serve) without PIPELINE_GRPC_TARGET = %v, want it named", err)
	}
	vars["PIPELINE_GRPC_TARGET"] = "pipeline:9090"
	vars["TICKET_GRPC_TARGET"] = "ticket:9090"
	if _, err := Load(getenv, "serve"); err == nil || !strings.Contains(err.Error(), "PARTNER_API_KEY") {
		t.Fatalf("Load(serve) without PARTNER_API_KEY = %v, want it named", err)
	}
	vars["PARTNER_API_KEY"] = "secret"
	if _, err := Load(getenv, "serve"); err == nil || !strings.Contains(err.Error(), "not a Rapport API key") {
		t.Fatalf("Load(serve) with a malformed PARTNER_API_KEY = %v, want it refused", err)
	}
	tenant := uuid.New()
	vars["PARTNER_API_KEY"], _ = auth.NewAPIKey(tenant, uuid.New())
	cfg, err := Load(getenv, "serve")
	if err != nil || cfg.CustomerTarget != "customer:9090" || cfg.PipelineTarget != "pipeline:9090" || cfg.TicketTarget != "ticket:9090" ||
		cfg.Tenant != tenant || cfg.Server.Addr != ":9090" {
		t.Fatalf("Load(serve) = %+v, %v; want the targets, the key's tenant and default address", cfg, err)
	}
}
