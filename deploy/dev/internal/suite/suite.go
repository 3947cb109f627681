// Package suite starts the whole Rapport suite on one machine: a PostgreSQL
// cluster (or a given one), a database and role per service, migrations, the
// first admin, and every service and the edge as separate processes. `make
// run` and the end-to-end tests both use it.
package suite

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	iamv1 "github.com/rapportcrm/rapport/gen/go/rapport/iam/v1"
	"github.com/rapportcrm/rapport/pkg/auth"
	"github.com/rapportcrm/rapport/pkg/grpcclient"
	"github.com/rapportcrm/rapport/pkg/smtpsink"
)

// Services lists the service slugs in start order; the edge starts last.
var Services = []string{"customer", "pipeline", "ticket", "partner", "analytics", "integration"}

// Options configure a suite.
type Options struct {
	// Root is the repository root (for deploy/dev/pg.sh).
	Root string
	// StateDir keeps the cluster, keys and logs between runs (.rapport).
	StateDir string
	// BinDir holds the built service binaries, named by slug, and "gateway".
	BinDir string
	// AdminURL connects as a role that may create databases and roles;
	// empty starts a local cluster under StateDir on PGPort.
	AdminURL string
	PGPort   int
	// DBPrefix names the databases <prefix>_<slug>.
	DBPrefix string
	// GRPCBasePort is the customer service's port; the others follow in
	// Services order.
	GRPCBasePort int
	// HTTPAddr is the edge's listen address.
	HTTPAddr string
	// Env is added to every process's environment (for example OTEL_*).
	Env []string
}

// Suite is a running suite.
type Suite struct {
	// HTTPURL is the edge's base URL.
	HTTPURL string
	// GRPC maps each service slug to its address.
	GRPC map[string]string
	// AdminKey is the demo tenant's admin API key.
	AdminKey string
	// Logs is the folder of per-process logs.
	Logs string
	// Mail is the local SMTP relay the integration service sends e-mail
	// to; it keeps each message as an .eml file in MailDir.
	Mail    *smtpsink.Sink
	MailDir string

	procs  []*process
	stopPG func()
}

type process struct {
	name string
	env  []string
	cmd  *exec.Cmd
	done chan struct{}
}

// Start brings the suite up and returns once the edge reports ready. On
// error, whatever was started is stopped.
func Start(ctx context.Context, o Options) (s *Suite, err error) {
	s = &Suite{GRPC: map[string]string{}, Logs: filepath.Join(o.StateDir, "logs"), HTTPURL: "http://" + o.HTTPAddr}
	defer func() {
		if err != nil {
			s.Stop()
			s = nil
		}
	}()
	if err := os.MkdirAll(s.Logs, 0o755); err != nil {
		return s, err
	}
	admin := o.AdminURL
	if admin == "" {
		if admin, err = startPostgres(ctx, o); err != nil {
			return s, err
		}
		s.stopPG = func() {
			_ = exec.Command(filepath.Join(o.Root, "deploy/dev/pg.sh"), "stop", filepath.Join(o.StateDir, "pg")).Run()
		}
	}
	password, err := secret(filepath.Join(o.StateDir, "db-password"), 18, hex.EncodeToString)
	if err != nil {
		return s, err
	}
	seed, err := secret(filepath.Join(o.StateDir, "jwt-seed"), 32, base64.StdEncoding.EncodeToString)
	if err != nil {
		return s, err
	}
	signer, err := auth.NewSigner(seed)
	if err != nil {
		return s, err
	}
	dbURL := map[string]string{}
	for _, slug := range Services {
		if dbURL[slug], err = prepareDatabase(ctx, o, admin, slug, password); err != nil {
			return s, fmt.Errorf("prepare %s database: %w", slug, err)
		}
	}
	for i, slug := range Services {
		s.GRPC[slug] = "127.0.0.1:" + strconv.Itoa(o.GRPCBasePort+i)
	}
	common := append([]string{"RAPPORT_JWT_PUBLIC_KEY=" + signer.PublicKey(), "CUSTOMER_GRPC_TARGET=" + s.GRPC["customer"],
		"PIPELINE_GRPC_TARGET=" + s.GRPC["pipeline"], "TICKET_GRPC_TARGET=" + s.GRPC["ticket"],
		"PARTNER_GRPC_TARGET=" + s.GRPC["partner"], "ANALYTICS_GRPC_TARGET=" + s.GRPC["analytics"],
		"INTEGRATION_GRPC_TARGET=" + s.GRPC["integration"]}, o.Env...)
	envOf := func(slug string, extra ...string) []string {
		return append(append(append([]string{}, common...), "GRPC_ADDR="+s.GRPC[slug], "DATABASE_URL="+dbURL[slug]), extra...)
	}

	keyFile := filepath.Join(o.StateDir, "admin-api-key")
	if s.AdminKey, err = readTrimmed(keyFile); err != nil {
		if s.AdminKey, err = bootstrap(ctx, o, envOf("customer")); err != nil {
			return s, err
		}
		if err := os.WriteFile(keyFile, []byte(s.AdminKey+"\n"), 0o600); err != nil {
			return s, err
		}
	}
	if err := s.start(ctx, o, "customer", envOf("customer", "RAPPORT_JWT_PRIVATE_KEY="+seed)); err != nil {
		return s, err
	}
	for _, slug := range []string{"pipeline", "ticket"} {
		if err := s.start(ctx, o, slug, envOf(slug)); err != nil {
			return s, err
		}
	}
	partnerKey, err := s.consumerKey(ctx, filepath.Join(o.StateDir, "partner-api-key"), "partner", iamv1.Role_ROLE_ANALYST)
	if err != nil {
		return s, fmt.Errorf("partner key: %w", err)
	}
	if err := s.start(ctx, o, "partner", envOf("partner", "PARTNER_API_KEY="+partnerKey, "TENANT_REFRESH=3s")); err != nil {
		return s, err
	}
	analyticsKey, err := s.consumerKey(ctx, filepath.Join(o.StateDir, "analytics-api-key"), "analytics", iamv1.Role_ROLE_ANALYST)
	if err != nil {
		return s, fmt.Errorf("analytics key: %w", err)
	}
	if err := s.start(ctx, o, "analytics", envOf("analytics", "ANALYTICS_API_KEY="+analyticsKey, "TENANT_REFRESH=3s")); err != nil {
		return s, err
	}
	integrationKey, err := s.consumerKey(ctx, filepath.Join(o.StateDir, "integration-api-key"), "integration",
		iamv1.Role_ROLE_ANALYST, iamv1.Role_ROLE_SUPPORT_AGENT, iamv1.Role_ROLE_SALES_MANAGER)
	if err != nil {
		return s, fmt.Errorf("integration key: %w", err)
	}
	// Locally, e-mail goes to a sink that keeps every message as a file
	// instead of to a real relay, which nobody running the suite has.
	s.MailDir = filepath.Join(o.StateDir, "mail")
	if s.Mail, err = smtpsink.Listen("127.0.0.1:0", s.MailDir); err != nil {
		return s, fmt.Errorf("local SMTP sink: %w", err)
	}
	// Locally, webhook receivers are plain http on loopback: development
	// mode. A tenant still needs the operator's allowance to reach them.
	// Scheduled rules are looked for every second, so RunRule acts at once.
	if err := s.start(ctx, o, "integration", envOf("integration", "INTEGRATION_API_KEY="+integrationKey, "TENANT_REFRESH=3s",
		"WEBHOOK_REQUIRE_HTTPS=false", "WEBHOOK_MIN_BACKOFF=1s", "WEBHOOK_MAX_BACKOFF=30s",
		"SMTP_ADDR="+s.Mail.Addr, "SMTP_FROM=crm@rapport.localhost", "EMAIL_MIN_BACKOFF=1s", "EMAIL_MAX_BACKOFF=30s", "RULE_SCHEDULER_POLL=1s")); err != nil {
		return s, err
	}
	if err := s.startEdge(ctx, o, append(common, "HTTP_ADDR="+o.HTTPAddr)); err != nil {
		return s, err
	}
	return s, nil
}

func startPostgres(ctx context.Context, o Options) (string, error) {
	out, err := exec.CommandContext(ctx, filepath.Join(o.Root, "deploy/dev/pg.sh"), "start", filepath.Join(o.StateDir, "pg"), strconv.Itoa(o.PGPort)).Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return "", fmt.Errorf("start postgres: %w: %s", err, ee.Stderr)
		}
		return "", fmt.Errorf("start postgres: %w", err)
	}
	return strings.TrimSpace(string(out)), nil
}

// prepareDatabase creates the service's database if needed, migrates it as
// the admin, and lets the service role log in; it returns the service URL.
func prepareDatabase(ctx context.Context, o Options, admin, slug, password string) (string, error) {
	name := o.DBPrefix + "_" + slug
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		return "", err
	}
	defer conn.Close(ctx)
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&exists); err != nil {
		return "", err
	}
	if !exists {
		if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
			return "", err
		}
	}
	cmd := exec.CommandContext(ctx, filepath.Join(o.BinDir, slug), "migrate")
	cmd.Env = append(os.Environ(), "MIGRATE_DATABASE_URL="+withDB(admin, name, "", ""), "DATABASE_URL="+withDB(admin, name, "", ""))
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("migrate: %w\n%s", err, out)
	}
	role := "rapport_" + slug
	if _, err := conn.Exec(ctx, fmt.Sprintf("ALTER ROLE %s LOGIN PASSWORD '%s'", pgx.Identifier{role}.Sanitize(), password)); err != nil {
		return "", err
	}
	return withDB(admin, name, role, password), nil
}

func bootstrap(ctx context.Context, o Options, env []string) (string, error) {
	cmd := exec.CommandContext(ctx, filepath.Join(o.BinDir, "customer"), "bootstrap", "--tenant", "Demo")
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("bootstrap: %w", err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	key := strings.TrimSpace(lines[len(lines)-1])
	if !auth.IsAPIKey(key) {
		return "", errors.New("bootstrap printed no API key")
	}
	return key, nil
}

// consumerKey returns the API key a service (analytics, integration)
// follows the event streams with, creating a principal of the operator
// tenant with roles and its key through the identity API on first use, and
// on later starts giving the principal the roles this version asks for (a
// state directory from an earlier version keeps its key). Integration's
// also acts for automation rules (follow-ups, owners, stages, fields,
// ticket assignments, campaign members), so it holds writer roles besides
// the analyst's.
func (s *Suite) consumerKey(ctx context.Context, file, slug string, roles ...iamv1.Role) (string, error) {
	conn, err := grpc.NewClient(s.GRPC["customer"], grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return "", err
	}
	defer conn.Close()
	ctx = grpcclient.WithBearer(ctx, s.AdminKey)
	iam := iamv1.NewIdentityServiceClient(conn)
	p, err := iam.CreatePrincipal(ctx, &iamv1.CreatePrincipalRequest{
		Principal: &iamv1.Principal{DisplayName: slug + " consumer", Roles: roles},
		RequestId: slug + "-consumer",
	})
	if err != nil {
		return "", err
	}
	if has, want := slices.Sorted(slices.Values(p.GetPrincipal().GetRoles())), slices.Sorted(slices.Values(roles)); !slices.Equal(has, want) {
		_, err := iam.UpdatePrincipal(ctx, &iamv1.UpdatePrincipalRequest{
			Principal:  &iamv1.Principal{PrincipalId: p.GetPrincipal().GetPrincipalId(), Roles: roles},
			UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"roles"}}})
		if err != nil {
			return "", fmt.Errorf("roles of the %s consumer: %w", slug, err)
		}
	}
	if k, err := readTrimmed(file); err == nil {
		return k, nil
	}
	k, err := iam.CreateApiKey(ctx, &iamv1.CreateApiKeyRequest{PrincipalId: p.GetPrincipal().GetPrincipalId(), DisplayName: slug + " event consumer"})
	if err != nil {
		return "", err
	}
	return k.GetApiKeySecret(), os.WriteFile(file, []byte(k.GetApiKeySecret()+"\n"), 0o600)
}

func (s *Suite) spawn(o Options, name string, env []string, args ...string) (*process, error) {
	logf, err := os.OpenFile(filepath.Join(s.Logs, name+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(filepath.Join(o.BinDir, name), args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = logf, logf
	// Own process group, and killed if the launcher dies: no orphans.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &process{name: name, env: env, cmd: cmd, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); logf.Close(); close(p.done) }()
	s.procs = append(s.procs, p)
	return p, nil
}

// start runs a gRPC service and waits until its health check says SERVING.
func (s *Suite) start(ctx context.Context, o Options, slug string, env []string) error {
	p, err := s.spawn(o, slug, env)
	if err != nil {
		return err
	}
	conn, err := grpc.NewClient(s.GRPC[slug], grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	defer conn.Close()
	hc := healthpb.NewHealthClient(conn)
	return waitFor(ctx, p, s.Logs, func(ctx context.Context) bool {
		r, err := hc.Check(ctx, &healthpb.HealthCheckRequest{})
		return err == nil && r.GetStatus() == healthpb.HealthCheckResponse_SERVING
	})
}

func (s *Suite) startEdge(ctx context.Context, o Options, env []string) error {
	p, err := s.spawn(o, "gateway", env)
	if err != nil {
		return err
	}
	return waitFor(ctx, p, s.Logs, func(ctx context.Context) bool {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.HTTPURL+"/readyz", nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
}

// startTimeout bounds how long one process may take to become ready.
const startTimeout = 60 * time.Second

func waitFor(ctx context.Context, p *process, logs string, ready func(context.Context) bool) error {
	deadline := time.Now().Add(startTimeout)
	for time.Now().Before(deadline) {
		select {
		case <-p.done:
			log := filepath.Join(logs, p.name+".log")
			return fmt.Errorf("%s exited while starting; %s ends:\n%s", p.name, log, logTail(log, 2000))
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		cctx, cancel := context.WithTimeout(ctx, time.Second)
		ok := ready(cctx)
		cancel()
		if ok {
			return nil
		}
	}
	return fmt.Errorf("%s not ready after %s; see %s", p.name, startTimeout, filepath.Join(logs, p.name+".log"))
}

// logTail returns at most n bytes from the end of a log, so a process that
// died while starting explains itself where the caller prints the error
// (a CI log), not only in a file that goes away with the machine.
func logTail(path string, n int64) string {
	f, err := os.Open(path)
	if err != nil {
		return err.Error()
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && fi.Size() > n {
		_, _ = f.Seek(fi.Size()-n, io.SeekStart)
	}
	b, err := io.ReadAll(f)
	if err != nil {
		return err.Error()
	}
	return string(b)
}

// stopTimeout bounds the graceful stop of each process.
const stopTimeout = 20 * time.Second

// Stop ends every process in reverse start order (SIGTERM, then SIGKILL
// after a timeout) and stops the cluster it started.
func (s *Suite) Stop() {
	for i := len(s.procs) - 1; i >= 0; i-- {
		p := s.procs[i]
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(stopTimeout):
			_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
			<-p.done
		}
	}
	s.procs = nil
	if s.Mail != nil {
		_ = s.Mail.Close()
		s.Mail = nil
	}
	if s.stopPG != nil {
		s.stopPG()
	}
}

// Restart stops one service and starts it again with the same settings;
// the end-to-end tests use it to prove consumers resume without loss.
func (s *Suite) Restart(ctx context.Context, o Options, slug string) error {
	for i, p := range s.procs {
		if p.name != slug {
			continue
		}
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGTERM)
		<-p.done
		s.procs = append(s.procs[:i], s.procs[i+1:]...)
		if err := s.start(ctx, o, slug, p.env); err != nil {
			return err
		}
		// Keep the start order, which Stop reverses.
		fresh := s.procs[len(s.procs)-1]
		copy(s.procs[i+1:], s.procs[i:len(s.procs)-1])
		s.procs[i] = fresh
		return nil
	}
	return fmt.Errorf("no process %q", slug)
}

// secret returns the secret kept in file, creating it from n random bytes
// written in encode's form.
func secret(file string, n int, encode func([]byte) string) (string, error) {
	if s, err := readTrimmed(file); err == nil {
		return s, nil
	}
	b := make([]byte, n)
	_, _ = rand.Read(b)
	s := encode(b)
	return s, os.WriteFile(file, []byte(s+"\n"), 0o600)
}

func readTrimmed(file string) (string, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return "", err
	}
	s := strings.TrimSpace(string(b))
	if s == "" {
		return "", errors.New("empty " + file)
	}
	return s, nil
}

// withDB returns admin pointing at db, with user and password when given.
func withDB(admin, db, user, password string) string {
	u, err := url.Parse(admin)
	if err != nil {
		return admin
	}
	u.Path = "/" + db
	if user != "" {
		u.User = url.UserPassword(user, password)
	}
	return u.String()
}

// PIDs maps each running process (service slug, or "gateway") to its
// process id, for benchmarks that report the services' memory.
func (s *Suite) PIDs() map[string]int {
	out := make(map[string]int, len(s.procs))
	for _, p := range s.procs {
		out[p.name] = p.cmd.Process.Pid
	}
	return out
}
