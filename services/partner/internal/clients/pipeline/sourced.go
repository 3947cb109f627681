package pipeline

import (
	"context"
	"fmt"

	"github.com/google/uuid"

	pipelinev1 "github.com/rapportcrm/rapport/gen/go/rapport/pipeline/v1"
	"github.com/rapportcrm/rapport/services/partner/internal/finance"
	"github.com/rapportcrm/rapport/services/partner/internal/scorecard"
)

// opportunitiesPage is the page size of the sourced opportunities read.
const opportunitiesPage = 1000

// Sourced implements scorecard.Opportunities: it pages through the
// opportunities with partner as their source, each page with its own
// timeout within the inbound deadline.
func (c *Client) Sourced(ctx context.Context, partner uuid.UUID, fn func(scorecard.Opportunity) error) error {
	filter := fmt.Sprintf(`source_partner_id = "%s"`, partner)
	token := ""
	for {
		cctx, cancel := context.WithTimeout(ctx, callTimeout)
		resp, err := c.client.ListOpportunities(cctx, &pipelinev1.ListOpportunitiesRequest{Filter: filter, PageSize: opportunitiesPage, PageToken: token})
		cancel()
		if err != nil {
			if ctxErr := ctx.Err(); ctxErr != nil {
				return fmt.Errorf("list sourced opportunities: %w", ctxErr)
			}
			return fmt.Errorf("%w: list sourced opportunities: %w", finance.ErrPeer, err)
		}
		for _, o := range resp.GetOpportunities() {
			op := scorecard.Opportunity{CurrencyCode: o.GetAmount().GetCurrencyCode(), AmountMinor: o.GetAmount().GetAmountMinor()}
			switch o.GetStageKind() {
			case pipelinev1.StageKind_STAGE_KIND_WON:
				op.Stage = scorecard.StageWon
			case pipelinev1.StageKind_STAGE_KIND_LOST:
				op.Stage = scorecard.StageLost
			default:
				op.Stage = scorecard.StageOpen
			}
			if o.GetCloseTime() != nil {
				op.CloseTime = o.GetCloseTime().AsTime()
			}
			if err := fn(op); err != nil {
				return err
			}
		}
		if token = resp.GetNextPageToken(); token == "" {
			return nil
		}
	}
}
