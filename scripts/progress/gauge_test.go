package progress

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// The gauge drawn on a terminal of no width fills as the work is done.
func TestGauge(t *testing.T) {
	for _, tc := range []struct {
		done, total int
		want        string
	}{
		{0, 12, "[>         ]"},
		{3, 12, "[==>       ]"},
		{6, 12, "[=====>    ]"},
		{11, 12, "[=========>]"},
		{12, 12, "[==========]"},
		{0, 0, "[==========]"}, // nothing to do is done
	} {
		assert.Equal(t, tc.want, gauge(tc.done, tc.total, 10), "%d of %d", tc.done, tc.total)
	}
}
