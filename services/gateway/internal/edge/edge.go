// Package edge serves the Rapport API as REST/JSON: grpc-gateway handlers
// over long-lived gRPC connections to the services, authentication at the
// door, health and readiness, and the API documents.
package edge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"

	analyticsv1 "github.com/rapportcrm/rapport/gen/go/rapport/analytics/v1"
	customerv1 "github.com/rapportcrm/rapport/gen/go/rapport/customer/v1"
	iamv1 "github.com/rapportcrm/rapport/gen/go/rapport/iam/v1"
	integrationv1 "github.com/rapportcrm/rapport/gen/go/rapport/integration/v1"
	partnerv1 "github.com/rapportcrm/rapport/gen/go/rapport/partner/v1"
	pipelinev1 "github.com/rapportcrm/rapport/gen/go/rapport/pipeline/v1"
	ticketv1 "github.com/rapportcrm/rapport/gen/go/rapport/ticket/v1"
	"github.com/rapportcrm/rapport/pkg/auth"
	"github.com/rapportcrm/rapport/services/gateway/internal/apidoc"
)

// Backends are the connections to the services behind the edge.
type Backends struct {
	Customer, Pipeline, Ticket, Partner, Analytics, Integration *grpc.ClientConn
}

func (b Backends) named() map[string]*grpc.ClientConn {
	return map[string]*grpc.ClientConn{"customer": b.Customer, "pipeline": b.Pipeline, "ticket": b.Ticket, "partner": b.Partner, "analytics": b.Analytics, "integration": b.Integration}
}

// Authenticator resolves an Authorization header.
type Authenticator interface {
	Authenticate(ctx context.Context, header string) (auth.Caller, error)
}

// publicPaths need no credentials.
var publicPaths = map[string]bool{"/healthz": true, "/readyz": true, "/openapi.json": true, "/docs": true, "/": true}

// New returns the edge's HTTP handler.
func New(ctx context.Context, b Backends, authn Authenticator, log *slog.Logger) (http.Handler, error) {
	gw := runtime.NewServeMux(
		runtime.WithMarshalerOption(runtime.MIMEWildcard, &runtime.JSONPb{
			MarshalOptions:   protojson.MarshalOptions{EmitUnpopulated: false},
			UnmarshalOptions: protojson.UnmarshalOptions{DiscardUnknown: false},
		}),
	)
	regs := []error{
		customerv1.RegisterCustomerServiceHandlerClient(ctx, gw, customerv1.NewCustomerServiceClient(b.Customer)),
		customerv1.RegisterDocumentServiceHandlerClient(ctx, gw, customerv1.NewDocumentServiceClient(b.Customer)),
		customerv1.RegisterProfileServiceHandlerClient(ctx, gw, customerv1.NewProfileServiceClient(b.Customer)),
		customerv1.RegisterRelationshipServiceHandlerClient(ctx, gw, customerv1.NewRelationshipServiceClient(b.Customer)),
		customerv1.RegisterPartnerLinkServiceHandlerClient(ctx, gw, customerv1.NewPartnerLinkServiceClient(b.Customer)),
		iamv1.RegisterIdentityServiceHandlerClient(ctx, gw, iamv1.NewIdentityServiceClient(b.Customer)),
		customerv1.RegisterClassificationServiceHandlerClient(ctx, gw, customerv1.NewClassificationServiceClient(b.Customer)),
		customerv1.RegisterPrivacyServiceHandlerClient(ctx, gw, customerv1.NewPrivacyServiceClient(b.Customer)),
		customerv1.RegisterLoyaltyServiceHandlerClient(ctx, gw, customerv1.NewLoyaltyServiceClient(b.Customer)),
		customerv1.RegisterResolutionServiceHandlerClient(ctx, gw, customerv1.NewResolutionServiceClient(b.Customer)),
		customerv1.RegisterImportServiceHandlerClient(ctx, gw, customerv1.NewImportServiceClient(b.Customer)),
		pipelinev1.RegisterPipelineServiceHandlerClient(ctx, gw, pipelinev1.NewPipelineServiceClient(b.Pipeline)),
		pipelinev1.RegisterLeadServiceHandlerClient(ctx, gw, pipelinev1.NewLeadServiceClient(b.Pipeline)),
		pipelinev1.RegisterOrderServiceHandlerClient(ctx, gw, pipelinev1.NewOrderServiceClient(b.Pipeline)),
		pipelinev1.RegisterQuoteServiceHandlerClient(ctx, gw, pipelinev1.NewQuoteServiceClient(b.Pipeline)),
		pipelinev1.RegisterForecastServiceHandlerClient(ctx, gw, pipelinev1.NewForecastServiceClient(b.Pipeline)),
		pipelinev1.RegisterCommissionServiceHandlerClient(ctx, gw, pipelinev1.NewCommissionServiceClient(b.Pipeline)),
		pipelinev1.RegisterMarketingServiceHandlerClient(ctx, gw, pipelinev1.NewMarketingServiceClient(b.Pipeline)),
		ticketv1.RegisterTicketServiceHandlerClient(ctx, gw, ticketv1.NewTicketServiceClient(b.Ticket)),
		partnerv1.RegisterPartnerServiceHandlerClient(ctx, gw, partnerv1.NewPartnerServiceClient(b.Partner)),
		partnerv1.RegisterDealRegistrationServiceHandlerClient(ctx, gw, partnerv1.NewDealRegistrationServiceClient(b.Partner)),
		partnerv1.RegisterPartnerFinanceServiceHandlerClient(ctx, gw, partnerv1.NewPartnerFinanceServiceClient(b.Partner)),
		partnerv1.RegisterPartnerProgramServiceHandlerClient(ctx, gw, partnerv1.NewPartnerProgramServiceClient(b.Partner)),
		partnerv1.RegisterLeadDistributionServiceHandlerClient(ctx, gw, partnerv1.NewLeadDistributionServiceClient(b.Partner)),
		partnerv1.RegisterMarketingFundServiceHandlerClient(ctx, gw, partnerv1.NewMarketingFundServiceClient(b.Partner)),
		partnerv1.RegisterEnablementServiceHandlerClient(ctx, gw, partnerv1.NewEnablementServiceClient(b.Partner)),
		partnerv1.RegisterSellThroughServiceHandlerClient(ctx, gw, partnerv1.NewSellThroughServiceClient(b.Partner)),
		partnerv1.RegisterPartnerScorecardServiceHandlerClient(ctx, gw, partnerv1.NewPartnerScorecardServiceClient(b.Partner)),
		analyticsv1.RegisterAnalyticsServiceHandlerClient(ctx, gw, analyticsv1.NewAnalyticsServiceClient(b.Analytics)),
		analyticsv1.RegisterCustomerInsightServiceHandlerClient(ctx, gw, analyticsv1.NewCustomerInsightServiceClient(b.Analytics)),
		analyticsv1.RegisterFiguresServiceHandlerClient(ctx, gw, analyticsv1.NewFiguresServiceClient(b.Analytics)),
		analyticsv1.RegisterBehaviourServiceHandlerClient(ctx, gw, analyticsv1.NewBehaviourServiceClient(b.Analytics)),
		analyticsv1.RegisterTierSuggestionServiceHandlerClient(ctx, gw, analyticsv1.NewTierSuggestionServiceClient(b.Analytics)),
		integrationv1.RegisterWebhookServiceHandlerClient(ctx, gw, integrationv1.NewWebhookServiceClient(b.Integration)),
		integrationv1.RegisterNotificationServiceHandlerClient(ctx, gw, integrationv1.NewNotificationServiceClient(b.Integration)),
		integrationv1.RegisterAutomationServiceHandlerClient(ctx, gw, integrationv1.NewAutomationServiceClient(b.Integration)),
		integrationv1.RegisterEmailServiceHandlerClient(ctx, gw, integrationv1.NewEmailServiceClient(b.Integration)),
	}
	if err := errors.Join(regs...); err != nil {
		return nil, fmt.Errorf("register handlers: %w", err)
	}
	mux := http.NewServeMux()
	if err := documentRoutes(gw, mux, customerv1.NewDocumentServiceClient(b.Customer), log); err != nil {
		return nil, err
	}
	csatRoutes(mux, ticketv1.NewTicketServiceClient(b.Ticket), log)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", readiness(b))
	mux.HandleFunc("GET /openapi.json", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(apidoc.OpenAPI)
	})
	mux.HandleFunc("GET /docs", apidoc.Reference)
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/docs", http.StatusFound) })
	csvRoutes(mux, customerv1.NewImportServiceClient(b.Customer), authn)
	mux.Handle("/v1/", authenticate(authn, gw))
	return sealShareToken(otelhttp.NewHandler(accessLog(log, mux), "rapport-edge",
		otelhttp.WithSpanNameFormatter(func(_ string, r *http.Request) string { return r.Method + " " + routeOf(r) }))), nil
}

// routeOf names a request without ids or web form keys, for span names.
func routeOf(r *http.Request) string {
	parts := strings.Split(r.URL.Path, "/")
	for i, p := range parts {
		if len(p) == 36 && strings.Count(p, "-") == 4 {
			parts[i] = "{id}"
		} else if id, verb, ok := strings.Cut(p, ":"); ok && len(id) == 36 {
			parts[i] = "{id}:" + verb
		} else if ok && strings.HasPrefix(id, "wf_") {
			parts[i] = "{form_key}:" + verb
		}
	}
	return strings.Join(parts, "/")
}

// authenticate rejects requests without valid credentials before they reach
// a service; the services verify the same credential again.
func authenticate(authn Authenticator, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if webFormSubmit(r) {
			next.ServeHTTP(w, r)
			return
		}
		c, err := authn.Authenticate(r.Context(), r.Header.Get("Authorization"))
		switch {
		case err == nil:
			// Ids only: no personal data in span attributes.
			trace.SpanFromContext(r.Context()).SetAttributes(
				attribute.String("rapport.tenant_id", c.TenantID), attribute.String("rapport.principal_id", c.PrincipalID))
			next.ServeHTTP(w, r)
		case errors.Is(err, auth.ErrUnauthenticated):
			writeStatus(w, r, status.New(codes.Unauthenticated, "send credentials as Authorization: Bearer <API key or token>"))
		default:
			writeStatus(w, r, status.New(codes.Unavailable, "credentials could not be verified; retry"))
		}
	})
}

// webFormSubmit reports whether r submits a public web form
// (POST /v1/webForms/{form_key}:submit), which carries no credentials: the
// pipeline service checks the form key and rate-limits the caller.
func webFormSubmit(r *http.Request) bool {
	key, ok := strings.CutPrefix(r.URL.Path, "/v1/webForms/")
	return ok && r.Method == http.MethodPost && strings.HasSuffix(key, ":submit") && !strings.Contains(key, "/")
}

func writeStatus(w http.ResponseWriter, _ *http.Request, st *status.Status) {
	b, _ := protojson.Marshal(st.Proto())
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(runtime.HTTPStatusFromCode(st.Code()))
	_, _ = w.Write(b)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// readiness reports 200 when every backend's health service says SERVING.
func readiness(b Backends) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		out, ready := map[string]string{}, true
		for name, conn := range b.named() {
			resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
			st := resp.GetStatus().String()
			if err != nil {
				st = status.Code(err).String()
			}
			out[name] = st
			ready = ready && resp.GetStatus() == healthpb.HealthCheckResponse_SERVING
		}
		code := http.StatusOK
		if !ready {
			code = http.StatusServiceUnavailable
		}
		writeJSON(w, code, out)
	}
}

type recorder struct {
	http.ResponseWriter
	code int
}

func (r *recorder) WriteHeader(code int) { r.code = code; r.ResponseWriter.WriteHeader(code) }

// Unwrap lets http.ResponseController reach the connection, for handlers
// that lift the server's deadlines (CSV uploads and exports).
func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// Flush keeps streaming responses (WatchEvents) flowing through the recorder.
func (r *recorder) Flush() {
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// accessLog writes one line per request: method, route, status, duration.
func accessLog(log *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &recorder{ResponseWriter: w, code: http.StatusOK}
		next.ServeHTTP(rec, r)
		log.LogAttrs(r.Context(), slog.LevelInfo, "http", slog.String("method", r.Method), slog.String("route", routeOf(r)),
			slog.Int("status", rec.code), slog.Float64("duration_ms", float64(time.Since(start).Microseconds())/1000))
	})
}
