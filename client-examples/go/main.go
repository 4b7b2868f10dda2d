// Command client is the Go HIS client example for rxguard: it checks a
// prescription, applies the first structured suggestion (Finding.fixes) and
// checks again, then records the physician's response to the findings.
//
// Usage: RXGUARD_ADDR=127.0.0.1:7600 go run . [prescription.json]
package main

import (
	"context"
	"fmt"
	"log"
	"os"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	rxguardv1 "github.com/rxguard/rxguard/gen/rxguard/v1"
)

func main() {
	addr := os.Getenv("RXGUARD_ADDR")
	if addr == "" {
		addr = "127.0.0.1:7600"
	}
	file := "../prescription.json"
	if len(os.Args) > 1 {
		file = os.Args[1]
	}
	if err := run(addr, file); err != nil {
		log.Fatal(err)
	}
}

func run(addr, file string) error {
	data, err := os.ReadFile(file)
	if err != nil {
		return fmt.Errorf("read the prescription: %w", err)
	}
	// The prescription is a CheckOrdersRequest in protojson, as grpcurl sends it.
	req := &rxguardv1.CheckOrdersRequest{}
	if err := protojson.Unmarshal(data, req); err != nil {
		return fmt.Errorf("%s is not a CheckOrdersRequest: %w", file, err)
	}

	// The sidecar runs on the same host: plaintext on loopback. One
	// connection, kept for the life of the HIS process, serves every call.
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return fmt.Errorf("connect to rxguard at %s: %w", addr, err)
	}
	defer conn.Close()
	guard := rxguardv1.NewGuardServiceClient(conn)

	// A check answers in microseconds; the deadline bounds how long the
	// physician waits when the sidecar is down.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	resp, err := guard.CheckOrders(ctx, req)
	if err != nil {
		return fmt.Errorf("CheckOrders (is rxguard serving at %s?): %w", addr, err)
	}
	printDecision("verdict", resp)

	// (a) Apply the first structured suggestion and check again.
	fixed := ""
	if f, fix := firstFix(resp.Findings); fix != nil {
		fixed = f.FindingId
		changed := proto.Clone(req).(*rxguardv1.CheckOrdersRequest)
		if err := applyFix(changed, fix); err != nil {
			return err
		}
		fmt.Printf("apply: %s on line %s\n", fix.Kind, fix.LineId)
		again, err := guard.CheckOrders(ctx, changed)
		if err != nil {
			return fmt.Errorf("CheckOrders after the fix: %w", err)
		}
		printDecision("re-check verdict", again)
	} else {
		fmt.Println("no fix offered")
	}

	// (b) Record the physician's answer to the first decision's findings:
	// a BLOCK (not overridable) or a fixed finding was modified; anything
	// else the physician continues with a reason.
	rr := &rxguardv1.RecordResponseRequest{DecisionId: resp.DecisionId}
	for _, f := range resp.Findings {
		r := &rxguardv1.FindingResponse{FindingId: f.FindingId, Response: rxguardv1.Response_RESPONSE_MODIFY}
		if f.Overridable && f.FindingId != fixed {
			r.Response = rxguardv1.Response_RESPONSE_CONTINUE
			r.ReasonCode = "CLINICAL_NEED"
			r.ReasonText = "病情需要，已向患者说明"
		}
		rr.Responses = append(rr.Responses, r)
	}
	if len(rr.Responses) > 0 {
		rec, err := guard.RecordResponse(ctx, rr)
		if err != nil {
			return fmt.Errorf("RecordResponse: %w", err)
		}
		fmt.Printf("recorded: %d\n", rec.Recorded)
	}
	return nil
}

func printDecision(label string, resp *rxguardv1.CheckOrdersResponse) {
	fmt.Printf("%s: %s decision=%s\n", label, resp.Verdict, resp.DecisionId)
	for _, f := range resp.Findings {
		fmt.Printf("finding %s: %s %s lines=%s\n", f.FindingId, f.RuleType, f.Action, strings.Join(f.LineIds, ","))
		fmt.Printf("  message: %s\n", f.Message)
		fmt.Printf("  suggestion: %s\n", f.Suggestion)
		for _, x := range f.Fixes {
			fmt.Printf("  fix: %s line=%s quantity=%g days=%d item=%s label=%s\n",
				x.Kind, x.LineId, x.Quantity, x.Days, x.ItemCode, x.Label)
		}
	}
}

// firstFix returns the first finding that offers a fix, and that fix.
func firstFix(findings []*rxguardv1.Finding) (*rxguardv1.Finding, *rxguardv1.Fix) {
	for _, f := range findings {
		if len(f.Fixes) > 0 {
			return f, f.Fixes[0]
		}
	}
	return nil, nil
}

// applyFix changes req as the fix says; each fix alone makes its finding pass.
func applyFix(req *rxguardv1.CheckOrdersRequest, fix *rxguardv1.Fix) error {
	for i, line := range req.Orders {
		if line.LineId != fix.LineId {
			continue
		}
		switch fix.Kind {
		case rxguardv1.FixKind_FIX_KIND_REDUCE_QUANTITY:
			line.Quantity = fix.Quantity
		case rxguardv1.FixKind_FIX_KIND_REDUCE_DAYS:
			line.Days = fix.Days
		case rxguardv1.FixKind_FIX_KIND_MARK_SELF_PAY:
			line.SelfPay = true // only after the patient's informed consent
		case rxguardv1.FixKind_FIX_KIND_ATTEST_RESTRICTION:
			line.RestrictionAttested = true
		case rxguardv1.FixKind_FIX_KIND_REMOVE_LINE:
			req.Orders = append(req.Orders[:i], req.Orders[i+1:]...)
		case rxguardv1.FixKind_FIX_KIND_CHANGE_ITEM:
			line.ItemCode, line.ItemName = fix.ItemCode, fix.ItemName
		default:
			return fmt.Errorf("fix kind %s is newer than this client: update the client", fix.Kind)
		}
		return nil
	}
	return fmt.Errorf("fix names line %q, which the request does not have", fix.LineId)
}
