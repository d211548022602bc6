//go:build !linux

package socktable

func estimateOS(*Options) int { return 0 }
