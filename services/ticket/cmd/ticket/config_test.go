package main

import (
	"strings"
	"testing"
)

func TestLoad(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		env     map[string]string
		wantErr string
	}{
		{"complete", map[string]string{"CUSTOMER_GRPC_TARGET": "customer:9090"}, ""},
		{"no customer target", map[string]string{}, "CUSTOMER_GRPC_TARGET is required"},
		{"every problem at once", map[string]string{"EVENT_POLL_INTERVAL": "often"}, "EVENT_POLL_INTERVAL"},
		{"bad SLA poll interval", map[string]string{"SLA_POLL_INTERVAL": "soon"}, "SLA_POLL_INTERVAL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg, err := Load(func(k string) string { return tt.env[k] })
			if tt.wantErr == "" {
				if err != nil || cfg.CustomerTarget != "customer:9090" {
					t.Fatalf("Load = %+v, %v; want the target and no error", cfg, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), "CUSTOMER_GRPC_TARGET") {
				t.Fatalf("Load error = %v, want it to mention %s", err, tt.wantErr)
			}
		})
	}
}

// The migrate init container gets only database variables.
func TestLoadDBNeedsNoPeers(t *testing.T) {
	t.Parallel()
	env := map[string]string{"MIGRATE_DATABASE_URL": "postgres://owner@db/ticket"}
	db, err := LoadDB(func(k string) string { return env[k] })
	if err != nil || db.MigrateURL != env["MIGRATE_DATABASE_URL"] {
		t.Fatalf("LoadDB = %+v, %v; want the migrate URL", db, err)
	}
}
