package main

import (
	"context"
	"fmt"
	"math"
	"strconv"

	pluginv1 "github.com/rxguard/rxguard/gen/rxguard/plugin/v1"
	rxguardv1 "github.com/rxguard/rxguard/gen/rxguard/v1"
	"github.com/rxguard/rxguard/plugins/sdk"
)

const (
	pluginName    = "high-cost"
	pluginVersion = "1.0.0"

	ruleID   = "HIGH-COST-DOUBLE-SIGN"
	ruleType = "HIGH_COST"

	defaultThreshold = 5000.0 // yuan
)

// newPolicy is the high-cost plugin: an order line whose amount
// (quantity × unit_price) is more than threshold yuan needs a second signer
// (双签), so it is warned about with the amount and the threshold.
//
// Amounts are compared in fen (rounded), so a line of exactly the threshold
// passes and one fen more warns. Every line counts, whatever its kind and
// whether it is self-pay: the second signature is the hospital's control of
// expensive orders, not a payment rule, and a self-pay patient is no less
// exposed to an expensive mistake. A line without a price (unit_price 0)
// cannot be judged and passes.
func newPolicy(threshold float64) (sdk.Policy, error) {
	if math.IsNaN(threshold) || math.IsInf(threshold, 0) || threshold <= 0 {
		return nil, fmt.Errorf("threshold must be a positive amount of yuan, got %v", threshold)
	}
	limit := fen(threshold)
	desc := fmt.Sprintf("高值医嘱双签：单条医嘱金额（数量×单价）超过 %s 时提醒需第二名医师审核签字；适用于全部医嘱，含自费。", sdk.Yuan(threshold))
	return sdk.Simple(pluginName, pluginVersion, desc, []string{ruleID},
		func(_ context.Context, req *pluginv1.EvaluateRequest) ([]*rxguardv1.Finding, error) {
			var out []*rxguardv1.Finding
			for _, l := range req.GetRequest().GetOrders() {
				amount := l.GetQuantity() * l.GetUnitPrice()
				if math.IsNaN(amount) || math.IsInf(amount, 0) || fen(amount) <= limit {
					continue
				}
				out = append(out, finding(l, amount, threshold))
			}
			return out, nil
		}), nil
}

// fen rounds an amount of yuan to the fen.
func fen(yuan float64) int64 { return int64(math.Round(yuan * 100)) }

func finding(l *rxguardv1.OrderLine, amount, threshold float64) *rxguardv1.Finding {
	name := l.GetItemName()
	if name == "" {
		name = l.GetItemCode()
	}
	qty := strconv.FormatFloat(l.GetQuantity(), 'f', -1, 64) + l.GetUnit()
	msg := fmt.Sprintf("“%s”本条医嘱金额 %s（%s × 单价 %s），超过医院高值医嘱双签阈值 %s，需第二名医师审核签字。",
		name, sdk.Yuan(amount), qty, sdk.Yuan(l.GetUnitPrice()), sdk.Yuan(threshold))
	if l.GetSelfPay() {
		msg += "（自费医嘱同样适用。）"
	}
	evidence := fmt.Sprintf("医院高值医嘱双签制度：单条医嘱金额超过 %s 须双签（plugin %s %s，-threshold %s）。",
		sdk.Yuan(threshold), pluginName, pluginVersion, strconv.FormatFloat(threshold, 'f', -1, 64))
	suggestion := "请上级医师（或科主任）审核后双签；如数量并非必需，请核对后减少数量。"
	return sdk.Finding(ruleID, ruleType, rxguardv1.Action_ACTION_WARN, []string{l.GetLineId()}, msg, evidence, suggestion)
}
