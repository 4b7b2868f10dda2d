package importer

import (
	"slices"
	"testing"

	"github.com/rxguard/rxguard/knowledge"
)

func TestCleanText(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"  阿帕他胺片 ", "阿帕他胺片"},
		{"\u3000艾附暖宫丸\u00a0", "艾附暖宫丸"},
		{"阿帕他\n胺片", "阿帕他胺片"},
		{"阿帕他\r\n  胺片", "阿帕他胺片"},
		{"丘疹性荨麻疹 。", "丘疹性荨麻疹 。"}, // a published blank stays
		{"a  \t b", "a b"},
		{"mHSPC\npatients", "mHSPC patients"},
		{"限\n(mHSPC)", "限 (mHSPC)"},
		{"零\u200b宽", "零宽"},
		{"\n\n", ""},
	}
	for _, tt := range tests {
		if got := cleanText(tt.in); got != tt.want {
			t.Errorf("cleanText(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestCodes(t *testing.T) {
	for _, c := range []string{"XL02BBA326A001010102180", "ZD03AAA0043010100166", "T12345678901234567890"} {
		if !isDrugCode(c) {
			t.Errorf("isDrugCode(%q) = false", c)
		}
	}
	for _, c := range []string{"", "XB01AAD9001A001010199901", "AL02BBA326A001010102180", "xl02bba326a001010102180", "ZD03AAA004301010016", "ZD03AAA00430101001６6"} {
		if isDrugCode(c) {
			t.Errorf("isDrugCode(%q) = true", c)
		}
	}
	if !isItemCode("003402000050000") || isItemCode("3402000050000") || isItemCode("00340200005000A") {
		t.Error("isItemCode")
	}
	if c, changed := cleanCode(" 0034 0200005000０\n"); c != "003402000050000" || !changed {
		t.Errorf("cleanCode = %q, %v", c, changed)
	}
	if c, changed := cleanCode(" 003402000050000\t"); c != "003402000050000" || changed {
		t.Errorf("cleanCode = %q, %v", c, changed)
	}
}

func TestHeaderKey(t *testing.T) {
	for _, h := range []string{"国标代码", " 国标\n代码 ", "国标代码（15位）", "*国标代码:", "国标\u3000代码"} {
		if headerKey(h) != "国标代码" {
			t.Errorf("headerKey(%q) = %q", h, headerKey(h))
		}
	}
}

func TestNumbers(t *testing.T) {
	cn := map[string]int{"一": 1, "十": 10, "十四": 14, "二十": 20, "二十一": 21, "三百六十五": 365, "一千零一": 1001, "两": 2, "九十": 90}
	for s, want := range cn {
		if got, ok := parseCNNumber(s); !ok || got != want {
			t.Errorf("parseCNNumber(%q) = %d, %v", s, got, ok)
		}
	}
	for _, s := range []string{"", "二三", "十十", "百", "一个", "1"} {
		if _, ok := parseCNNumber(s); ok {
			t.Errorf("parseCNNumber(%q) ok", s)
		}
	}
	counts := map[string]int{"14": 14, "１４": 14, " 14 ": 14, "14.0": 14, "十四": 14}
	for s, want := range counts {
		if got, ok := parseCount(s); !ok || got != want {
			t.Errorf("parseCount(%q) = %d, %v", s, got, ok)
		}
	}
	for _, s := range []string{"", "0", "-1", "1.5", "1e3", "Inf", "NaN", "0x10", "99999999999999999999", "两次"} {
		if n, ok := parseCount(s); ok {
			t.Errorf("parseCount(%q) = %d, ok", s, n)
		}
	}
	if q, ok := parseQuantity("0.5"); !ok || q != 0.5 {
		t.Errorf("parseQuantity(0.5) = %v, %v", q, ok)
	}
	days := map[string]int{"7": 7, "7天": 7, "2周": 14, "一个月": 30, "1年": 365, "十五日": 15}
	for s, want := range days {
		if got, ok := parseDays(s); !ok || got != want {
			t.Errorf("parseDays(%q) = %d, %v", s, got, ok)
		}
	}
	for _, s := range []string{"", "天", "两周左右", "999999年"} {
		if n, ok := parseDays(s); ok {
			t.Errorf("parseDays(%q) = %d, ok", s, n)
		}
	}
}

func TestParseWindow(t *testing.T) {
	tests := map[string]knowledge.Window{
		"单日": knowledge.WindowSameDay, " 单 日 ": knowledge.WindowSameDay, "单次就诊": knowledge.WindowSameEncounter,
		"6小时": knowledge.WindowSixHours, "６小时": knowledge.WindowSixHours, "六小时": knowledge.WindowSixHours,
		"6\n小时": knowledge.WindowSixHours, "同一小时": knowledge.WindowSameHour,
	}
	for in, want := range tests {
		if got, ok := parseWindow(in); !ok || got != want {
			t.Errorf("parseWindow(%q) = %q, %v", in, got, ok)
		}
	}
	for _, in := range []string{"", "7小时", "同一周", "单日单次"} {
		if got, ok := parseWindow(in); ok {
			t.Errorf("parseWindow(%q) = %q, ok", in, got)
		}
	}
}

func TestParseCourseText(t *testing.T) {
	tests := []struct {
		text             string
		course, interval int
		rest             []string
	}{
		{"总时间不超过90天，评定间隔时间不短于14天。", 90, 14, nil},
		{"支付不超过30天。", 30, 0, nil},
		{"一个疾病过程支付不超过90天。", 90, 0, nil},
		{"支付不超过一年，每周最多支付一次。", 365, 0, []string{"每周最多支付一次"}},
		{"支付不超过两年", 730, 0, nil},
		{"支付不超过3个月；两次评定间隔时间不少于2周", 90, 14, nil},
		{"支付不超过 ９０ 天", 90, 0, nil},
		{"间隔不短于十天", 0, 10, nil},
		// Not guessed: unknown context, wrong bound direction, a second
		// limit of the same kind, a per-period count.
		{"限儿童支付不超过30天", 0, 0, []string{"限儿童支付不超过30天"}},
		{"首次治疗后间隔不超过3天", 0, 0, []string{"首次治疗后间隔不超过3天"}},
		{"支付不超过30天，支付不超过60天", 30, 0, []string{"支付不超过60天"}},
		{"每周最多支付1天", 0, 0, []string{"每周最多支付1天"}},
		{"支付不超过99999999年", 0, 0, []string{"支付不超过99999999年"}},
		{"", 0, 0, nil},
		{"。，", 0, 0, nil},
	}
	for _, tt := range tests {
		c, i, rest := parseCourseText(tt.text)
		if c != tt.course || i != tt.interval || !slices.Equal(rest, tt.rest) {
			t.Errorf("parseCourseText(%q) = %d, %d, %q; want %d, %d, %q", tt.text, c, i, rest, tt.course, tt.interval, tt.rest)
		}
	}
}
