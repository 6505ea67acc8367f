package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"time"

	"github.com/wsd-dev/wsd/load"
)

type publishStats struct {
	OK     int64  `json:"ok"`
	Failed int64  `json:"failed"`
	Error  string `json:"last_error,omitempty"`
}

// publish POSTs stamped messages to o.publishURL at o.publishRate: kind
// "U" (one user) when the URL names a connection with {i}, else "B".
func publish(ctx context.Context, o *options, conns int64) publishStats {
	var st publishStats
	kind := "B"
	if strings.Contains(o.publishURL, "{i}") {
		kind = "U"
	}
	client := &http.Client{Timeout: 10 * time.Second}
	if o.insecure {
		client.Transport = &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}
	}
	interval := time.Duration(float64(time.Second) / max(o.publishRate, 0.001))
	pad := strings.Repeat("x", max(o.size-48, 0))
	for k := int64(1); o.publishCount == 0 || k <= int64(o.publishCount); k++ {
		if ctx.Err() != nil {
			break
		}
		u := o.publishURL
		if kind == "U" {
			u = load.ExpandPath(u, o.first+rand.IntN(int(max(conns, 1))))
		}
		body := append(load.PushStamp(kind, k, time.Now()), pad...)
		req, _ := http.NewRequestWithContext(ctx, "POST", u, bytes.NewReader(body))
		if o.publishToken != "" {
			req.Header.Set("Authorization", "Bearer "+o.publishToken)
		}
		resp, err := client.Do(req)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode >= 300 {
				err = fmt.Errorf("%s: %s", u, resp.Status)
			}
		}
		if err != nil {
			st.Failed++
			st.Error = err.Error()
		} else {
			st.OK++
		}
		select {
		case <-ctx.Done():
		case <-time.After(interval):
		}
	}
	return st
}
