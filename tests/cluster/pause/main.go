// pause holds a pod's namespaces for the test cluster (kubelet's sandbox container), like
// Kubernetes' own pause: it sleeps until SIGINT or SIGTERM and, as PID 1 of a shared PID
// namespace, reaps the zombies it inherits. Built static (CGO_ENABLED=0) into a one-file image.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "-v" {
		os.Stdout.WriteString("reflex pause\n")
		return
	}
	signals := make(chan os.Signal, 8)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM, syscall.SIGCHLD)
	for sig := range signals {
		if sig != syscall.SIGCHLD {
			os.Exit(0)
		}
		for {
			pid, err := syscall.Wait4(-1, nil, syscall.WNOHANG, nil)
			if pid <= 0 || err != nil {
				break
			}
		}
	}
}
