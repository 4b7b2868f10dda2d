package importer

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// isSpace covers what spreadsheets exported from Chinese office suites put
// into cells besides ASCII blanks: U+3000 (ideographic space), NBSP, and the
// zero-width characters that survive copy-paste from web pages.
func isSpace(r rune) bool {
	switch r {
	case '\u200b', '\u200c', '\u200d', '\u2060', '\ufeff':
		return true
	}
	return unicode.IsSpace(r)
}

func isLineBreak(r rune) bool {
	switch r {
	case '\n', '\r', '\v', '\f', '\u0085', '\u2028', '\u2029':
		return true
	}
	return false
}

// isZeroWidth reports characters that are whitespace to us but take no
// room: dropping them never glues two words together.
func isZeroWidth(r rune) bool {
	switch r {
	case '\u200b', '\u200c', '\u200d', '\u2060', '\ufeff':
		return true
	}
	return false
}

// wide reports runes after which (or before which) a line break in a cell
// is an artefact of the cell's width, not a word boundary: Chinese text has
// no spaces between words, so "阿帕他\n胺片" is "阿帕他胺片".
func wide(r rune) bool {
	return r >= 0x2E80 && !(r >= 0xFF61 && r <= 0xFFDC) // CJK and full-width forms, not half-width katakana/hangul
}

// cleanText trims a cell and collapses internal whitespace: a run of
// blanks becomes one space (the text stays as published), a run that holds
// a line break between two Chinese characters disappears, elsewhere it
// becomes one space.
func cleanText(s string) string {
	if s == "" {
		return ""
	}
	var b strings.Builder
	b.Grow(len(s))
	var prev rune = -1 // last rune written
	inRun, runBreak, runVisible := false, false, false
	for _, r := range s {
		if isSpace(r) {
			inRun = true
			if isLineBreak(r) {
				runBreak = true
			}
			if !isZeroWidth(r) {
				runVisible = true
			}
			continue
		}
		if inRun && prev >= 0 {
			switch {
			case !runVisible:
			case runBreak && wide(prev) && wide(r):
			default:
				b.WriteByte(' ')
			}
		}
		inRun, runBreak, runVisible = false, false, false
		b.WriteRune(r)
		prev = r
	}
	return b.String()
}

// toHalfWidth maps full-width ASCII forms (Ｕ+FF01–FF5E, e.g. "６", "Ｘ") to
// ASCII. Only that block: full-width brackets and commas in Chinese text are
// deliberate and are left alone by callers that keep text as published.
func toHalfWidth(s string) string {
	if !strings.ContainsFunc(s, func(r rune) bool { return r >= 0xFF01 && r <= 0xFF5E }) {
		return s
	}
	return strings.Map(func(r rune) rune {
		if r >= 0xFF01 && r <= 0xFF5E {
			return r - 0xFEE0
		}
		return r
	}, s)
}

// stripSpace removes every whitespace rune.
func stripSpace(s string) string {
	if !strings.ContainsFunc(s, isSpace) {
		return s
	}
	return strings.Map(func(r rune) rune {
		if isSpace(r) {
			return -1
		}
		return r
	}, s)
}

// cleanCode normalises a national code cell: all whitespace removed (codes
// never contain any, but cells copied from PDFs do) and full-width letters
// and digits folded to ASCII. changed reports whether anything beyond
// leading/trailing blanks had to be altered, which is worth a warning.
func cleanCode(s string) (code string, changed bool) {
	trimmed := strings.TrimFunc(s, isSpace)
	code = toHalfWidth(stripSpace(trimmed))
	return code, code != trimmed
}

// isDrugCode reports a well-formed national drug code (医保药品分类与代码):
// X (西药, 23 characters), Z (中成药, 20) or T (民族药), uppercase letters
// and digits. The length range is the bureau's, not ours.
func isDrugCode(s string) bool {
	if len(s) < 20 || len(s) > 23 {
		return false
	}
	switch s[0] {
	case 'X', 'Z', 'T':
	default:
		return false
	}
	for i := 1; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'A' && c <= 'Z') {
			return false
		}
	}
	return true
}

// isItemCode reports a well-formed 15-digit national medical service item
// code (医疗服务项目分类与代码).
func isItemCode(s string) bool {
	if len(s) != 15 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// nameKey is the join key of Sheet1 and Sheet2 of a drug batch: the generic
// name without any whitespace and with full-width ASCII folded, so that a
// stray line break or a "（" typed as "(" on one sheet still joins.
func nameKey(s string) string {
	s = toHalfWidth(stripSpace(s))
	return strings.Map(func(r rune) rune {
		switch r {
		case '（':
			return '('
		case '）':
			return ')'
		}
		return r
	}, s)
}

// maxCount bounds every number we accept: no limit in the batches comes
// close, and it keeps day arithmetic (years × 365) far from overflow.
const maxCount = 1_000_000

// parseCount parses a positive whole number as published: ASCII or
// full-width digits, an integral decimal ("14.0", as a spreadsheet may
// format it) or Chinese numerals ("十四", "一").
func parseCount(s string) (int, bool) {
	s = toHalfWidth(stripSpace(s))
	if s == "" {
		return 0, false
	}
	if n, ok := parseCNNumber(s); ok {
		return n, n > 0 && n <= maxCount
	}
	if strings.ContainsFunc(s, func(r rune) bool { return !(r >= '0' && r <= '9' || r == '.') }) {
		return 0, false // rejects signs, exponents, "Inf", "0x…" that ParseFloat would take
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f != float64(int64(f)) || f < 1 || f > maxCount {
		return 0, false
	}
	return int(f), true
}

// parseQuantity parses a positive quantity that may be fractional
// (限制数量): ASCII or full-width digits with an optional decimal part.
func parseQuantity(s string) (float64, bool) {
	s = toHalfWidth(stripSpace(s))
	if s == "" {
		return 0, false
	}
	if n, ok := parseCNNumber(s); ok {
		return float64(n), n > 0 && n <= maxCount
	}
	if strings.ContainsFunc(s, func(r rune) bool { return !(r >= '0' && r <= '9' || r == '.') }) {
		return 0, false
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || !(f > 0) || f > maxCount {
		return 0, false
	}
	return f, true
}

var cnDigits = map[rune]int{
	'零': 0, '〇': 0, '一': 1, '二': 2, '两': 2, '三': 3, '四': 4,
	'五': 5, '六': 6, '七': 7, '八': 8, '九': 9,
}

// parseCNNumber parses Chinese numerals up to 9999: "一", "十", "十四",
// "二十", "三百六十五", "一千零一". Anything else is not a number.
func parseCNNumber(s string) (int, bool) {
	if s == "" {
		return 0, false
	}
	total, digit, seenDigit := 0, 0, false
	lastUnit := 10000
	for _, r := range s {
		if d, ok := cnDigits[r]; ok {
			if seenDigit && d != 0 && digit != 0 {
				return 0, false // "二三": two digits without a unit between
			}
			digit, seenDigit = d, true
			continue
		}
		var unit int
		switch r {
		case '十':
			unit = 10
		case '百':
			unit = 100
		case '千':
			unit = 1000
		default:
			return 0, false
		}
		if unit >= lastUnit {
			return 0, false // "十百"
		}
		if !seenDigit {
			if unit != 10 || total != 0 {
				return 0, false // only a leading "十" may omit its "一"
			}
			digit = 1
		}
		total += digit * unit
		digit, seenDigit, lastUnit = 0, false, unit
	}
	total += digit
	return total, true
}

// unitDays converts a duration unit of the batches' wording to days. A
// month counts 30 days and a year 365: the batches' own translations
// (batch 6 publishes "365天" where the catalogue says 一年).
func unitDays(unit string) (int, bool) {
	switch unit {
	case "天", "日":
		return 1, true
	case "周", "星期":
		return 7, true
	case "个月", "月":
		return 30, true
	case "年":
		return 365, true
	}
	return 0, false
}

// truncate shortens s for a warning message.
func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n]) + "…"
}
