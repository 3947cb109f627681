package protoconv

import (
	"fmt"

	"google.golang.org/protobuf/types/known/timestamppb"

	pipelinev1 "github.com/rapportcrm/rapport/gen/go/rapport/pipeline/v1"
	"github.com/rapportcrm/rapport/pkg/validation"
	"github.com/rapportcrm/rapport/services/pipeline/internal/pipeline"
)

// Pipeline renders a pipeline as its API message.
func Pipeline(p pipeline.Pipeline) *pipelinev1.Pipeline {
	out := &pipelinev1.Pipeline{
		PipelineId: p.ID.String(), DisplayName: p.DisplayName, CurrencyCode: p.CurrencyCode, Default: p.Default,
		WonReasons: p.WonReasons, LostReasons: p.LostReasons,
		CreateTime: timestamppb.New(p.CreateTime), UpdateTime: timestamppb.New(p.UpdateTime), DeleteTime: optionalTime(p.DeleteTime),
		Etag: p.Etag(),
	}
	for _, s := range p.Stages {
		out.Stages = append(out.Stages, &pipelinev1.PipelineStage{
			StageId: s.ID.String(), DisplayName: s.DisplayName, Probability: s.Probability, Kind: pipelinev1.StageKind(s.Kind),
			RequiredFields: s.RequiredFields, LegacyStage: pipelinev1.Stage(s.LegacyStage),
		})
	}
	return out
}

// FromPipeline reads the writable fields of an API message; field paths in
// violations start with prefix.
func FromPipeline(m *pipelinev1.Pipeline, prefix string) (pipeline.Pipeline, error) {
	v := &validation.Error{}
	p := pipeline.Pipeline{
		DisplayName: m.GetDisplayName(), CurrencyCode: m.GetCurrencyCode(), Default: m.GetDefault(),
		WonReasons: append([]string(nil), m.GetWonReasons()...), LostReasons: append([]string(nil), m.GetLostReasons()...),
	}
	for i, s := range m.GetStages() {
		f := fmt.Sprintf("%sstages[%d].", prefix, i)
		if _, ok := pipelinev1.StageKind_name[int32(s.GetKind())]; !ok {
			v.Add(f+"kind", "unknown value %d", s.GetKind())
		}
		p.Stages = append(p.Stages, pipeline.PipelineStage{
			ID: requiredID(s.GetStageId(), f+"stage_id", v), DisplayName: s.GetDisplayName(), Probability: s.GetProbability(),
			Kind: pipeline.StageKind(s.GetKind()), RequiredFields: append([]string(nil), s.GetRequiredFields()...),
		})
	}
	return p, v.Err()
}

// Product renders a product as its API message.
func Product(p pipeline.Product) *pipelinev1.Product {
	return &pipelinev1.Product{
		ProductId: p.ID.String(), Sku: p.SKU, DisplayName: p.DisplayName, Active: p.Active,
		CreateTime: timestamppb.New(p.CreateTime), UpdateTime: timestamppb.New(p.UpdateTime), Etag: p.Etag(),
	}
}

// FromProduct reads the writable fields of an API message.
func FromProduct(m *pipelinev1.Product) pipeline.Product {
	return pipeline.Product{SKU: m.GetSku(), DisplayName: m.GetDisplayName(), Active: m.GetActive()}
}

// PriceList renders a price list as its API message.
func PriceList(l pipeline.PriceList) *pipelinev1.PriceList {
	out := &pipelinev1.PriceList{
		PriceListId: l.ID.String(), DisplayName: l.DisplayName, CurrencyCode: l.CurrencyCode,
		CreateTime: timestamppb.New(l.CreateTime), UpdateTime: timestamppb.New(l.UpdateTime), Etag: l.Etag(),
	}
	for _, p := range l.Prices {
		out.Prices = append(out.Prices, &pipelinev1.Price{ProductId: p.ProductID.String(), ValidFrom: p.ValidFrom, UnitPriceMinor: p.UnitPriceMinor})
	}
	return out
}

// FromPriceList reads the writable fields of an API message; field paths in
// violations start with prefix.
func FromPriceList(m *pipelinev1.PriceList, prefix string) (pipeline.PriceList, error) {
	v := &validation.Error{}
	l := pipeline.PriceList{DisplayName: m.GetDisplayName(), CurrencyCode: m.GetCurrencyCode()}
	for i, p := range m.GetPrices() {
		l.Prices = append(l.Prices, pipeline.Price{
			ProductID: requiredID(p.GetProductId(), fmt.Sprintf("%sprices[%d].product_id", prefix, i), v),
			ValidFrom: p.GetValidFrom(), UnitPriceMinor: p.GetUnitPriceMinor(),
		})
	}
	return l, v.Err()
}
