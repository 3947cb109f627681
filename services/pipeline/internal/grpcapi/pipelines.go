package grpcapi

import (
	"context"
	"fmt"

	"github.com/google/uuid"

	pipelinev1 "github.com/rapportcrm/rapport/gen/go/rapport/pipeline/v1"
	"github.com/rapportcrm/rapport/pkg/validation"
	"github.com/rapportcrm/rapport/services/pipeline/internal/protoconv"
)

// CreatePipeline implements the RPC.
func (s *Server) CreatePipeline(ctx context.Context, req *pipelinev1.CreatePipelineRequest) (*pipelinev1.CreatePipelineResponse, error) {
	if req.GetPipeline() == nil {
		return nil, toStatus(validation.Field("pipeline", "is required"))
	}
	p, err := protoconv.FromPipeline(req.GetPipeline(), "pipeline.")
	if err != nil {
		return nil, toStatus(err)
	}
	// Stage ids are server-assigned on create.
	for i := range p.Stages {
		p.Stages[i].ID = uuid.Nil
	}
	saved, err := s.svc.CreatePipeline(ctx, caller(ctx), p, req.GetRequestId())
	if err != nil {
		return nil, toStatus(err)
	}
	return &pipelinev1.CreatePipelineResponse{Pipeline: protoconv.Pipeline(saved)}, nil
}

// GetPipeline implements the RPC.
func (s *Server) GetPipeline(ctx context.Context, req *pipelinev1.GetPipelineRequest) (*pipelinev1.GetPipelineResponse, error) {
	id, err := parseID("pipeline_id", req.GetPipelineId())
	if err != nil {
		return nil, toStatus(err)
	}
	p, err := s.svc.GetPipeline(ctx, caller(ctx), id)
	if err != nil {
		return nil, toStatus(err)
	}
	return &pipelinev1.GetPipelineResponse{Pipeline: protoconv.Pipeline(p)}, nil
}

// ListPipelines implements the RPC.
func (s *Server) ListPipelines(ctx context.Context, req *pipelinev1.ListPipelinesRequest) (*pipelinev1.ListPipelinesResponse, error) {
	page, err := s.svc.ListPipelines(ctx, caller(ctx), int(req.GetPageSize()), req.GetPageToken(), req.GetShowDeleted())
	if err != nil {
		return nil, toStatus(err)
	}
	out := &pipelinev1.ListPipelinesResponse{NextPageToken: page.NextPageToken}
	for _, p := range page.Pipelines {
		out.Pipelines = append(out.Pipelines, protoconv.Pipeline(p))
	}
	return out, nil
}

// UpdatePipeline implements the RPC.
func (s *Server) UpdatePipeline(ctx context.Context, req *pipelinev1.UpdatePipelineRequest) (*pipelinev1.UpdatePipelineResponse, error) {
	if req.GetPipeline() == nil {
		return nil, toStatus(validation.Field("pipeline", "is required"))
	}
	id, err := parseID("pipeline.pipeline_id", req.GetPipeline().GetPipelineId())
	if err != nil {
		return nil, toStatus(err)
	}
	in, err := protoconv.FromPipeline(req.GetPipeline(), "pipeline.")
	if err != nil {
		return nil, toStatus(err)
	}
	in.ID = id
	mask := dropOutputOnly(maskPaths(req.GetUpdateMask().GetPaths()), "pipeline_id", "create_time", "update_time", "delete_time")
	saved, err := s.svc.UpdatePipeline(ctx, caller(ctx), in, mask, req.GetPipeline().GetEtag())
	if err != nil {
		return nil, toStatus(err)
	}
	return &pipelinev1.UpdatePipelineResponse{Pipeline: protoconv.Pipeline(saved)}, nil
}

// ReorderPipelineStages implements the RPC.
func (s *Server) ReorderPipelineStages(ctx context.Context, req *pipelinev1.ReorderPipelineStagesRequest) (*pipelinev1.ReorderPipelineStagesResponse, error) {
	id, err := parseID("pipeline_id", req.GetPipelineId())
	if err != nil {
		return nil, toStatus(err)
	}
	ids := make([]uuid.UUID, len(req.GetStageIds()))
	for i, sid := range req.GetStageIds() {
		if ids[i], err = parseID(fmt.Sprintf("stage_ids[%d]", i), sid); err != nil {
			return nil, toStatus(err)
		}
	}
	p, err := s.svc.ReorderStages(ctx, caller(ctx), id, ids, req.GetEtag())
	if err != nil {
		return nil, toStatus(err)
	}
	return &pipelinev1.ReorderPipelineStagesResponse{Pipeline: protoconv.Pipeline(p)}, nil
}

// DeletePipeline implements the RPC.
func (s *Server) DeletePipeline(ctx context.Context, req *pipelinev1.DeletePipelineRequest) (*pipelinev1.DeletePipelineResponse, error) {
	id, err := parseID("pipeline_id", req.GetPipelineId())
	if err != nil {
		return nil, toStatus(err)
	}
	p, err := s.svc.DeletePipeline(ctx, caller(ctx), id, req.GetEtag())
	if err != nil {
		return nil, toStatus(err)
	}
	return &pipelinev1.DeletePipelineResponse{Pipeline: protoconv.Pipeline(p)}, nil
}

// UndeletePipeline implements the RPC.
func (s *Server) UndeletePipeline(ctx context.Context, req *pipelinev1.UndeletePipelineRequest) (*pipelinev1.UndeletePipelineResponse, error) {
	id, err := parseID("pipeline_id", req.GetPipelineId())
	if err != nil {
		return nil, toStatus(err)
	}
	p, err := s.svc.UndeletePipeline(ctx, caller(ctx), id, req.GetEtag())
	if err != nil {
		return nil, toStatus(err)
	}
	return &pipelinev1.UndeletePipelineResponse{Pipeline: protoconv.Pipeline(p)}, nil
}

// CreateProduct implements the RPC.
func (s *Server) CreateProduct(ctx context.Context, req *pipelinev1.CreateProductRequest) (*pipelinev1.CreateProductResponse, error) {
	if req.GetProduct() == nil {
		return nil, toStatus(validation.Field("product", "is required"))
	}
	saved, err := s.svc.CreateProduct(ctx, caller(ctx), protoconv.FromProduct(req.GetProduct()), req.GetRequestId())
	if err != nil {
		return nil, toStatus(err)
	}
	return &pipelinev1.CreateProductResponse{Product: protoconv.Product(saved)}, nil
}

// GetProduct implements the RPC.
func (s *Server) GetProduct(ctx context.Context, req *pipelinev1.GetProductRequest) (*pipelinev1.GetProductResponse, error) {
	id, err := parseID("product_id", req.GetProductId())
	if err != nil {
		return nil, toStatus(err)
	}
	p, err := s.svc.GetProduct(ctx, caller(ctx), id)
	if err != nil {
		return nil, toStatus(err)
	}
	return &pipelinev1.GetProductResponse{Product: protoconv.Product(p)}, nil
}

// ListProducts implements the RPC.
func (s *Server) ListProducts(ctx context.Context, req *pipelinev1.ListProductsRequest) (*pipelinev1.ListProductsResponse, error) {
	page, err := s.svc.ListProducts(ctx, caller(ctx), int(req.GetPageSize()), req.GetPageToken(), req.GetFilter())
	if err != nil {
		return nil, toStatus(err)
	}
	out := &pipelinev1.ListProductsResponse{NextPageToken: page.NextPageToken}
	for _, p := range page.Products {
		out.Products = append(out.Products, protoconv.Product(p))
	}
	return out, nil
}

// UpdateProduct implements the RPC.
func (s *Server) UpdateProduct(ctx context.Context, req *pipelinev1.UpdateProductRequest) (*pipelinev1.UpdateProductResponse, error) {
	if req.GetProduct() == nil {
		return nil, toStatus(validation.Field("product", "is required"))
	}
	id, err := parseID("product.product_id", req.GetProduct().GetProductId())
	if err != nil {
		return nil, toStatus(err)
	}
	in := protoconv.FromProduct(req.GetProduct())
	in.ID = id
	mask := dropOutputOnly(maskPaths(req.GetUpdateMask().GetPaths()), "product_id", "create_time", "update_time")
	saved, err := s.svc.UpdateProduct(ctx, caller(ctx), in, mask, req.GetProduct().GetEtag())
	if err != nil {
		return nil, toStatus(err)
	}
	return &pipelinev1.UpdateProductResponse{Product: protoconv.Product(saved)}, nil
}

// CreatePriceList implements the RPC.
func (s *Server) CreatePriceList(ctx context.Context, req *pipelinev1.CreatePriceListRequest) (*pipelinev1.CreatePriceListResponse, error) {
	if req.GetPriceList() == nil {
		return nil, toStatus(validation.Field("price_list", "is required"))
	}
	l, err := protoconv.FromPriceList(req.GetPriceList(), "price_list.")
	if err != nil {
		return nil, toStatus(err)
	}
	saved, err := s.svc.CreatePriceList(ctx, caller(ctx), l, req.GetRequestId())
	if err != nil {
		return nil, toStatus(err)
	}
	return &pipelinev1.CreatePriceListResponse{PriceList: protoconv.PriceList(saved)}, nil
}

// GetPriceList implements the RPC.
func (s *Server) GetPriceList(ctx context.Context, req *pipelinev1.GetPriceListRequest) (*pipelinev1.GetPriceListResponse, error) {
	id, err := parseID("price_list_id", req.GetPriceListId())
	if err != nil {
		return nil, toStatus(err)
	}
	l, err := s.svc.GetPriceList(ctx, caller(ctx), id)
	if err != nil {
		return nil, toStatus(err)
	}
	return &pipelinev1.GetPriceListResponse{PriceList: protoconv.PriceList(l)}, nil
}

// ListPriceLists implements the RPC.
func (s *Server) ListPriceLists(ctx context.Context, req *pipelinev1.ListPriceListsRequest) (*pipelinev1.ListPriceListsResponse, error) {
	page, err := s.svc.ListPriceLists(ctx, caller(ctx), int(req.GetPageSize()), req.GetPageToken(), req.GetFilter())
	if err != nil {
		return nil, toStatus(err)
	}
	out := &pipelinev1.ListPriceListsResponse{NextPageToken: page.NextPageToken}
	for _, l := range page.PriceLists {
		out.PriceLists = append(out.PriceLists, protoconv.PriceList(l))
	}
	return out, nil
}

// UpdatePriceList implements the RPC.
func (s *Server) UpdatePriceList(ctx context.Context, req *pipelinev1.UpdatePriceListRequest) (*pipelinev1.UpdatePriceListResponse, error) {
	if req.GetPriceList() == nil {
		return nil, toStatus(validation.Field("price_list", "is required"))
	}
	id, err := parseID("price_list.price_list_id", req.GetPriceList().GetPriceListId())
	if err != nil {
		return nil, toStatus(err)
	}
	in, err := protoconv.FromPriceList(req.GetPriceList(), "price_list.")
	if err != nil {
		return nil, toStatus(err)
	}
	in.ID = id
	mask := dropOutputOnly(maskPaths(req.GetUpdateMask().GetPaths()), "price_list_id", "currency_code", "create_time", "update_time")
	saved, err := s.svc.UpdatePriceList(ctx, caller(ctx), in, mask, req.GetPriceList().GetEtag())
	if err != nil {
		return nil, toStatus(err)
	}
	return &pipelinev1.UpdatePriceListResponse{PriceList: protoconv.PriceList(saved)}, nil
}
