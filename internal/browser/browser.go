// Package browser starts Debian's headless Chromium for end-to-end tests,
// driven over the DevTools protocol with chromedp. It never downloads a
// browser.
package browser

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// Path is Debian's chromium binary, installed by `make test`.
const Path = "/usr/bin/chromium"

// New starts a browser for the test and returns a context for its first
// tab; the browser is stopped when the test ends. extra adds options (a
// flag such as ignore-certificate-errors, for a test's own certificate).
func New(t testing.TB, extra ...chromedp.ExecAllocatorOption) context.Context {
	t.Helper()
	ctx, stop, err := Launch(t.TempDir(), extra...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	return ctx
}

// Launch starts a browser outside tests (make docs' screenshots) with its
// profile in userDataDir, and returns a context for its first tab and the
// function that stops it; extra adds options.
func Launch(userDataDir string, extra ...chromedp.ExecAllocatorOption) (context.Context, func(), error) {
	if _, err := os.Stat(Path); err != nil {
		return nil, nil, fmt.Errorf("%s not found (make test installs it): %v", Path, err)
	}
	opts := append([]chromedp.ExecAllocatorOption{},
		chromedp.ExecPath(Path),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.UserDataDir(userDataDir),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
	)
	opts = append(opts, extra...)
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelB := chromedp.NewContext(actx)
	stop := func() { cancelB(); cancelA() }
	// Start the browser now so that a failure to launch is reported here.
	// (Not under a derived timeout: cancelling the context of the first run
	// would stop the browser.)
	if err := chromedp.Do(ctx); err != nil {
		stop()
		return nil, nil, fmt.Errorf("starting chromium: %w", err)
	}
	return ctx, stop, nil
}

// WaitJSON polls a JS expression until it is not null/undefined and
// decodes its value into out.
func WaitJSON(ctx context.Context, expr string, out any, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool]("("+expr+") != null"))
		if err != nil {
			return err
		}
		if ok {
			js, err := chromedp.Run(ctx, chromedp.Evaluate[string]("JSON.stringify("+expr+")"))
			if err != nil {
				return err
			}
			return json.Unmarshal([]byte(js), out)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s still null after %v", expr, timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Eval evaluates a JS expression and returns its value.
func Eval[T any](ctx context.Context, expr string) (T, error) {
	return chromedp.Run(ctx, chromedp.Evaluate[T](expr))
}

// WaitTrue polls a JS condition until it holds; on timeout the error shows
// what describe (a JS expression) evaluates to, for the failure message.
func WaitTrue(ctx context.Context, cond, describe string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		ok, err := Eval[bool](ctx, "!!("+cond+")")
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		if time.Now().After(deadline) {
			state, _ := Eval[string](ctx, "String("+describe+")")
			return fmt.Errorf("%s not true after %v; %s = %q", cond, timeout, describe, state)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// NewTab opens a tab in a fresh browser context (its own cookies and
// storage, like a separate browser profile) of the same browser.
func NewTab(t testing.TB, browserCtx context.Context) context.Context {
	t.Helper()
	ctx, cancel := chromedp.NewContext(browserCtx, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("opening a browser context: %v", err)
	}
	return ctx
}

// Navigate loads url in the tab.
func Navigate(ctx context.Context, url string) error {
	return chromedp.Do(ctx, chromedp.Navigate(url))
}

// Click clicks the element matching a CSS selector with a real mouse event.
func Click(ctx context.Context, sel string) error {
	return chromedp.Do(ctx, chromedp.Click(sel))
}

// Type sets an input's value by typing into it.
func Type(ctx context.Context, sel, text string) error {
	return chromedp.Do(ctx, chromedp.SendKeys(sel, text))
}
