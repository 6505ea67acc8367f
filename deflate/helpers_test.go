package deflate

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os/exec"
	"testing"

	"github.com/stretchr/testify/require"
)

// notification is a typical hub message: ~200 bytes of JSON.
func notification(seq int) []byte {
	return fmt.Appendf(nil, `{"type":"message","seq":%d,"unread":3,"time":"2026-11-27T15:04:05.%03dZ",`+
		`"data":{"from":"alice","room":"general","text":"The build on main is green again; deploying %d to staging now."}}`,
		seq, seq%1000, seq)
}

// text16K is 16 KiB of varied JSON lines, like a batch or a history reply.
func text16K() []byte {
	var b bytes.Buffer
	for i := 0; b.Len() < 16<<10; i++ {
		fmt.Fprintf(&b, `{"seq":%d,"user":"u%d","price":%d.%02d,"items":["apple","pear","fig%d"]},`+"\n", i, i*7%113, i*37%1000, i%100, i%17)
	}
	return b.Bytes()[:16<<10]
}

// random returns n incompressible bytes.
func random(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// countingBuffers is a frame.Buffers that counts what it lends, keeps the
// peak, refuses past max (0: no budget) and reuses given-back buffers.
type countingBuffers struct {
	max, held, peak int
	free            [][]byte
}

func (c *countingBuffers) Get(n int) []byte {
	if c.max > 0 && c.held+n > c.max {
		return nil
	}
	var b []byte
	for i, f := range c.free {
		if cap(f) >= n {
			b = f
			c.free[i] = c.free[len(c.free)-1]
			c.free = c.free[:len(c.free)-1]
			break
		}
	}
	if b == nil {
		b = make([]byte, 0, n)
	}
	c.held += cap(b)
	c.peak = max(c.peak, c.held)
	return b[:0]
}

func (c *countingBuffers) Put(b []byte) {
	c.held -= cap(b)
	c.free = append(c.free, b[:0])
}

// zlibJob is a job for testdata/zlib_peer.py or zlib_peer.js.
type zlibJob struct {
	Op       string   `json:"op"`
	WBits    uint8    `json:"wbits"`
	Dict     string   `json:"dict,omitempty"`
	Msgs     []string `json:"msgs,omitempty"`
	Msg      string   `json:"msg,omitempty"`
	Takeover bool     `json:"takeover"`
	Level    int      `json:"level"`
}

type zlibResult struct {
	OK   bool     `json:"ok"`
	Err  string   `json:"err"`
	Msgs []string `json:"msgs"`
	Msg  string   `json:"msg"`
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

func unb64(t testing.TB, s string) []byte {
	b, err := base64.StdEncoding.DecodeString(s)
	require.NoError(t, err)
	return b
}

// runZlibPeer runs a batch of jobs through Python's (python3) or Node's
// (node) zlib.
func runZlibPeer(t *testing.T, lang string, jobs []zlibJob) []zlibResult {
	t.Helper()
	var cmd *exec.Cmd
	switch lang {
	case "python":
		cmd = exec.Command("/usr/bin/python3", "testdata/zlib_peer.py")
	case "node":
		path, err := exec.LookPath("node")
		if err != nil {
			t.Skip("node is not installed")
		}
		cmd = exec.Command(path, "testdata/zlib_peer.js")
	}
	in, err := json.Marshal(jobs)
	require.NoError(t, err)
	cmd.Stdin = bytes.NewReader(in)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	require.NoError(t, err, "%s: %s", lang, stderr.String())
	var res []zlibResult
	require.NoError(t, json.Unmarshal(out, &res))
	require.Len(t, res, len(jobs))
	return res
}
