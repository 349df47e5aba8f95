package schedule

import (
	"fmt"
	"strconv"
	"strings"
)

// This file validates and parses single cron fields. It is strict on
// purpose: cronexpr accepts reversed ranges (then panics), reads "02" as
// month 0 and "01" as Sunday, and drops day-of-week ranges ending in 7 or
// SUN (CRONEXPR.md #5-#8). Here every field is parsed into a bit set
// without cronexpr; only the calendar specials (L, W, #) are handed on to
// cronexpr, in a canonical form it reads correctly.

// field identifies a cron field.
type field int

const (
	fieldSecond field = iota
	fieldMinute
	fieldHour
	fieldDom
	fieldMonth
	fieldDow
	fieldYear
)

// fieldInfo describes the values a field accepts.
type fieldInfo struct {
	name  string
	min   int // smallest value
	max   int // largest value accepted in the spec (7 for day of week)
	last  int // largest value of '*' and of open-ended steps (6 for day of week)
	base  int // value stored at bit 0
	names map[string]int
}

var monthNames = map[string]int{
	"jan": 1, "feb": 2, "mar": 3, "apr": 4, "may": 5, "jun": 6,
	"jul": 7, "aug": 8, "sep": 9, "oct": 10, "nov": 11, "dec": 12,
	"january": 1, "february": 2, "march": 3, "april": 4, "june": 6,
	"july": 7, "august": 8, "september": 9, "october": 10, "november": 11, "december": 12,
}

var dowNames = map[string]int{
	"sun": 0, "mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6,
	"sunday": 0, "monday": 1, "tuesday": 2, "wednesday": 3, "thursday": 4, "friday": 5, "saturday": 6,
}

const (
	minYear = 1970 // first year cronexpr (and so distcron) schedules in
	maxYear = 2099 // last year; after it Next returns the zero time
)

var fieldInfos = [...]fieldInfo{
	fieldSecond: {name: "second", min: 0, max: 59, last: 59},
	fieldMinute: {name: "minute", min: 0, max: 59, last: 59},
	fieldHour:   {name: "hour", min: 0, max: 23, last: 23},
	fieldDom:    {name: "day-of-month", min: 1, max: 31, last: 31},
	fieldMonth:  {name: "month", min: 1, max: 12, last: 12, names: monthNames},
	fieldDow:    {name: "day-of-week", min: 0, max: 7, last: 6, names: dowNames},
	fieldYear:   {name: "year", min: minYear, max: maxYear, last: maxYear, base: minYear},
}

// parsedField is one validated field.
type parsedField struct {
	bits     [3]uint64 // bit v-base set when value v matches
	star     bool      // the field starts with '*' or is '?' (cronie: unrestricted)
	specials []string  // canonical cronexpr directives: L, LW, nW (dom); nL, n#k (dow)
}

func (p *parsedField) set(v, base int) {
	i := v - base
	p.bits[i/64] |= 1 << (i % 64)
}

// parseField validates text as field f. The error is a bare reason, such as
// "minute range 5-2 is reversed"; Parse adds the spec around it.
func parseField(f field, text string) (parsedField, error) {
	info := &fieldInfos[f]
	var p parsedField
	if text == "?" {
		if f != fieldDom && f != fieldDow {
			return p, fmt.Errorf("%s field cannot be ?", info.name)
		}
		p.star = true
		for v := info.min; v <= info.last; v++ {
			p.set(v, info.base)
		}
		return p, nil
	}
	p.star = strings.HasPrefix(text, "*")
	for item := range strings.SplitSeq(text, ",") {
		if item == "" {
			return p, fmt.Errorf("%s field %q has an empty list item", info.name, text)
		}
		if special, ok, err := parseSpecial(f, item); err != nil {
			return p, err
		} else if ok {
			p.specials = append(p.specials, special)
			continue
		}
		if err := p.parseItem(f, item); err != nil {
			return p, err
		}
	}
	return p, nil
}

// parseItem parses one list item: *, v, a-b, with an optional /step.
func (p *parsedField) parseItem(f field, item string) error {
	info := &fieldInfos[f]
	rng, stepText, hasStep := strings.Cut(item, "/")
	var lo, hi int
	switch {
	case rng == "*":
		lo, hi = info.min, info.last
	case strings.Contains(rng, "-"):
		a, b, _ := strings.Cut(rng, "-")
		if a == "" || b == "" {
			return fmt.Errorf("%s range %q is incomplete", info.name, rng)
		}
		var err error
		if lo, err = parseValue(f, a); err != nil {
			return err
		}
		if hi, err = parseValue(f, b); err != nil {
			return err
		}
		// SUN ends a range as 7, so MON-SUN and SAT-SUN mean what they say.
		if f == fieldDow && hi == 0 && lo > 0 && !isDigits(b) {
			hi = 7
		}
		if lo > hi {
			return fmt.Errorf("%s range %s is reversed", info.name, rng)
		}
	default:
		v, err := parseValue(f, rng)
		if err != nil {
			return err
		}
		lo, hi = v, v
		if hasStep { // Quartz "a/n": from a to the end of the field
			hi = max(v, info.last)
		}
	}
	step := 1
	if hasStep {
		span := info.last - info.min + 1
		n, err := strconv.Atoi(stepText)
		if err != nil || !isDigits(stepText) || n < 1 || n > span {
			return fmt.Errorf("%s step %q in %q must be a number from 1 to %d", info.name, stepText, item, span)
		}
		step = n
	}
	for v := lo; v <= hi; v += step {
		if f == fieldDow {
			p.set(v%7, info.base) // 7 is Sunday
		} else {
			p.set(v, info.base)
		}
	}
	return nil
}

// parseSpecial recognises the calendar specials cronexpr evaluates and
// returns them in a canonical form (no leading zeros, day of week 0-6).
// ok is false when item is not a special.
func parseSpecial(f field, item string) (special string, ok bool, err error) {
	upper := strings.ToUpper(item)
	switch f {
	case fieldDom:
		switch {
		case upper == "L", upper == "LW":
			return upper, true, nil
		case strings.HasSuffix(upper, "W"):
			d := upper[:len(upper)-1]
			if !isDigits(d) {
				return "", false, fmt.Errorf("day-of-month item %q is invalid: W needs a single day, as in 15W", item)
			}
			v, err := parseValue(f, d)
			if err != nil {
				return "", false, err
			}
			return strconv.Itoa(v) + "W", true, nil
		case strings.HasPrefix(upper, "L"):
			return "", false, fmt.Errorf("day-of-month item %q is invalid: only L and LW may start with L", item)
		}
	case fieldDow:
		switch {
		case strings.Contains(upper, "#"):
			d, k, _ := strings.Cut(upper, "#")
			v, err := parseValue(f, d)
			if err != nil {
				return "", false, err
			}
			if len(k) != 1 || k[0] < '1' || k[0] > '5' {
				return "", false, fmt.Errorf("day-of-week item %q is invalid: # needs a week 1-5, as in FRI#2", item)
			}
			return strconv.Itoa(v%7) + "#" + k, true, nil
		case strings.HasSuffix(upper, "L") && !isName(f, upper):
			d := upper[:len(upper)-1]
			if d == "" {
				return "", false, fmt.Errorf("day-of-week item %q is invalid: L needs a day, as in 5L or FRIL", item)
			}
			v, err := parseValue(f, d)
			if err != nil {
				return "", false, err
			}
			return strconv.Itoa(v%7) + "L", true, nil
		}
	}
	return "", false, nil
}

// parseValue parses a number or, for month and day of week, a name.
// Leading zeros are plain decimal: "02" is February, "01" is Monday.
func parseValue(f field, s string) (int, error) {
	info := &fieldInfos[f]
	if isDigits(s) {
		v, err := strconv.Atoi(s)
		if err != nil || v < info.min || v > info.max {
			return 0, fmt.Errorf("%s value %s is out of range %d-%d", info.name, s, info.min, info.max)
		}
		return v, nil
	}
	if v, ok := info.names[strings.ToLower(s)]; ok {
		return v, nil
	}
	if info.names != nil {
		return 0, fmt.Errorf("%s value %q is neither a number nor a known name", info.name, s)
	}
	return 0, fmt.Errorf("%s value %q is not a number", info.name, s)
}

func isName(f field, s string) bool {
	_, ok := fieldInfos[f].names[strings.ToLower(s)]
	return ok
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
