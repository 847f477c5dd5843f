package descriptor

import (
	"fmt"
	"strconv"
	"strings"
)

// cronField is one field of a 5-field cron expression and its allowed values.
type cronField struct {
	name     string
	min, max int
	names    map[string]int
}

var cronFields = [5]cronField{
	{name: "minute", min: 0, max: 59},
	{name: "hour", min: 0, max: 23},
	{name: "day-of-month", min: 1, max: 31},
	{name: "month", min: 1, max: 12, names: map[string]int{
		"JAN": 1, "FEB": 2, "MAR": 3, "APR": 4, "MAY": 5, "JUN": 6,
		"JUL": 7, "AUG": 8, "SEP": 9, "OCT": 10, "NOV": 11, "DEC": 12}},
	{name: "day-of-week", min: 0, max: 6, names: map[string]int{
		"SUN": 0, "MON": 1, "TUE": 2, "WED": 3, "THU": 4, "FRI": 5, "SAT": 6}},
}

// CheckCron checks a 5-field cron expression (minute hour day-of-month month day-of-week), the
// form the reference provisioner accepted and CDE schedules: each field is *, a value, a range
// a-b, a list a,b,c, or any of these with a /step. Months and days of the week also take their
// three-letter English names. The error says which field is wrong and why.
func CheckCron(expr string) error {
	parts := strings.Fields(expr)
	if len(parts) != 5 {
		return fmt.Errorf("%q has %d fields, a cron expression has 5: minute hour day-of-month month day-of-week", expr, len(parts))
	}
	for i, p := range parts {
		if err := cronFields[i].check(p); err != nil {
			return fmt.Errorf("%s field %q: %w", cronFields[i].name, p, err)
		}
	}
	return nil
}

func (f cronField) check(field string) error {
	for _, item := range strings.Split(field, ",") {
		if err := f.checkItem(item); err != nil {
			return err
		}
	}
	return nil
}

func (f cronField) checkItem(item string) error {
	if item == "" {
		return fmt.Errorf("empty list element")
	}
	base, step, hasStep := strings.Cut(item, "/")
	if hasStep {
		n, err := strconv.Atoi(step)
		if err != nil || n <= 0 || n > f.max-f.min+1 {
			return fmt.Errorf("step %q must be a whole number from 1 to %d", step, f.max-f.min+1)
		}
	}
	if base == "*" {
		return nil
	}
	lo, hi, isRange := strings.Cut(base, "-")
	a, err := f.value(lo)
	if err != nil {
		return err
	}
	if !isRange {
		return nil
	}
	b, err := f.value(hi)
	if err != nil {
		return err
	}
	if a > b {
		return fmt.Errorf("range %s runs backwards", base)
	}
	return nil
}

func (f cronField) value(s string) (int, error) {
	if n, ok := f.names[strings.ToUpper(s)]; ok {
		return n, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || strings.HasPrefix(s, "+") || strings.HasPrefix(s, "-") {
		return 0, fmt.Errorf("%q is not a number from %d to %d", s, f.min, f.max)
	}
	if n < f.min || n > f.max {
		return 0, fmt.Errorf("%d is out of range %d-%d", n, f.min, f.max)
	}
	return n, nil
}
