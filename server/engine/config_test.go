package engine

import (
	"strings"
	"testing"

	"github.com/rxguard/rxguard/knowledge"
)

// Validate names every bad rule setting by its path within the section;
// New refuses what Validate refuses.
func TestConfigValidate(t *testing.T) {
	for _, c := range []struct {
		name string
		cfg  Config
		want []string // whole error lines, in order
	}{
		{"empty", Config{}, nil},
		{"valid", Config{Rules: map[knowledge.RuleType]RuleConfig{knowledge.RuleDrugGender: {Disabled: true},
			knowledge.RuleQuantityLimit: {Action: "ACTION_BLOCK"}, knowledge.RuleDrugAge: {Action: "INFO"}}}, nil},
		{"unknown type and bad action", Config{Rules: map[knowledge.RuleType]RuleConfig{"DRUG_GENDR": {},
			knowledge.RuleDrugAge: {Action: "block"}}}, []string{
			`rules.DRUG_AGE.action: "block" is not one of INFO, WARN, BLOCK (empty: the rule type's own)`,
			"rules.DRUG_GENDR: unknown rule type; known: " + knownRuleTypes()}},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := c.cfg.Validate()
			var got []string
			if err != nil {
				got = strings.Split(err.Error(), "\n")
			}
			if strings.Join(got, "\n") != strings.Join(c.want, "\n") {
				t.Errorf("Validate:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(c.want, "\n"))
			}
			if _, nerr := New(c.cfg); (nerr != nil) != (err != nil) {
				t.Errorf("New: %v, Validate: %v", nerr, err)
			}
		})
	}
	if !strings.HasPrefix(knownRuleTypes(), "PHYSICIAN_QUALIFICATION, DRUG_GENDER, ") || strings.Count(knownRuleTypes(), ",") != len(RuleTypes())-1 {
		t.Errorf("known rule types %q", knownRuleTypes())
	}
}
