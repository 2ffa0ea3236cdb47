// Lab extension: entity names as vCenter keeps them. vCenter stores '%', '/' and '\\' in a name
// escaped (%25, %2f, %5c) so that inventory paths stay unambiguous, and returns the escaped form;
// the stock simulator took '/' as a path separator and failed.

package simulator

import "regexp"

var labNameEscape = regexp.MustCompile(`%(?:25|2[fF]|5[cC])|[%/\\]`)

// labEscapeName is name as vCenter stores it; an escape already in it is kept as it is.
func labEscapeName(name string) string {
	return labNameEscape.ReplaceAllStringFunc(name, func(s string) string {
		switch s {
		case "%":
			return "%25"
		case "/":
			return "%2f"
		case "\\":
			return "%5c"
		}
		return s
	})
}
