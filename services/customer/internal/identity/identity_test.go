package identity

import (
	"slices"
	"testing"

	"github.com/rapportcrm/rapport/pkg/auth"
)

func TestTenantTokenRoles(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name string
		in   []auth.Role
		want []auth.Role
	}{
		{"an operator admin reads only", []auth.Role{auth.RoleAdmin}, []auth.Role{auth.RoleAnalyst}},
		{"an analyst stays one", []auth.Role{auth.RoleAnalyst}, []auth.Role{auth.RoleAnalyst}},
		{"a consumer that acts keeps its writer role", []auth.Role{auth.RoleAnalyst, auth.RoleSupportAgent},
			[]auth.Role{auth.RoleAnalyst, auth.RoleSupportAgent}},
		{"admin and partner user never pass", []auth.Role{auth.RoleAdmin, auth.RolePartnerUser, auth.RoleSalesManager},
			[]auth.Role{auth.RoleAnalyst, auth.RoleSalesManager}},
	} {
		if got := tenantTokenRoles(tt.in); !slices.Equal(got, tt.want) {
			t.Errorf("%s: tenantTokenRoles(%v) = %v, want %v", tt.name, tt.in, got, tt.want)
		}
	}
}
