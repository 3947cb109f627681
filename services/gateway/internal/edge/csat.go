package edge

import (
	"io"
	"log/slog"
	"net/http"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	ticketv1 "github.com/rapportcrm/rapport/gen/go/rapport/ticket/v1"
)

// csatPrefix is the public route of satisfaction surveys; its last segment
// is the survey link's token, a credential.
const csatPrefix = "/v1/csatSurveys/"

// maxSurveyBody bounds an answer's JSON body: a score and a short comment.
const maxSurveyBody = 16 << 10

// csatRoutes serves the survey link without credentials: the customer has
// no account, and the token, taken out of the URL by sealShareToken, is
// what the ticket service checks. These routes sit on mux beside the
// authenticated /v1/ tree, so their more specific patterns win.
func csatRoutes(mux *http.ServeMux, client ticketv1.TicketServiceClient, log *slog.Logger) {
	mux.HandleFunc("GET "+csatPrefix+sealedToken, func(w http.ResponseWriter, r *http.Request) {
		token, _ := r.Context().Value(shareTokenKey{}).(string)
		resp, err := client.GetCsatSurvey(r.Context(), &ticketv1.GetCsatSurveyRequest{Token: token})
		writeProto(w, r, log, resp.GetSurvey(), err)
	})
	mux.HandleFunc("POST "+csatPrefix+sealedToken, func(w http.ResponseWriter, r *http.Request) {
		token, _ := r.Context().Value(shareTokenKey{}).(string)
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxSurveyBody))
		if err != nil {
			writeStatus(w, r, status.New(codes.InvalidArgument, "the body is too large or unreadable"))
			return
		}
		req := &ticketv1.AnswerCsatSurveyRequest{}
		if err := protojson.Unmarshal(body, req); err != nil {
			writeStatus(w, r, status.New(codes.InvalidArgument, "the body is not an answer: {\"score\": 1-5, \"comment\": \"...\"}"))
			return
		}
		req.Token = token
		resp, err := client.AnswerCsatSurvey(r.Context(), req)
		writeProto(w, r, log, resp.GetSurvey(), err)
	})
}

// writeProto writes m as JSON, or err as a status.
func writeProto(w http.ResponseWriter, r *http.Request, log *slog.Logger, m proto.Message, err error) {
	if err != nil {
		writeStatus(w, r, status.Convert(err))
		return
	}
	b, err := protojson.Marshal(m)
	if err != nil {
		log.ErrorContext(r.Context(), "marshal response", "error", err)
		writeStatus(w, r, status.New(codes.Internal, "internal error"))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(b)
}
