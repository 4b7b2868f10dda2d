package engine

import "github.com/rxguard/rxguard/knowledge"

// RuleTypeName returns the Chinese name of a built-in rule type (the
// short title its findings and explanations use), and false for a type
// that is not built in (a plugin's). The national 3101/3102 reply's
// rule_name and any Chinese listing of rule types read it from here, so
// the names stay one table: the rule list.
func RuleTypeName(t knowledge.RuleType) (string, bool) {
	s := ruleByType[t]
	if s == nil {
		return "", false
	}
	return s.title, true
}
