package main

import (
	"strings"
	"testing"
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
	cfg, err := Load(getenv, "serve")
	if err != nil || cfg.CustomerTarget != "customer:9090" || cfg.PipelineTarget != "pipeline:9090" || cfg.Server.Addr != ":9090" {
		t.Fatalf("Load(serve) = %+v, %v; want the target and default address", cfg, err)
	}
}
