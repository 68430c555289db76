// Command broken compiles everywhere but on Windows.
package main

import (
	"fmt"
	"io"
)

var stamp string

func main() { fmt.Fprint(io.Discard, stamp) }
