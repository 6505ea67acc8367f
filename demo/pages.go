package demo

import (
	"embed"
	"io/fs"
	"net/http"
)

//go:embed web
var webFiles embed.FS

// addPages routes the demo pages — / (index), /echo.html, /chat.html,
// /shop.html, /admin.html and their stylesheet — by exact path, so that
// every other path gets the API's JSON 404.
func addPages(mux *http.ServeMux) {
	sub, _ := fs.Sub(webFiles, "web")
	files := http.FileServerFS(sub)
	mux.Handle("GET /{$}", files)
	entries, _ := fs.ReadDir(sub, ".")
	for _, e := range entries {
		mux.Handle("GET /"+e.Name(), files)
	}
}
