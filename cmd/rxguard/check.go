package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"

	"google.golang.org/genproto/googleapis/rpc/errdetails"

	rxguardv1 "github.com/rxguard/rxguard/gen/rxguard/v1"
	"github.com/rxguard/rxguard/server"
)

func cmdCheck(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("server", server.DefaultGRPCAddr, "address of a running rxguard")
	timeout := fs.Duration("timeout", 5*time.Second, "deadline for the call")
	asJSON := fs.Bool("json", false, "print the response as protojson instead of a table")
	if err := fs.Parse(args); err != nil {
		return usageError{err.Error()}
	}
	if fs.NArg() != 1 {
		return usageError{"check needs exactly one order file (protojson CheckOrdersRequest; - for stdin)"}
	}
	var b []byte
	var err error
	if fs.Arg(0) == "-" {
		b, err = io.ReadAll(os.Stdin)
	} else {
		b, err = os.ReadFile(fs.Arg(0))
	}
	if err != nil {
		return err
	}
	req := &rxguardv1.CheckOrdersRequest{}
	if err := protojson.Unmarshal(b, req); err != nil {
		return fmt.Errorf("%s is not a CheckOrdersRequest in protojson: %w", fs.Arg(0), err)
	}
	conn, err := dialSidecar(*addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	cctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	resp, err := rxguardv1.NewGuardServiceClient(conn).CheckOrders(cctx, req)
	if err != nil {
		return describeError(err)
	}
	if *asJSON {
		out, _ := protojson.MarshalOptions{Multiline: true}.Marshal(resp)
		fmt.Fprintln(stdout, string(out))
		return nil
	}
	printResponse(stdout, resp)
	return nil
}

func describeError(err error) error {
	st, ok := status.FromError(err)
	if !ok {
		return err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %s", st.Code(), st.Message())
	for _, d := range st.Details() {
		if br, ok := d.(*errdetails.BadRequest); ok {
			for _, v := range br.FieldViolations {
				fmt.Fprintf(&b, "\n  %s: %s", v.Field, v.Description)
			}
		}
	}
	return fmt.Errorf("%s", b.String())
}

func printResponse(w io.Writer, r *rxguardv1.CheckOrdersResponse) {
	verdict := strings.TrimPrefix(r.Verdict.String(), "VERDICT_")
	fmt.Fprintf(w, "%s  decision %s  knowledge %s  %dµs\n", verdict, r.DecisionId, r.KnowledgeVersion, r.EvalMicros)
	if ps := r.PhysicianStatus; ps != nil {
		fmt.Fprintf(w, "physician: %s, %d points\n", strings.TrimPrefix(ps.State.String(), "QUALIFICATION_"), ps.Points)
	}
	if len(r.Findings) == 0 {
		fmt.Fprintln(w, "no findings")
		return
	}
	for i, f := range r.Findings {
		fmt.Fprintf(w, "\n%d. %-5s %s  lines %s  (%s)\n", i+1, strings.TrimPrefix(f.Action.String(), "ACTION_"), f.RuleType,
			strings.Join(f.LineIds, ","), f.RuleId)
		fmt.Fprintf(w, "   %s\n", f.Message)
		if f.Suggestion != "" {
			fmt.Fprintf(w, "   建议: %s\n", f.Suggestion)
		}
		if f.Evidence != "" {
			fmt.Fprintf(w, "   依据: %s\n", f.Evidence)
		}
	}
}

// dialSidecar is the CLI's connection to a running sidecar's gRPC listener
// (check, log): the one place its transport is chosen.
// Credentials come from the environment (clientDialOptions).
func dialSidecar(addr string, opts ...grpc.DialOption) (*grpc.ClientConn, error) {
	base, err := clientDialOptions(addr)
	if err != nil {
		return nil, err
	}
	return grpc.NewClient(addr, append(base, opts...)...)
}
