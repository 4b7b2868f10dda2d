// Command high-cost is an rxguard local-policy plugin for 高值医嘱双签: an order
// line whose amount (quantity × unit_price) is more than -threshold yuan
// (default 5000) is warned about: it needs a second physician's signature.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/rxguard/rxguard/plugins/sdk"
)

func main() {
	threshold := flag.Float64("threshold", defaultThreshold, "amount in yuan above which one order line needs a second signer")
	flag.Parse()

	p, err := newPolicy(*threshold)
	if err != nil {
		fmt.Fprintln(os.Stderr, "high-cost:", err)
		os.Exit(2)
	}
	sdk.Serve(p)
}
