// Package sortorder stands in for vbom.ml/util/sortorder, whose import path no
// longer resolves: the same package is published as github.com/fvbommel/sortorder.
package sortorder

import moved "github.com/fvbommel/sortorder"

// Natural sorts strings in natural order (numbers by value).
type Natural = moved.Natural

// NaturalLess compares two strings in natural order.
func NaturalLess(str1, str2 string) bool { return moved.NaturalLess(str1, str2) }
