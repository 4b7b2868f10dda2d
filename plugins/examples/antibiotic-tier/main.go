// Command antibiotic-tier is an rxguard local-policy plugin for 抗菌药物分级管理:
// a 限制使用级 antibiotic needs a 主治医师 or above, a 特殊使用级 one a 副主任医师
// or above; otherwise the order is blocked (warned about in a rescue, 越级使用).
//
// The tiers come from the hospital's table (-table, UTF-8 CSV; see
// demo-table.csv and plugins/README.md); without -table the built-in demo
// table is used. -check validates the table and exits, for 药学部 editing it.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/rxguard/rxguard/plugins/sdk"
)

func main() {
	path := flag.String("table", "", "hospital antibiotic tier table (UTF-8 CSV: code,generic_name,tier); empty: built-in demo table")
	check := flag.Bool("check", false, "validate the table, print a summary and exit (run by hand)")
	flag.Parse()

	t, err := loadTable(*path)
	if err != nil {
		fmt.Fprintln(os.Stderr, "antibiotic-tier:", err)
		os.Exit(2)
	}
	if *check {
		fmt.Printf("ok: %s, %d drugs (%d by code)\n", t.source, t.size(), len(t.byCode))
		return
	}
	sdk.Serve(newPolicy(t))
}
