// Package spread summarises repeated measurements: the median and the
// range over runs, so that a difference between two builds can be held
// against the run-to-run noise of the same run.
package spread

import (
	"fmt"
	"slices"
)

// Of is a set of repeated measurements of one figure.
type Of []float64

// Median is the middle value (the mean of the two middle ones of an even
// count); 0 if empty.
func (v Of) Median() float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 0 {
		return (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return s[len(s)/2]
}

// Min and Max are the extremes; 0 if empty.
func (v Of) Min() float64 {
	if len(v) == 0 {
		return 0
	}
	return slices.Min(v)
}

func (v Of) Max() float64 {
	if len(v) == 0 {
		return 0
	}
	return slices.Max(v)
}

// Format writes the median with format f, then the range over the runs
// in parentheses when there is more than one run: "318519 (301000–325000)".
func (v Of) Format(f string) string {
	if len(v) == 0 {
		return "–"
	}
	s := fmt.Sprintf(f, v.Median())
	if len(v) > 1 {
		s += " (" + fmt.Sprintf(f, v.Min()) + "–" + fmt.Sprintf(f, v.Max()) + ")"
	}
	return s
}
