package peers

import (
	"errors"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/rapportcrm/rapport/services/integration/internal/ruleaction"
)

func TestClassify(t *testing.T) {
	t.Parallel()
	tests := []struct {
		code      codes.Code
		permanent bool
	}{
		{codes.InvalidArgument, true},
		{codes.NotFound, true},
		{codes.PermissionDenied, true},
		{codes.FailedPrecondition, true},
		{codes.Unavailable, false},
		{codes.DeadlineExceeded, false},
		{codes.Aborted, false},
		{codes.Internal, false},
	}
	for _, tt := range tests {
		t.Run(tt.code.String(), func(t *testing.T) {
			t.Parallel()
			err := classify("create follow-up", status.Error(tt.code, "no"))
			if errors.Is(err, ruleaction.ErrPermanent) != tt.permanent {
				t.Fatalf("classify(%s) = %v, want permanent %v", tt.code, err, tt.permanent)
			}
			if !tt.permanent && status.Code(err) != tt.code {
				t.Fatalf("classify(%s) lost the status: %v", tt.code, err)
			}
		})
	}
}
