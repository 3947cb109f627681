package analytics

import (
	"strconv"

	"github.com/google/uuid"

	"github.com/rapportcrm/rapport/pkg/auth"
)

// indexed names the i-th element of a repeated field, as in "events[3]".
func indexed(field string, i int) string { return field + "[" + strconv.Itoa(i) + "]" }

// callerTenant returns the tenant of a caller whose roles were checked.
func callerTenant(c auth.Caller) (uuid.UUID, error) {
	tenant, err := uuid.Parse(c.TenantID)
	if err != nil {
		return uuid.Nil, auth.ErrUnauthenticated
	}
	return tenant, nil
}
