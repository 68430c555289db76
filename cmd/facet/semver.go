package main

import (
	"strconv"
	"strings"
)

// compareVersions compares two versions X.Y.Z[-pre][+build] by semver
// precedence (semver.org §11): -1, 0 or +1. ok is false when either is not
// of that form. Hand-written rather than Masterminds/semver (in go.mod for
// the build scripts): the shipped binary stays standard library and x/sys,
// and releases are plain X.Y.Z[-pre] (scripts/version); the test checks this
// against Masterminds/semver on a table.
func compareVersions(a, b string) (cmp int, ok bool) {
	pa, oka := parseVersion(a)
	pb, okb := parseVersion(b)
	if !oka || !okb {
		return 0, false
	}
	for i := range 3 {
		if c := compareNum(pa.core[i], pb.core[i]); c != 0 {
			return c, true
		}
	}
	switch {
	case pa.pre == nil && pb.pre == nil:
		return 0, true
	case pa.pre == nil:
		return 1, true // a release follows its prereleases
	case pb.pre == nil:
		return -1, true
	}
	for i := 0; i < len(pa.pre) && i < len(pb.pre); i++ {
		x, y := pa.pre[i], pb.pre[i]
		xn, yn := isNum(x), isNum(y)
		var c int
		switch {
		case xn && yn:
			c = compareNum(x, y)
		case xn:
			c = -1 // numeric identifiers come first
		case yn:
			c = 1
		default:
			c = strings.Compare(x, y)
		}
		if c != 0 {
			return c, true
		}
	}
	return compareNum(strconv.Itoa(len(pa.pre)), strconv.Itoa(len(pb.pre))), true
}

type version struct {
	core [3]string
	pre  []string // nil for a release
}

func parseVersion(s string) (version, bool) {
	var v version
	s, build, hasBuild := strings.Cut(s, "+") // build metadata has no say in precedence
	if hasBuild && !identifiers(build, false) {
		return v, false
	}
	core, pre, hasPre := strings.Cut(s, "-")
	parts := strings.Split(core, ".")
	if len(parts) != 3 {
		return v, false
	}
	for i, p := range parts {
		if !isNum(p) || (len(p) > 1 && p[0] == '0') {
			return v, false
		}
		v.core[i] = p
	}
	if hasPre {
		if !identifiers(pre, true) {
			return v, false
		}
		v.pre = strings.Split(pre, ".")
	}
	return v, true
}

// identifiers reports whether s is dot-separated identifiers of
// [0-9A-Za-z-], none empty; in a prerelease (pre) a numeric one has no
// leading zero.
func identifiers(s string, pre bool) bool {
	for _, id := range strings.Split(s, ".") {
		if id == "" || strings.Trim(id, "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-") != "" {
			return false
		}
		if pre && isNum(id) && len(id) > 1 && id[0] == '0' {
			return false
		}
	}
	return true
}

func isNum(s string) bool {
	return s != "" && strings.Trim(s, "0123456789") == ""
}

// compareNum compares two strings of digits as numbers of any size.
func compareNum(a, b string) int {
	a, b = strings.TrimLeft(a, "0"), strings.TrimLeft(b, "0")
	if len(a) != len(b) {
		if len(a) < len(b) {
			return -1
		}
		return 1
	}
	return strings.Compare(a, b)
}
