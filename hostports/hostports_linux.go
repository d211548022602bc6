package hostports

import "os"

func newOSImpl() osImpl {
	return procImpl{fsys: os.DirFS(procDir), dir: procDir}
}
