package syncbuf_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/agent-facets/facets/scripts/syncbuf"
)

// Concurrent writers lose nothing (run with -race to see a plain
// bytes.Buffer fail).
func TestConcurrentWrites(t *testing.T) {
	var b syncbuf.Buffer
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for range 100 {
				fmt.Fprintf(&b, "%d\n", i)
				_, _ = b.WriteString("s\n")
			}
		})
	}
	wg.Wait()
	assert.Equal(t, 8*100*2, strings.Count(b.String(), "\n"))
	assert.Equal(t, 8*100, strings.Count(b.String(), "s\n"))
}
