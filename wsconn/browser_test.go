package wsconn

import (
	"net/http"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/wsd-dev/wsd/frame"
	"github.com/wsd-dev/wsd/internal/browser"
)

// The page runs the checks in the browser and leaves window.result.
const browserPage = `<!doctype html><meta charset="utf-8"><title>wsd echo test</title><script>
(async () => {
  const res = { states: [] };
  const ws = new WebSocket('ws://' + location.host + '/echo');
  ws.binaryType = 'arraybuffer';
  res.states.push(ws.readyState);
  const inbox = [];
  let waiting = null;
  ws.onmessage = (e) => { if (waiting) { const w = waiting; waiting = null; w(e.data); } else inbox.push(e.data); };
  const next = () => inbox.length ? Promise.resolve(inbox.shift()) : new Promise((r) => { waiting = r; });
  ws.onclose = (e) => { res.states.push(ws.readyState); res.code = e.code; res.reason = e.reason; res.wasClean = e.wasClean; window.result = res; };
  ws.onerror = () => { res.error = true; };
  await new Promise((r) => { ws.onopen = r; });
  res.states.push(ws.readyState);
  res.protocol = ws.protocol; res.extensions = ws.extensions;
  const text = '发送数据 😀 hello';
  ws.send(text);
  res.text = (await next()) === text;
  for (const n of [0, 125, 126, 65535, 65536, 1 << 20]) {
    const b = new Uint8Array(n);
    for (let i = 0; i < n; i++) b[i] = (i * 7 + n) & 255;
    ws.send(b);
    if (n === 1 << 20) res.bufferedAfterSend = ws.bufferedAmount;
    const got = new Uint8Array(await next());
    let same = got.length === n;
    for (let i = 0; same && i < n; i++) same = got[i] === b[i];
    res['binary_' + n] = same;
  }
  res.bufferedAtEnd = ws.bufferedAmount;
  ws.close(4001, 'bye 再见');
})();
</script>`

func TestChromium(t *testing.T) {
	rec := &closeRecorder{}
	routes := echoRoutes(rec)
	routes.HTTP = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write([]byte(browserPage))
	})
	s := startWith(t, nil, routes)
	ctx := browser.New(t)
	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate("http://"+s.Addr().String()+"/")))
	var res map[string]any
	require.NoError(t, browser.WaitJSON(ctx, "window.result", &res, 30*time.Second))
	assert.Nil(t, res["error"])
	assert.Equal(t, []any{0.0, 1.0, 3.0}, res["states"], "readyState CONNECTING → OPEN → CLOSED")
	assert.Equal(t, true, res["text"])
	for _, n := range binarySizes {
		assert.Equal(t, true, res["binary_"+itoa(n)], "binary %d", n)
	}
	assert.Equal(t, 0.0, res["bufferedAtEnd"], "bufferedAmount back to 0")
	assert.Equal(t, "", res["extensions"], "permessage-deflate offered by Chromium is not accepted")
	assert.Equal(t, 4001.0, res["code"])
	assert.Equal(t, true, res["wasClean"])
	eventually(t, 2*time.Second, func() bool { return len(rec.list()) == 1 }, "no close recorded")
	assert.Equal(t, []frame.CloseCode{4001}, rec.list())
}
