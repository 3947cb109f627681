package edge

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	ticketv1 "github.com/rapportcrm/rapport/gen/go/rapport/ticket/v1"
)

// surveyServer answers one survey token once.
type surveyServer struct {
	ticketv1.UnimplementedTicketServiceServer
	token    string
	answered chan struct{}
}

func (s *surveyServer) GetCsatSurvey(_ context.Context, req *ticketv1.GetCsatSurveyRequest) (*ticketv1.GetCsatSurveyResponse, error) {
	if req.GetToken() != s.token {
		return nil, status.Error(codes.NotFound, "survey not found")
	}
	return &ticketv1.GetCsatSurveyResponse{Survey: &ticketv1.CsatSurvey{TicketSubject: "Printer jams"}}, nil
}

func (s *surveyServer) AnswerCsatSurvey(_ context.Context, req *ticketv1.AnswerCsatSurveyRequest) (*ticketv1.AnswerCsatSurveyResponse, error) {
	if req.GetToken() != s.token {
		return nil, status.Error(codes.NotFound, "survey not found")
	}
	if req.GetScore() < 1 || req.GetScore() > 5 {
		return nil, status.Error(codes.InvalidArgument, "score must be 1 to 5")
	}
	select {
	case <-s.answered:
		return nil, status.Error(codes.FailedPrecondition, "the survey was already answered")
	default:
		close(s.answered)
	}
	return &ticketv1.AnswerCsatSurveyResponse{Survey: &ticketv1.CsatSurvey{TicketSubject: "Printer jams", Score: req.GetScore(), Comment: req.GetComment()}}, nil
}

func startSurveyEdge(t *testing.T, s *surveyServer, logs *syncBuffer) *httptest.Server {
	t.Helper()
	srv := grpc.NewServer()
	ticketv1.RegisterTicketServiceServer(srv, s)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	b := Backends{Customer: conn, Pipeline: conn, Ticket: conn, Partner: conn, Analytics: conn, Integration: conn}
	h, err := New(t.Context(), b, oneKey{}, slog.New(slog.NewJSONHandler(logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(h)
	t.Cleanup(ts.Close)
	return ts
}

// TestCsatRoutes answers a survey without credentials, in order: the
// second answer is refused.
func TestCsatRoutes(t *testing.T) {
	t.Parallel()
	s := &surveyServer{token: "cs_secret-token", answered: make(chan struct{})}
	logs := &syncBuffer{}
	ts := startSurveyEdge(t, s, logs)
	steps := []struct {
		name, method, path, body string
		wantCode                 int
		wantIn                   string
	}{
		{name: "show", method: "GET", path: csatPrefix + s.token, wantCode: 200, wantIn: "Printer jams"},
		{name: "unknown token", method: "GET", path: csatPrefix + "cs_guess", wantCode: 404},
		{name: "not json", method: "POST", path: csatPrefix + s.token, body: "score=5", wantCode: 400},
		{name: "bad score", method: "POST", path: csatPrefix + s.token, body: `{"score": 9}`, wantCode: 400},
		{name: "answer", method: "POST", path: csatPrefix + s.token, body: `{"score": 4, "comment": "quick"}`, wantCode: 200, wantIn: `"score":4`},
		{name: "answer twice", method: "POST", path: csatPrefix + s.token, body: `{"score": 5}`, wantCode: 400},
	}
	for _, st := range steps {
		req, _ := http.NewRequest(st.method, ts.URL+st.path, strings.NewReader(st.body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != st.wantCode || !strings.Contains(string(body), st.wantIn) {
			t.Fatalf("%s: %s %s = %d %s, want %d containing %q", st.name, st.method, st.path, resp.StatusCode, body, st.wantCode, st.wantIn)
		}
	}
	if out := logs.String(); strings.Contains(out, s.token) || strings.Contains(out, "cs_guess") {
		t.Errorf("a survey token reached the access log: %s", out)
	}
}
