package strictconf

import (
	"errors"
	"testing"
)

// A section may name its errors relative to itself or by their full path
// (a package that validates its config outside this file too); either way
// the key is reported once.
func TestWithinDoesNotRepeatTheSection(t *testing.T) {
	for _, tc := range []struct{ msg, want string }{
		{"max_body_bytes: negative", "nhsa.max_body_bytes"},
		{"nhsa.max_body_bytes: negative", "nhsa.max_body_bytes"},
		{"nhsa[0]: bad", "nhsa[0]"},
		{"nhsaX.y: bad", "nhsa.nhsaX.y"},
	} {
		got := Within("nhsa", errors.New(tc.msg))
		if len(got) != 1 || got[0].Path != tc.want {
			t.Errorf("Within(nhsa, %q) = %v, want path %s", tc.msg, got, tc.want)
		}
	}
}
