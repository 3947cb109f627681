package pgdb

import (
	"github.com/rapportcrm/rapport/pkg/env"
)

// Config is a service's database configuration.
type Config struct {
	// URL connects as the service role (DATABASE_URL; empty means pgx's PG* variables).
	URL string
	// MigrateURL connects as the schema owner for the migrate step
	// (MIGRATE_DATABASE_URL, default URL).
	MigrateURL string
	// MaxConns bounds the pool (DB_MAX_CONNS; 0 leaves pgx's default, the
	// greater of 4 and the number of cores).
	MaxConns int32
}

// LoadConfig reads DATABASE_URL, MIGRATE_DATABASE_URL and DB_MAX_CONNS.
func LoadConfig(r *env.Reader) Config {
	url := r.String("DATABASE_URL", "")
	return Config{URL: url, MigrateURL: r.String("MIGRATE_DATABASE_URL", url), MaxConns: int32(r.Int("DB_MAX_CONNS", 0))}
}

// LogValue hides passwords when the config is logged.
func (c Config) LogValue() string {
	return "url=" + env.RedactURL(c.URL) + " migrate_url=" + env.RedactURL(c.MigrateURL)
}
