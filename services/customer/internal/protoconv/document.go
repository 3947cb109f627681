package protoconv

import (
	"encoding/hex"

	"google.golang.org/protobuf/types/known/timestamppb"

	customerv1 "github.com/rapportcrm/rapport/gen/go/rapport/customer/v1"
	"github.com/rapportcrm/rapport/services/customer/internal/document"
)

// Document renders a document as its API message.
func Document(d document.Document) *customerv1.Document {
	out := &customerv1.Document{
		DocumentId:     d.ID.String(),
		CustomerId:     d.CustomerID.String(),
		Title:          d.Title,
		Description:    d.Description,
		CurrentVersion: d.CurrentVersion,
		State:          customerv1.DocumentState(d.State),
		CreateTime:     timestamppb.New(d.CreateTime),
		UpdateTime:     timestamppb.New(d.UpdateTime),
		Etag:           d.Etag(),
	}
	if d.DeleteTime != nil {
		out.DeleteTime = timestamppb.New(*d.DeleteTime)
	}
	return out
}

// DocumentVersion renders a version as its API message.
func DocumentVersion(v document.Version) *customerv1.DocumentVersion {
	return &customerv1.DocumentVersion{
		DocumentId:          v.DocumentID.String(),
		CustomerId:          v.CustomerID.String(),
		Version:             v.Number,
		FileName:            v.FileName,
		DeclaredContentType: v.DeclaredType,
		ContentType:         v.ContentType,
		SizeBytes:           v.Size,
		Sha256:              hex.EncodeToString(v.SHA256),
		CreatorId:           v.CreatorID,
		CreateTime:          timestamppb.New(v.CreateTime),
	}
}

// DocumentTransition renders a lifecycle log entry as its API message.
func DocumentTransition(t document.Transition) *customerv1.DocumentTransition {
	return &customerv1.DocumentTransition{
		TransitionId: t.ID.String(),
		DocumentId:   t.DocumentID.String(),
		FromState:    customerv1.DocumentState(t.From),
		ToState:      customerv1.DocumentState(t.To),
		PrincipalId:  t.PrincipalID,
		Comment:      t.Comment,
		CreateTime:   timestamppb.New(t.CreateTime),
	}
}

// ShareLink renders a share link as its API message; the token is never part of it.
func ShareLink(l document.ShareLink) *customerv1.ShareLink {
	out := &customerv1.ShareLink{
		ShareLinkId: l.ID.String(),
		DocumentId:  l.DocumentID.String(),
		CustomerId:  l.CustomerID.String(),
		Version:     l.Version,
		ExpireTime:  timestamppb.New(l.ExpireTime),
		CreateTime:  timestamppb.New(l.CreateTime),
		CreatorId:   l.CreatorID,
	}
	if l.RevokeTime != nil {
		out.RevokeTime = timestamppb.New(*l.RevokeTime)
	}
	return out
}
