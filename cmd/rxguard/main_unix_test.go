package main

import (
	"testing"

	"github.com/rxguard/rxguard/plugins/sdk/sdktest"
)

// Plugin and rxguard binaries are built once for the whole test binary.
func TestMain(m *testing.M) { sdktest.Main(m) }
