//go:build race

package harvest

func init() { raceEnabled = true }
