module github.com/wsd-dev/wsd/bench

go 1.26.8

replace github.com/wsd-dev/wsd => ../

require (
	github.com/dolthub/maphash v0.1.0 // indirect
	github.com/gobwas/httphead v0.1.0 // indirect
	github.com/gobwas/ws v1.5.0 // indirect
	github.com/gorilla/websocket v1.5.3 // indirect
	github.com/klauspost/compress v1.17.9 // indirect
	github.com/lesismal/nbio v1.6.8 // indirect
	github.com/lxzan/gws v1.8.9 // indirect
	github.com/mailru/easygo v0.0.0-20190618140210-3c14a0dc985f // indirect
)
