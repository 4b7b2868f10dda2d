// Command testplugin is the local-policy plugin the pluginhost tests run.
// Flags choose its behaviour; a request whose request_id is "crash" makes
// it exit at once.
package main

import (
	"context"
	"flag"
	"os"
	"time"

	"github.com/hashicorp/go-plugin"

	pluginv1 "github.com/rxguard/rxguard/gen/rxguard/plugin/v1"
	rxguardv1 "github.com/rxguard/rxguard/gen/rxguard/v1"
	"github.com/rxguard/rxguard/plugins/sdk"
)

type policy struct {
	rule   string
	action rxguardv1.Action
	sleep  time.Duration
	fixes  bool
}

// testFixes are the structured suggestions -fixes attaches to the finding
// on a request whose first line is L1: two good ones, four the host must
// drop (unknown line, no label, unknown kind, removing the only line), and
// eight more good ones, of which the host keeps six (MaxPluginFixes).
func testFixes() []*rxguardv1.Fix {
	fs := []*rxguardv1.Fix{
		{Kind: rxguardv1.FixKind_FIX_KIND_MARK_SELF_PAY, LineId: "L1", Label: "标记为自费"},
		{Kind: rxguardv1.FixKind_FIX_KIND_REDUCE_QUANTITY, LineId: "L1", Quantity: 1, Label: "数量改为 1"},
		{Kind: rxguardv1.FixKind_FIX_KIND_MARK_SELF_PAY, LineId: "L9", Label: "标记为自费"},
		{Kind: rxguardv1.FixKind_FIX_KIND_ATTEST_RESTRICTION, LineId: "L1"},
		{Kind: 99, LineId: "L1", Label: "未来的操作"},
		{Kind: rxguardv1.FixKind_FIX_KIND_REMOVE_LINE, LineId: "L1", Label: "删除本行"},
	}
	for i := 0; i < 8; i++ {
		fs = append(fs, &rxguardv1.Fix{Kind: rxguardv1.FixKind_FIX_KIND_ATTEST_RESTRICTION, LineId: "L1", Label: "确认符合限定支付范围"})
	}
	return fs
}

func (p *policy) Describe(context.Context) (*pluginv1.DescribeResponse, error) {
	return &pluginv1.DescribeResponse{Name: "testplugin", Version: "1.2.3", RuleIds: []string{p.rule}, Description: "pluginhost test plugin"}, nil
}

func (p *policy) Evaluate(ctx context.Context, req *pluginv1.EvaluateRequest) (*pluginv1.EvaluateResponse, error) {
	if req.GetRequest().GetRequestId() == "crash" {
		os.Exit(3)
	}
	if p.sleep > 0 {
		select {
		case <-time.After(p.sleep):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	var lines []string
	for _, o := range req.GetRequest().GetOrders() {
		lines = append(lines, o.GetLineId())
	}
	var fixes []*rxguardv1.Fix
	if p.fixes {
		fixes = testFixes()
	}
	return &pluginv1.EvaluateResponse{Findings: []*rxguardv1.Finding{{
		Fixes:       fixes,
		FindingId:   "set-by-plugin", // the host must clear it
		RuleId:      p.rule,
		RuleType:    "LOCAL_POLICY",
		Action:      p.action,
		LineIds:     lines,
		Message:     "本院规定：测试规则命中",
		Evidence:    "testplugin",
		Overridable: p.action == rxguardv1.Action_ACTION_BLOCK, // the host must recompute it
		Source:      "spoofed",                                 // the host must overwrite it
	}}}, nil
}

func main() {
	rule := flag.String("rule", "LOCAL_TEST", "rule id of the finding")
	action := flag.String("action", "ACTION_WARN", "action of the finding")
	sleep := flag.Duration("sleep", 0, "delay before answering Evaluate")
	fixes := flag.Bool("fixes", false, "attach structured suggestions, some malformed, to the finding")
	marker := flag.String("marker", "", "create this file at start (proves the binary ran)")
	exitAtStart := flag.Bool("exit-at-start", false, "exit 1 before the handshake")
	protocol := flag.Uint("protocol", sdk.ProtocolVersion, "rxguard.plugin protocol version to announce")
	flag.Parse()

	if *marker != "" {
		_ = os.WriteFile(*marker, []byte("ran\n"), 0o644)
	}
	if *exitAtStart {
		os.Exit(1)
	}
	hs := sdk.Handshake
	hs.ProtocolVersion = *protocol
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig: hs,
		Plugins:         sdk.PluginMap(&policy{rule: *rule, action: rxguardv1.Action(rxguardv1.Action_value[*action]), sleep: *sleep, fixes: *fixes}),
		GRPCServer:      sdk.NewGRPCServer,
	})
}
