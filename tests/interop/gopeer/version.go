package main

import (
	"fmt"

	kcp "github.com/xtaci/kcp-go"
)

func init() {
	register("version", "print the kcp-go package the peer was built with", func(args []string) error {
		// Touch the package so the build proves kcp-go and its dependencies resolve.
		_ = kcp.DefaultSnmp.Header()
		fmt.Println("kcp-go (Debian golang-github-xtaci-kcp-dev)")
		return nil
	})
}
