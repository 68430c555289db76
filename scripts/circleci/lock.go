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
// CircleCI lets a job use a context only when every expression restriction
// of the context holds for it (and the job's project and user pass the
// project and group restrictions).

// ReleaseContext is the name of the context the release jobs run in
// (`context: release` in .circleci/config.yml).
const ReleaseContext = "release"

// LockExpression is the expression restriction that confines a context to
// release tags (tags starting with tagPrefix) and keeps it from SSH reruns.
func LockExpression(tagPrefix string) string {
	return TagVariable + " starts-with " + Quote(tagPrefix) + " and not " + SSHVariable
}

// Lock is what a context's restrictions say about who may use it.
type Lock struct {
	Restrictions []Restriction
	// Confining are the expression restrictions that confine the context to
	// release tags: one is enough, as every expression must hold.
	Confining []Restriction
	// NoSSH says an expression restriction keeps the context from jobs
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
	for _, r := range rs {
		switch r.Type {
		case RestrictionExpression:
			e, err := ParseExpression(r.Pattern)
			if err != nil {
				l.Verdicts[r.ID] = "cannot be parsed: " + err.Error()
				continue
			}
			var does []string
			if e.ConfinesTag(tagPrefix) {
				l.Confining = append(l.Confining, r)
				does = append(does, "confines to "+tagPrefix+" tags")
			} else {
				does = append(does, "does not confine to "+tagPrefix+" tags")
			}
			if e.ForbidsSSH() {
				l.NoSSH = true
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
	return l
}

// Locked reports whether the context is confined to release tags.
func (l Lock) Locked() bool { return len(l.Confining) > 0 }

// Warnings lists what would lock the context further, each with the fix;
// projectID is the project that must be able to use it.
func (l Lock) Warnings(projectID string) []string {
	var w []string
	if !l.NoSSH {
		w = append(w, fmt.Sprintf("no expression restriction forbids SSH reruns: add `and not %s` to it (npm refuses SSH-rerun tokens anyway; this keeps the job from starting)", SSHVariable))
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
