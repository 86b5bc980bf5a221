// Package source implements one entropy source run: the targets file,
// scheduling, and pushing sealed frames to every due sink.
package source
