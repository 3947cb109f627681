package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	ticketv1 "github.com/rapportcrm/rapport/gen/go/rapport/ticket/v1"
)

// ticketTargets are the help desk's targets (BENCH_TICKETS=1 in run.sh):
// creating a ticket for a random bench customer, posting a public reply, and
// moving a ticket to another status, each over gRPC and through the edge.
var ticketTargets = []string{"grpc-ticket-create", "rest-ticket-create", "grpc-ticket-comment", "rest-ticket-comment",
	"grpc-ticket-transition", "rest-ticket-transition"}

// transitionCycle is the statuses a transition target moves its ticket
// through. Any two of them may follow each other, so a worker whose call
// failed after all (or committed although its answer was lost) still asks
// for a status its ticket is not in.
var transitionCycle = []ticketv1.Status{ticketv1.Status_STATUS_OPEN, ticketv1.Status_STATUS_PENDING_CUSTOMER, ticketv1.Status_STATUS_ON_HOLD}

// setupTimeout bounds the untimed creation of a worker's ticket.
const setupTimeout = 30 * time.Second

// ticketTarget builds one of ticketTargets; clients are the ticket
// service's connections. Comment and transition workers each get a ticket
// of their own, created before the load, so that they never wait on one
// another's row lock and each transition is allowed.
func ticketTarget(cfg config, name string, md metadata.MD, httpc *http.Client, clients []ticketv1.TicketServiceClient) (target, error) {
	t := target{name: name}
	customer := func() string { return cfg.ids[rand.IntN(len(cfg.ids))] }
	// ownTicket creates worker w's ticket; the calls of a worker whose
	// ticket could not be made fail with that error.
	ownTicket := func(w int) (string, error) {
		ctx, cancel := context.WithTimeout(metadata.NewOutgoingContext(context.Background(), md), setupTimeout)
		defer cancel()
		resp, err := clients[w%len(clients)].CreateTicket(ctx, &ticketv1.CreateTicketRequest{
			Ticket: &ticketv1.Ticket{CustomerId: customer(), Subject: fmt.Sprintf("Bench %s worker %d", name, w)},
		})
		if err != nil {
			return "", fmt.Errorf("create the ticket of worker %d: %w", w, err)
		}
		return resp.GetTicket().GetTicketId(), nil
	}
	failing := func(err error) func(context.Context) error {
		return func(context.Context) error { return err }
	}
	switch name {
	case "grpc-ticket-create":
		t.newCall = func(w int) func(context.Context) error {
			c := clients[w%len(clients)]
			return func(ctx context.Context) error {
				_, err := c.CreateTicket(metadata.NewOutgoingContext(ctx, md), &ticketv1.CreateTicketRequest{
					Ticket: &ticketv1.Ticket{CustomerId: customer(), Subject: "Bench ticket", Priority: ticketv1.Priority_PRIORITY_MEDIUM},
				})
				return err
			}
		}
	case "rest-ticket-create":
		t.newCall = func(int) func(context.Context) error {
			return func(ctx context.Context) error {
				return do(ctx, httpc, cfg.key, http.MethodPost, cfg.restURL+"/v1/tickets",
					`{"customerId":"`+customer()+`","subject":"Bench ticket","priority":"PRIORITY_MEDIUM"}`)
			}
		}
	case "grpc-ticket-comment", "rest-ticket-comment":
		t.newCall = func(w int) func(context.Context) error {
			id, err := ownTicket(w)
			if err != nil {
				return failing(err)
			}
			if name == "rest-ticket-comment" {
				return func(ctx context.Context) error {
					return do(ctx, httpc, cfg.key, http.MethodPost, cfg.restURL+"/v1/tickets/"+id+"/messages", `{"body":"We are looking into it."}`)
				}
			}
			c := clients[w%len(clients)]
			return func(ctx context.Context) error {
				_, err := c.CreateTicketMessage(metadata.NewOutgoingContext(ctx, md), &ticketv1.CreateTicketMessageRequest{
					TicketId: id, Message: &ticketv1.TicketMessage{Body: "We are looking into it."},
				})
				return err
			}
		}
	case "grpc-ticket-transition", "rest-ticket-transition":
		t.newCall = func(w int) func(context.Context) error {
			id, err := ownTicket(w)
			if err != nil {
				return failing(err)
			}
			next := 0
			status := func() ticketv1.Status {
				s := transitionCycle[next%len(transitionCycle)]
				next++
				return s
			}
			if name == "rest-ticket-transition" {
				return func(ctx context.Context) error {
					return do(ctx, httpc, cfg.key, http.MethodPost, cfg.restURL+"/v1/tickets/"+id+":transition", `{"status":"`+status().String()+`"}`)
				}
			}
			c := clients[w%len(clients)]
			return func(ctx context.Context) error {
				_, err := c.TransitionTicket(metadata.NewOutgoingContext(ctx, md), &ticketv1.TransitionTicketRequest{TicketId: id, Status: status()})
				return err
			}
		}
	default:
		return target{}, fmt.Errorf("unknown ticket target %q", name)
	}
	return t, nil
}

// dialTickets opens n connections to the ticket service.
func dialTickets(addr string, n int) ([]ticketv1.TicketServiceClient, func(), error) {
	clients := make([]ticketv1.TicketServiceClient, n)
	var conns []*grpc.ClientConn
	closeAll := func() {
		for _, c := range conns {
			c.Close()
		}
	}
	for i := range n {
		c, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			closeAll()
			return nil, nil, err
		}
		conns = append(conns, c)
		clients[i] = ticketv1.NewTicketServiceClient(c)
	}
	return clients, closeAll, nil
}
