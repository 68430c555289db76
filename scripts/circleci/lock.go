package circleci

import (
	"fmt"
	"strings"
)

// Why a context must be locked: npm's trusted publisher for CircleCI matches
// the organization, project, pipeline definition, VCS origin and context of
// a job, never its branch or tag. A job that runs in the release context
// gets an ID token npm accepts, on any branch; only the tag filter in
// .circleci/config.yml, which anyone who may push a branch can edit, keeps
// branch pipelines from publishing. The context's restrictions are the lock:
// CircleCI lets a job use a context only when the job meets the context's
// restrictions. Its documentation does not say whether several expression
// restrictions must all hold or any one of them, so a lock here is one where
// each of them confines the context: true either way.

// ReleaseContext is the name of the context the release jobs run in
// (`context: release` in .circleci/config.yml).
const ReleaseContext = "release"

// LockExpression is the expression restriction that confines a context to
// release tags (tags starting with tagPrefix), keeps it from pipelines whose
// configuration came through CircleCI's API (which could run any config on
// an existing release tag) and from SSH reruns.
func LockExpression(tagPrefix string) string {
	return TagVariable + " starts-with " + Quote(tagPrefix) + " and not " + SSHVariable +
		" and not (" + ConfigSourceVariable + " starts-with " + Quote(APIConfigSource) + ")"
}

// Lock is what a context's restrictions say about who may use it.
type Lock struct {
	Restrictions []Restriction
	// Confining are the expression restrictions that confine the context to
	// release tags and to the repository's configuration; Wide are the
	// others (unparsable ones among them). The context is locked when there
	// are confining ones and no wide one.
	Confining, Wide []Restriction
	// NoSSH says every expression restriction keeps the context from jobs
	// rerun with SSH.
	NoSSH bool
	// Projects and Groups are the project and security-group restrictions;
	// a group named "All members", CircleCI's default, restricts nothing
	// and is not among them.
	Projects, Groups []Restriction
	// Verdicts says of each restriction what it does, by ID: "confines to
	// agent-facets@ tags", "does not confine to …", "cannot be parsed: …".
	Verdicts map[string]string
}

// AllMembers is the security group of every member of the organization.
const AllMembers = "All members"

// LockOf reads the restrictions rs of a context: which confine it to tags
// starting with tagPrefix, and which other locks it has.
func LockOf(rs []Restriction, tagPrefix string) Lock {
	l := Lock{Restrictions: rs, Verdicts: map[string]string{}}
	ssh := 0
	for _, r := range rs {
		switch r.Type {
		case RestrictionExpression:
			e, err := ParseExpression(r.Pattern)
			if err != nil {
				l.Wide = append(l.Wide, r)
				l.Verdicts[r.ID] = "cannot be parsed: " + err.Error()
				continue
			}
			var does []string
			tags, api := e.ConfinesTag(tagPrefix), e.ForbidsAPIConfig()
			if tags {
				does = append(does, "confines to "+tagPrefix+" tags")
			} else {
				does = append(does, "does not confine to "+tagPrefix+" tags")
			}
			if api {
				does = append(does, "no configuration from the API")
			} else {
				does = append(does, "allows a configuration from the API")
			}
			if tags && api {
				l.Confining = append(l.Confining, r)
			} else {
				l.Wide = append(l.Wide, r)
			}
			if e.ForbidsSSH() {
				ssh++
				does = append(does, "no SSH reruns")
			}
			l.Verdicts[r.ID] = strings.Join(does, "; ")
		case RestrictionProject:
			l.Projects = append(l.Projects, r)
			l.Verdicts[r.ID] = "only jobs of this project"
		case RestrictionGroup:
			if strings.EqualFold(strings.TrimSpace(r.Name), AllMembers) {
				l.Verdicts[r.ID] = "every member of the organization: restricts nothing"
				continue
			}
			l.Groups = append(l.Groups, r)
			l.Verdicts[r.ID] = "only members of this group"
		default:
			l.Verdicts[r.ID] = fmt.Sprintf("a restriction of a kind this does not know (%q)", r.Type)
		}
	}
	l.NoSSH = ssh > 0 && ssh == len(l.Confining)+len(l.Wide)
	return l
}

// Locked reports whether every expression restriction, and there is one,
// confines the context to release tags and to pipelines whose configuration
// is the repository's: a pipeline triggered through the API with a
// configuration of its own, on an existing release tag, passes a tag
// restriction alone.
func (l Lock) Locked() bool { return len(l.Confining) > 0 && len(l.Wide) == 0 }

// Warnings lists what would lock the context further, each with the fix;
// projectID is the project that must be able to use it.
func (l Lock) Warnings(projectID string) []string {
	var w []string
	if !l.NoSSH {
		w = append(w, fmt.Sprintf("an expression restriction allows SSH reruns: add `and not %s` to it (npm refuses SSH-rerun tokens anyway; this keeps the job from starting)", SSHVariable))
	}
	switch {
	case len(l.Projects) == 0:
		w = append(w, fmt.Sprintf("no project restriction: any project of the organization may use the context; add a project restriction for project %s", projectID))
	case !l.hasProject(projectID):
		w = append(w, fmt.Sprintf("the project restrictions name %s, not project %s: the release jobs will be refused the context unless it is one of them", names(l.Projects), projectID))
	}
	if len(l.Groups) == 0 {
		w = append(w, "no security group: every member of the organization may run a job with the context; add a security group of the release managers")
	}
	return w
}

func (l Lock) hasProject(projectID string) bool {
	for _, p := range l.Projects {
		if strings.EqualFold(p.Pattern, projectID) || strings.EqualFold(p.SubjectID, projectID) {
			return true
		}
	}
	return false
}

// Shown is how a restriction is shown: the expression, or the project's or
// group's name and ID.
func (r Restriction) Shown() string {
	if r.Type == RestrictionExpression || r.Name == "" {
		return r.Pattern
	}
	return fmt.Sprintf("%s (%s)", r.Name, r.Pattern)
}

func names(rs []Restriction) string {
	s := make([]string, len(rs))
	for i, r := range rs {
		s[i] = r.Shown()
	}
	return strings.Join(s, ", ")
}
