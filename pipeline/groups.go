package pipeline

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// DefaultGroup is the model group of series that match no rule.
const DefaultGroup = "default"

// GroupRule sends the series whose key matches Match to model group Name.
type GroupRule struct {
	Name  string
	Match *regexp.Regexp
	// PerSeries gives each series of the group its own model, in a group
	// named Name + "/" + series key.
	PerSeries bool
	// Alpha is the group's flagging level; zero means the detector's.
	Alpha float64
}

// ParseGroups builds rules from settings: specs of the form name=regexp
// (matched against the series key), names of per-series groups, and
// per-group levels of the form name=alpha. A name in perSeries or alphas
// may also be DefaultGroup.
func ParseGroups(specs, perSeries, alphas []string) ([]GroupRule, error) {
	rules := make([]GroupRule, 0, len(specs)+1)
	for _, s := range specs {
		name, expr, ok := strings.Cut(s, "=")
		if !ok || name == "" {
			return nil, fmt.Errorf("pipeline: group %q: want name=regexp", s)
		}
		re, err := regexp.Compile(expr)
		if err != nil {
			return nil, fmt.Errorf("pipeline: group %q: %w", name, err)
		}
		rules = append(rules, GroupRule{Name: name, Match: re})
	}
	rules = append(rules, GroupRule{Name: DefaultGroup})
	find := func(name string) (*GroupRule, error) {
		for i := range rules {
			if rules[i].Name == name {
				return &rules[i], nil
			}
		}
		return nil, fmt.Errorf("pipeline: unknown model group %q", name)
	}
	for _, name := range perSeries {
		r, err := find(name)
		if err != nil {
			return nil, err
		}
		r.PerSeries = true
	}
	for _, s := range alphas {
		name, v, _ := strings.Cut(s, "=")
		a, err := strconv.ParseFloat(v, 64)
		if err != nil || a <= 0 || a >= 1 {
			return nil, fmt.Errorf("pipeline: alpha %q: want group=value in (0, 1)", s)
		}
		r, err := find(name)
		if err != nil {
			return nil, err
		}
		r.Alpha = a
	}
	return rules, nil
}

// router maps series keys to model groups, remembering each answer.
type router struct {
	rules []GroupRule
	alpha float64
	memo  map[string]route
}

type route struct {
	group string
	alpha float64
}

func newRouter(rules []GroupRule, alpha float64) *router {
	if len(rules) == 0 {
		rules = []GroupRule{{Name: DefaultGroup}}
	}
	return &router{rules: rules, alpha: alpha, memo: make(map[string]route)}
}

func (r *router) route(key string) route {
	if rt, ok := r.memo[key]; ok {
		return rt
	}
	rt := route{group: DefaultGroup, alpha: r.alpha}
	for _, rule := range r.rules {
		if rule.Match != nil && !rule.Match.MatchString(key) {
			continue
		}
		rt.group = rule.Name
		if rule.PerSeries {
			rt.group += "/" + key
		}
		if rule.Alpha > 0 {
			rt.alpha = rule.Alpha
		}
		break
	}
	r.memo[key] = rt
	return rt
}

// forget drops the memo of a series that left this detector.
func (r *router) forget(key string) { delete(r.memo, key) }
