package main

import (
	"bytes"
	"crypto/sha256"
	_ "embed"
	"encoding/csv"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"unicode/utf8"

	rxguardv1 "github.com/rxguard/rxguard/gen/rxguard/v1"
)

// demoTable is used when -table is not given: the antibiotics of the demo
// knowledge (knowledge/data/demo/drugs.csv, made-up codes) and a few
// name-only rows.
//
//go:embed demo-table.csv
var demoTable []byte

// tier is a 抗菌药物分级管理 level (《抗菌药物临床应用管理办法》第六条).
type tier int

const (
	tierUnrestricted tier = iota + 1 // 非限制使用级
	tierRestricted                   // 限制使用级
	tierSpecial                      // 特殊使用级
)

func (t tier) String() string {
	switch t {
	case tierUnrestricted:
		return "非限制使用级"
	case tierRestricted:
		return "限制使用级"
	case tierSpecial:
		return "特殊使用级"
	}
	return fmt.Sprintf("tier(%d)", int(t))
}

func parseTier(s string) (tier, bool) {
	switch s {
	case "非限制使用级", "非限制":
		return tierUnrestricted, true
	case "限制使用级", "限制":
		return tierRestricted, true
	case "特殊使用级", "特殊":
		return tierSpecial, true
	}
	return 0, false
}

// entry is one row of the hospital's table.
type entry struct {
	code string // national drug code, upper case; may be empty
	name string // generic name (通用名) as in the table; may be empty
	key  string // normalizeName(name)
	tier tier
	line int // line in the CSV file, for evidence and errors
}

// table is the hospital's 抗菌药物分级目录.
type table struct {
	source string // where it came from, with a short content hash, for evidence
	byCode map[string]entry
	// byName holds the rows with a generic name, longest name first, so the
	// most specific name wins ("头孢哌酮舒巴坦" before "头孢哌酮").
	byName []entry
}

// loadTable reads the table at path, or the built-in demo table when path
// is empty.
func loadTable(path string) (*table, error) {
	if path == "" {
		return parseTable(demoTable, "内置演示目录")
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return parseTable(data, path)
}

// parseTable parses a UTF-8 CSV table (a UTF-8 byte order mark, as Excel
// writes it, is allowed). The header names the columns code, generic_name
// and tier (or 药品编码, 通用名, 分级), in any order; other columns are
// ignored. Lines starting with # are comments. Each row needs a code or a
// generic name, and a tier; a code or a name may not appear twice with
// different tiers.
func parseTable(data []byte, source string) (*table, error) {
	data = bytes.TrimPrefix(data, []byte("\uFEFF"))
	if !utf8.Valid(data) {
		return nil, fmt.Errorf("%s: not UTF-8 (in Excel, save as \"CSV UTF-8\")", source)
	}
	sum := sha256.Sum256(data)
	t := &table{
		source: fmt.Sprintf("%s sha256:%s", source, hex.EncodeToString(sum[:4])),
		byCode: map[string]entry{},
	}

	r := csv.NewReader(bytes.NewReader(data))
	r.Comment = '#'
	r.FieldsPerRecord = -1
	r.TrimLeadingSpace = true

	header, err := r.Read()
	if errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%s: empty table", source)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", source, err)
	}
	col := map[string]int{}
	for i, h := range header {
		switch strings.TrimSpace(h) {
		case "code", "药品编码":
			col["code"] = i
		case "generic_name", "通用名":
			col["name"] = i
		case "tier", "分级":
			col["tier"] = i
		}
	}
	if _, ok := col["tier"]; !ok {
		return nil, fmt.Errorf("%s: header %q has no tier column", source, header)
	}
	_, hasCode := col["code"]
	_, hasName := col["name"]
	if !hasCode && !hasName {
		return nil, fmt.Errorf("%s: header %q has neither a code nor a generic_name column", source, header)
	}

	names := map[string]entry{}
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", source, err)
		}
		line, _ := r.FieldPos(0)
		field := func(c string) string {
			i, ok := col[c]
			if !ok || i >= len(rec) {
				return ""
			}
			return strings.TrimSpace(rec[i])
		}
		e := entry{code: strings.ToUpper(field("code")), name: field("name"), line: line}
		if e.code == "" && e.name == "" {
			if strings.Join(rec, "") == "" {
				continue // blank row, as spreadsheets leave them
			}
			return nil, fmt.Errorf("%s:%d: row has neither a code nor a generic name", source, line)
		}
		var ok bool
		if e.tier, ok = parseTier(field("tier")); !ok {
			return nil, fmt.Errorf("%s:%d: tier %q is not 非限制使用级, 限制使用级 or 特殊使用级", source, line, field("tier"))
		}
		if e.code != "" {
			if prev, dup := t.byCode[e.code]; dup {
				return nil, fmt.Errorf("%s:%d: code %s already on line %d", source, line, e.code, prev.line)
			}
			t.byCode[e.code] = e
		}
		if e.key = normalizeName(e.name); e.key != "" {
			if prev, dup := names[e.key]; dup && prev.tier != e.tier {
				return nil, fmt.Errorf("%s:%d: %s is %s here but %s on line %d", source, line, e.name, e.tier, prev.tier, prev.line)
			} else if !dup {
				names[e.key] = e
			}
		}
	}
	if len(t.byCode) == 0 && len(names) == 0 {
		return nil, fmt.Errorf("%s: no rows", source)
	}
	for _, e := range names {
		t.byName = append(t.byName, e)
	}
	sort.Slice(t.byName, func(i, j int) bool {
		a, b := t.byName[i], t.byName[j]
		if len(a.key) != len(b.key) {
			return len(a.key) > len(b.key)
		}
		return a.key < b.key
	})
	return t, nil
}

// size is the number of drugs the table knows (by code, plus name-only rows).
func (t *table) size() int {
	n := len(t.byCode)
	for _, e := range t.byName {
		if e.code == "" {
			n++
		}
	}
	return n
}

// lookup finds the tier of an order line: by its national code first; when
// the code is not in the table and the line is a drug, by generic name: the
// longest table name contained in item_name, both compared without spaces
// and the salt words 钠 and 钾 ("注射用头孢曲松钠" is 头孢曲松,
// "注射用头孢哌酮钠舒巴坦钠" is 头孢哌酮舒巴坦 rather than 头孢哌酮). byName
// says which way it matched.
func (t *table) lookup(l *rxguardv1.OrderLine) (e entry, byName bool, ok bool) {
	if e, ok := t.byCode[strings.ToUpper(strings.TrimSpace(l.GetItemCode()))]; ok {
		return e, false, true
	}
	if l.GetKind() != rxguardv1.ItemKind_ITEM_DRUG || l.GetItemName() == "" {
		return entry{}, false, false
	}
	name := normalizeName(l.GetItemName())
	for _, e := range t.byName {
		if strings.Contains(name, e.key) {
			return e, true, true
		}
	}
	return entry{}, false, false
}

// saltWords are dropped from names before they are compared: HIS product
// names put them between the parts of a combination (头孢哌酮钠舒巴坦钠).
var saltWords = strings.NewReplacer("钠", "", "钾", "", " ", "", "\u3000", "")

func normalizeName(s string) string { return saltWords.Replace(strings.TrimSpace(s)) }
