// Command liar carries the right stamp but prints the wrong version.
package main

import (
	"fmt"
	"io"
)

var stamp string

func main() {
	fmt.Fprint(io.Discard, stamp)
	fmt.Println("facet 0.0.1")
}
