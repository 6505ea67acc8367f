module github.com/wsd-dev/wsd/bench

go 1.26.8

replace github.com/wsd-dev/wsd => ../
