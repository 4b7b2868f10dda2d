package engine

import (
	"strings"
	"testing"
	"time"

	rxguardv1 "github.com/rxguard/rxguard/gen/rxguard/v1"
	"github.com/rxguard/rxguard/knowledge"
)

// A code no batch binds, on a drug line named like a restricted generic,
// gets the batch's restriction by name; a malformed code stays unknown
// whatever its name (hardening: no input turns a BLOCK into a PASS).
func TestRestrictionByGenericName(t *testing.T) {
	named := func(l *rxguardv1.OrderLine, name string) *rxguardv1.OrderLine { l.ItemName = name; return l }
	cases := []struct {
		name          string
		line          *rxguardv1.OrderLine
		wantGender    bool
		wantUnknown   bool
		wantByNameEvi bool
	}{
		{"truncated code, restricted name", named(line("1", "ZD03AAA", 1, 7), "艾附暖宫丸"), true, true, true},
		{"unlisted well-formed code, restricted name with strength", named(line("1", "ZD03AAA0043010199999", 1, 7), "艾附暖宫丸 6g*10袋"), true, true, true},
		{"listed code, no name needed", line("1", femaleDrug, 1, 7), true, false, false},
		{"unknown code, unrestricted name", named(line("1", "ZD03AAA0043010199999", 1, 7), "六味地黄丸"), false, true, false},
		{"one character of the name is not a match", named(line("1", "ZD03AAA0043010199999", 1, 7), "艾"), false, true, false},
		{"service line is not matched by a drug name", func() *rxguardv1.OrderLine {
			l := named(line("1", "001199999999999", 1, 1), "艾附暖宫丸")
			l.Kind = rxguardv1.ItemKind_ITEM_SERVICE
			return l
		}(), false, true, false},
		{"self-pay line is not judged for payment", selfPay(named(line("1", "ZD03AAA", 1, 7), "艾附暖宫丸")), false, false, false},
	}
	e := testEngine(t, Config{})
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req := baseRequest()
			req.Orders = []*rxguardv1.OrderLine{c.line}
			res := e.Check(input(t, req))
			gender := findingsOf(res, knowledge.RuleDrugGender)
			if got := len(gender) == 1; got != c.wantGender {
				t.Fatalf("DRUG_GENDER fired = %v, want %v (findings %v)", got, c.wantGender, res.Findings)
			}
			if c.wantGender {
				if res.Verdict != rxguardv1.Verdict_VERDICT_BLOCK {
					t.Errorf("verdict %v, want BLOCK", res.Verdict)
				}
				if has := strings.Contains(gender[0].Evidence, "按药品通用名“艾附暖宫丸”匹配"); has != c.wantByNameEvi {
					t.Errorf("evidence %q: says matched by name = %v, want %v", gender[0].Evidence, has, c.wantByNameEvi)
				}
			}
			if got := len(findingsOf(res, knowledge.RuleUnknownItem)) == 1; got != c.wantUnknown {
				t.Errorf("UNKNOWN_ITEM fired = %v, want %v", got, c.wantUnknown)
			}
		})
	}
}

// The catalogue is reached through a drug code's category prefix, so only a
// well-formed code can be known through it; before, any code starting with
// a catalogue category plus a catalogue name counted as known.
func TestMalformedCodeNeverKnownByName(t *testing.T) {
	e := testEngine(t, Config{})
	for _, code := range []string{
		"XC07ABD123A00101010000",   // 22 characters, but … well-formed: see below
		"XC07AB",                   // the bare category
		"XC07ABD123A0010101000011", // 24 characters
		"XC07ABD123A00101010000 1", // inner space
		"xc07abd123a001010100001",  // lower case (validation normalises; the engine alone must not match it)
	} {
		req := baseRequest()
		req.Orders = []*rxguardv1.OrderLine{{LineId: "1", ItemCode: code, ItemName: "美托洛尔片", Kind: rxguardv1.ItemKind_ITEM_DRUG, Quantity: 1, Days: 3}}
		res := e.Check(input(t, req))
		unknown := len(findingsOf(res, knowledge.RuleUnknownItem)) == 1
		if want := !isDrugCode(code); unknown != want {
			t.Errorf("%q: UNKNOWN_ITEM = %v, want %v", code, unknown, want)
		}
	}
}

// A huge recorded quantity must count as many, not wrap to a negative count
// that switches ITEM_PERIOD_FREQUENCY off (it did with 1e19).
func TestPeriodFrequencyCountSaturates(t *testing.T) {
	e := testEngine(t, Config{})
	for _, q := range []float64{2, 1e10, 1e19, 1e300} {
		req := baseRequest()
		l := line("1", periodItem, 1, 0)
		l.Kind = rxguardv1.ItemKind_ITEM_SERVICE
		req.Orders = []*rxguardv1.OrderLine{l}
		in := input(t, req)
		in.Recorded = HistoryEntries{{ItemCode: periodItem, Quantity: q, Time: in.CheckTime.Add(-48 * time.Hour)}}
		if got := findingsOf(e.Check(in), knowledge.RuleItemPeriodFrequency); len(got) != 1 {
			t.Errorf("history quantity %g: ITEM_PERIOD_FREQUENCY findings %d, want 1", q, len(got))
		}
		// The same quantity on the order line itself, after one earlier.
		req.Orders[0].Quantity = q
		in = input(t, req)
		in.Recorded = HistoryEntries{{ItemCode: periodItem, Quantity: 1, Time: in.CheckTime.Add(-48 * time.Hour)}}
		if got := findingsOf(e.Check(in), knowledge.RuleItemPeriodFrequency); len(got) != 1 {
			t.Errorf("order quantity %g: ITEM_PERIOD_FREQUENCY findings %d, want 1", q, len(got))
		}
	}
}

func TestCountSaturates(t *testing.T) {
	for _, c := range []struct {
		q    float64
		want int
	}{{0, 1}, {0.4, 1}, {1, 1}, {2.4, 2}, {2.5, 3}, {1e19, maxCount}, {1e300, maxCount}} {
		if got := count(c.q); got != c.want {
			t.Errorf("count(%g) = %d, want %d", c.q, got, c.want)
		}
	}
}

// The physician table is keyed by canonical code, so a padded or lower-case
// code finds a suspended physician (before: "unregistered", a WARN).
func TestPhysicianStatusCanonicalCode(t *testing.T) {
	e := testEngine(t, Config{})
	at := mustTime(t, checkTime)
	for _, code := range []string{"D370800000003", " D370800000003", "d370800000003\t", "D370800000003\u3000"} {
		st := e.Physicians().Status(code, at)
		if st.State != rxguardv1.QualificationState_QUALIFICATION_SUSPENDED || !st.Known {
			t.Errorf("%q: state %v known %v, want SUSPENDED and registered", code, st.State, st.Known)
		}
	}
}

// A finding judged on a normalised code says so in its evidence.
func TestNormalisedCodeInEvidence(t *testing.T) {
	e := testEngine(t, Config{})
	req := baseRequest()
	req.Orders = []*rxguardv1.OrderLine{line("1", femaleDrug, 1, 7), line("2", childDrug, 1, 1)}
	req.Physician.Code = "D370800000003"
	in := input(t, req)
	in.Normalised = []NormalisedCode{
		{Field: "orders[0].item_code", Line: 0, From: femaleDrug + " ", To: femaleDrug},
		{Field: "physician.code", Line: -1, From: "d370800000003", To: "D370800000003"},
	}
	res := e.Check(in)
	for _, f := range res.Findings {
		onLine1 := len(f.LineIds) > 0 && f.LineIds[0] == "1"
		itemNote := strings.Contains(f.Evidence, `orders[0].item_code 收到"`+femaleDrug+` "`)
		physNote := strings.Contains(f.Evidence, `physician.code 收到"d370800000003"`)
		if f.RuleType == string(knowledge.RuleDrugGender) && !itemNote {
			t.Errorf("DRUG_GENDER evidence lacks the normalisation note: %q", f.Evidence)
		}
		if f.RuleType == string(knowledge.RulePhysicianQualification) && !physNote {
			t.Errorf("PHYSICIAN_QUALIFICATION evidence lacks the physician note: %q", f.Evidence)
		}
		if !onLine1 && itemNote {
			t.Errorf("%s on %v carries line 1's note: %q", f.RuleType, f.LineIds, f.Evidence)
		}
	}
}
