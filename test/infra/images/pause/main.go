// The node's pause (sandbox) image: holds a pod's namespaces and does nothing until it is
// told to stop. Static (CGO_ENABLED=0), packed by test/infra/real-node.ts with oci.ts.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	<-stop
}
