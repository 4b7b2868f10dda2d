package server

import (
	"context"
	"errors"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/rxguard/rxguard/server/check"
	"github.com/rxguard/rxguard/server/validate"
)

// detailBudget bounds the bytes of violations put in one BadRequest. Status
// details travel base64-encoded in the grpc-status-details-bin trailer, and
// grpc-java (and C-core based clients) refuse metadata over 8 KiB by default:
// the HIS would get INTERNAL instead of the violations. 3.5 KiB of details
// plus the percent-encoded grpc-message stay well inside that. Violations past
// the budget are counted in a last one on "request".
const detailBudget = 3584

// grpcError maps the check service's errors to gRPC status errors: bad
// input to InvalidArgument with a google.rpc.BadRequest trimmed to the
// trailer budget, the service's kinds to their codes.
func grpcError(err error) error {
	if err == nil {
		return nil
	}
	var ve *validate.Error
	if errors.As(err, &ve) {
		return invalidArgument(ve)
	}
	var ce *check.Error
	if errors.As(err, &ce) {
		code := codes.Internal
		switch ce.Kind {
		case check.Unavailable:
			code = codes.Unavailable
		case check.NotFound:
			code = codes.NotFound
		case check.FailedPrecondition:
			code = codes.FailedPrecondition
		case check.ResourceExhausted:
			code = codes.ResourceExhausted
		}
		return status.Error(code, ce.Msg)
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return status.FromContextError(err).Err()
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	return status.Error(codes.Internal, err.Error())
}

func invalidArgument(ve *validate.Error) error {
	var vs []*errdetails.BadRequest_FieldViolation
	used, omitted := 0, ve.Omitted
	for i, v := range ve.Violations {
		n := len(v.Field) + len(v.Description) + 8 // tags and lengths
		if used+n > detailBudget {
			omitted += len(ve.Violations) - i
			break
		}
		used += n
		vs = append(vs, v)
	}
	if omitted > 0 {
		vs = append(vs, validate.OmittedViolation(omitted))
	}
	st := status.New(codes.InvalidArgument, ve.Error())
	if withDetails, err := st.WithDetails(&errdetails.BadRequest{FieldViolations: vs}); err == nil {
		st = withDetails
	}
	return st.Err()
}
