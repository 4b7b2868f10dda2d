package wire

import (
	"crypto/ed25519"
	"fmt"
	"time"

	bureauv1 "github.com/rxguard/rxguard/gen/rxguard/bureau/v1"
	"github.com/rxguard/rxguard/knowledge"
)

// EventToProto converts a physician-status event for the wire.
func EventToProto(e knowledge.PhysicianEvent) *bureauv1.PhysicianEvent {
	return &bureauv1.PhysicianEvent{
		Seq: e.Seq, PhysicianCode: e.PhysicianCode,
		Type:   bureauv1.PhysicianEventType(bureauv1.PhysicianEventType_value[e.Type]),
		Date:   e.Date,
		Points: int32(e.Points), Until: e.Until, Reason: e.Reason,
	}
}

// EventFromProto converts and checks an event from the wire: a known type,
// dates as YYYY-MM-DD, points 0–12 (a single decision never exceeds 12).
func EventFromProto(p *bureauv1.PhysicianEvent) (knowledge.PhysicianEvent, error) {
	e := knowledge.PhysicianEvent{
		Seq: p.GetSeq(), PhysicianCode: p.GetPhysicianCode(), Date: p.GetDate(),
		Points: int(p.GetPoints()), Until: p.GetUntil(), Reason: p.GetReason(),
	}
	switch p.GetType() {
	case bureauv1.PhysicianEventType_POINTS_ADDED, bureauv1.PhysicianEventType_POINTS_REDUCED,
		bureauv1.PhysicianEventType_SUSPENDED, bureauv1.PhysicianEventType_TERMINATED, bureauv1.PhysicianEventType_RESTORED:
		e.Type = p.GetType().String()
	default:
		return e, fmt.Errorf("event seq %d: type %v is not one of POINTS_ADDED, POINTS_REDUCED, SUSPENDED, TERMINATED, RESTORED", e.Seq, p.GetType())
	}
	if e.PhysicianCode == "" || len(e.PhysicianCode) > 64 {
		return e, fmt.Errorf("event seq %d: physician_code must be 1–64 characters", e.Seq)
	}
	if _, err := time.Parse("2006-01-02", e.Date); err != nil {
		return e, fmt.Errorf("event seq %d: date %q is not YYYY-MM-DD", e.Seq, e.Date)
	}
	if e.Until != "" {
		if _, err := time.Parse("2006-01-02", e.Until); err != nil {
			return e, fmt.Errorf("event seq %d: until %q is not YYYY-MM-DD", e.Seq, e.Until)
		}
	}
	if e.Points < 0 || e.Points > 12 {
		return e, fmt.Errorf("event seq %d: points %d outside 0–12", e.Seq, e.Points)
	}
	if len(e.Reason) > 1024 {
		return e, fmt.Errorf("event seq %d: reason longer than 1024 bytes", e.Seq)
	}
	return e, nil
}

// EventPage converts and checks one page of the physician-status feed (the
// events that follow afterSeq) and verifies its signature against trusted.
// Nothing of a page that fails is returned.
func EventPage(afterSeq int64, page *bureauv1.ListPhysicianEventsResponse, trusted []ed25519.PublicKey) ([]knowledge.PhysicianEvent, error) {
	events := make([]knowledge.PhysicianEvent, len(page.GetEvents()))
	for i, p := range page.GetEvents() {
		e, err := EventFromProto(p)
		if err != nil {
			return nil, err
		}
		events[i] = e
	}
	if err := knowledge.VerifyEventPage(afterSeq, events, page.GetSignature(), trusted); err != nil {
		return nil, err
	}
	return events, nil
}
