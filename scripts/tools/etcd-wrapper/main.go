// Command etcd is upstream etcd's server entry point. `go install
// go.etcd.io/etcd/server/v3@...` fails because etcd's go.mod files carry
// replace directives, so this wrapper module pins the versions instead.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
