package fleet

import (
	"bufio"
	"net/http"
	"strings"
)

// httptestRequest parses target as a request line's target, without httptest's panic on bad
// input, for fuzzing.
func httptestRequest(target string) (*http.Request, error) {
	return http.ReadRequest(bufio.NewReader(strings.NewReader("GET " + target + " HTTP/1.1\r\nHost: x\r\n\r\n")))
}
