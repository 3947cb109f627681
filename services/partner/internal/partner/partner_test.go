package partner

import "testing"

func TestCanTransition(t *testing.T) {
	t.Parallel()
	tests := []struct {
		from, to Status
		want     bool
	}{
		{StatusApplicant, StatusQualification, true},
		{StatusApplicant, StatusActive, false},
		{StatusQualification, StatusAgreement, true},
		{StatusAgreement, StatusActive, true},
		{StatusActive, StatusSuspended, true},
		{StatusSuspended, StatusActive, true},
		{StatusActive, StatusApplicant, false},
		{StatusSuspended, StatusTerminated, true},
		{StatusTerminated, StatusActive, false},
		{StatusTerminated, StatusTerminated, false},
	}
	for _, tt := range tests {
		if got := CanTransition(tt.from, tt.to); got != tt.want {
			t.Errorf("CanTransition(%v, %v) = %v, want %v", tt.from, tt.to, got, tt.want)
		}
	}
}
