package check

import (
	"testing"

	"github.com/rxguard/rxguard/server/decisionlog"
	"github.com/rxguard/rxguard/server/validate"
)

// Validation refuses exactly the page sizes the decision log would not
// serve.
func TestPageSizeBoundsAgree(t *testing.T) {
	if validate.MaxPageSize != decisionlog.MaxPageSize {
		t.Errorf("validate.MaxPageSize %d, decisionlog.MaxPageSize %d", validate.MaxPageSize, decisionlog.MaxPageSize)
	}
}
