package npm_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/agent-facets/facets/scripts/npm"
)

// What npm 11.19.1 showed on a terminal (colour off, but for one) for npm trust list,
// after a web login, as the terminal's other side read it: testdata holds
// the transcripts byte for byte.
func TestParseTrustList(t *testing.T) {
	facets := func(id string, permissions ...string) npm.Trust {
		return npm.Trust{
			ID: id, Type: "circleci",
			OrgID:                "d6dfd694-6b06-4d51-a5bd-a15b3efe977b",
			ProjectID:            "c7b3dd0a-e9b0-4e95-8345-fc984443e02b",
			PipelineDefinitionID: "d404b478-dd19-4c68-891f-4cf97396b1a7",
			VCSOrigin:            "github.com/agent-facets/facets",
			ContextIDs:           []string{"84962527-275c-495e-83c3-31c79cf1e181"},
			Permissions:          permissions,
		}
	}
	with := func(t npm.Trust, contexts ...string) npm.Trust {
		t.ContextIDs = contexts
		return t
	}
	tests := []struct {
		file string
		want []npm.Trust
	}{
		{"trust-list-web-2.txt", []npm.Trust{
			facets("26d1b20a-2c04-e381-88a6-a36be126b88a", "createPackage", "createStagedPackage"),
			facets("f55c86e3-5813-f123-22b5-5c4207229ece", "createPackage"),
		}},
		{"trust-list-web-none.txt", nil},
		// npm's colours, should they be on after all: stripped.
		{"trust-list-web-colour.txt", []npm.Trust{
			with(facets("e77e207d-a13f-1cc7-6442-8c309c3cf800", "createPackage", "createStagedPackage"),
				"84962527-275c-495e-83c3-31c79cf1e181", "0b5b0c2c-5b7a-4d53-9a53-8f8a1f2f3e4d"),
			facets("678af50f-1986-1b77-ffde-5ddda2899741", "createPackage"),
		}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			screen, err := os.ReadFile(filepath.Join("testdata", tt.file))
			require.NoError(t, err)
			list, err := npm.ParseTrustList(screen, "@agent-facets/cli-linux-x64")
			require.NoError(t, err)
			assert.Equal(t, tt.want, list)
		})
	}
}

// What is not npm trust list's output is an error, not an empty list: a
// package would be taken for one without a trusted publisher.
func TestParseTrustListRefuses(t *testing.T) {
	for name, screen := range map[string]string{
		"nothing":          "",
		"only the prompts": "Authenticate your account at:\r\nhttp://127.0.0.1:1/-/auth/cli/x\r\nPress ENTER to open in the browser...\r\n",
		"JSON":             `{"id":"x","type":"circleci"}`,
		"no id":            "\r\ntype: circleci\r\norgId: d6dfd694-6b06-4d51-a5bd-a15b3efe977b\r\n\r\n",
	} {
		t.Run(name, func(t *testing.T) {
			_, err := npm.ParseTrustList([]byte(screen), "agent-facets")
			require.Error(t, err)
			assert.Contains(t, err.Error(), "reading npm trust list agent-facets: ")
		})
	}
}
