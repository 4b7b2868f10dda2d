package sdktest_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pluginv1 "github.com/rxguard/rxguard/gen/rxguard/plugin/v1"
	rxguardv1 "github.com/rxguard/rxguard/gen/rxguard/v1"
	"github.com/rxguard/rxguard/plugins/sdk"
	"github.com/rxguard/rxguard/plugins/sdk/sdktest"
)

func TestMain(m *testing.M) { sdktest.Main(m) }

const echoPkg = "./testdata/echo"

func req(codes ...string) *pluginv1.EvaluateRequest {
	r := &rxguardv1.CheckOrdersRequest{RequestId: "r1"}
	for i, c := range codes {
		r.Orders = append(r.Orders, &rxguardv1.OrderLine{LineId: string(rune('a' + i)), ItemCode: c})
	}
	return &pluginv1.EvaluateRequest{Request: r, KnowledgeVersion: "demo-1"}
}

func TestInProcess(t *testing.T) {
	var got *pluginv1.EvaluateRequest
	p := sdk.Simple("inproc", "1.2.3", "d", []string{"R1"}, func(_ context.Context, r *pluginv1.EvaluateRequest) ([]*rxguardv1.Finding, error) {
		got = r
		return []*rxguardv1.Finding{sdk.Finding("R1", "T", rxguardv1.Action_ACTION_WARN, []string{"a"}, "m", "e", "s")}, nil
	})
	c := sdktest.InProcess(t, p)

	d, err := c.Describe(context.Background(), &pluginv1.DescribeRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if d.GetName() != "inproc" || d.GetVersion() != "1.2.3" || len(d.GetRuleIds()) != 1 {
		t.Fatalf("Describe = %v", d)
	}
	fs := sdktest.Evaluate(t, c, req("X"))
	if len(fs) != 1 || fs[0].GetRuleId() != "R1" || fs[0].GetAction() != rxguardv1.Action_ACTION_WARN {
		t.Fatalf("findings = %v", fs)
	}
	// The request crossed the wire: a copy, equal in content.
	if got.GetKnowledgeVersion() != "demo-1" || got.GetRequest().GetOrders()[0].GetItemCode() != "X" {
		t.Fatalf("plugin saw %v", got)
	}
}

func TestBinary(t *testing.T) {
	c, kill := sdktest.Binary(t, echoPkg, "-prefix", "seen")
	d, err := c.Describe(context.Background(), &pluginv1.DescribeRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if d.GetName() != "echo" {
		t.Fatalf("Describe = %v", d)
	}
	fs := sdktest.Evaluate(t, c, req("A1", "B2"))
	if len(fs) != 2 || fs[1].GetMessage() != "seen B2" || fs[1].GetLineIds()[0] != "b" {
		t.Fatalf("findings = %v", fs)
	}

	// A panic in the rule is an Internal error; the process keeps serving.
	_, err = c.Evaluate(context.Background(), req("PANIC"))
	if status.Code(err) != codes.Internal || !strings.Contains(err.Error(), "asked to panic") {
		t.Fatalf("panic: err = %v, want Internal naming the panic", err)
	}
	if fs := sdktest.Evaluate(t, c, req("C3")); len(fs) != 1 {
		t.Fatalf("after panic: findings = %v", fs)
	}

	kill()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := c.Evaluate(ctx, req("D4")); err == nil {
		t.Fatal("Evaluate after kill succeeded")
	}
	kill() // idempotent
}

func TestBuildIsShared(t *testing.T) {
	a := sdktest.Build(t, echoPkg)
	b := sdktest.Build(t, echoPkg)
	if a != b {
		t.Fatalf("built twice: %s, %s", a, b)
	}
}

// A plugin built against another rxguard.plugin protocol version is refused
// at the handshake, with an error naming both versions.
func TestProtocolVersionMismatch(t *testing.T) {
	path := sdktest.Build(t, echoPkg)
	_, _, err := sdktest.Dial(t, path, "-protocol-version", "2")
	if err == nil {
		t.Fatal("plugin with protocol version 2 was accepted")
	}
	msg := err.Error()
	for _, want := range []string{"incompatible API version", "Plugin version: 2", "Client versions: [1]"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q does not mention %q", msg, want)
		}
	}
}

func TestDialNotAPlugin(t *testing.T) {
	// /bin/true exits at once without a handshake.
	if _, _, err := sdktest.Dial(t, "/bin/true"); err == nil {
		t.Fatal("Dial of a non-plugin succeeded")
	}
}

// sdk.Serve runs a plugin on one processor unless its environment sets
// GOMAXPROCS (see Serve).
func TestServeProcessors(t *testing.T) {
	for _, tt := range []struct {
		env, want string
	}{
		{env: "", want: "GOMAXPROCS 1"},
		{env: "3", want: "GOMAXPROCS 3"},
	} {
		t.Run("GOMAXPROCS="+tt.env, func(t *testing.T) {
			t.Setenv("GOMAXPROCS", tt.env) // the plugin inherits this process's environment
			c, _ := sdktest.Binary(t, echoPkg)
			fs := sdktest.Evaluate(t, c, req("GOMAXPROCS"))
			if len(fs) != 1 || fs[0].GetMessage() != tt.want {
				t.Fatalf("findings = %v, want one saying %q", fs, tt.want)
			}
		})
	}
}
