// Package source implements one entropy source run: the targets file,
// scheduling, and pushing sealed frames to every due sink.
//
// Run reads top to bottom: lock the targets file (Append takes the same
// lock), load it, harvest once if any target is due, reserve a counter for
// every due target in one durable write, send each due sink one packet
// (at most Config.Concurrency at once), and record the outcome in one
// atomic rewrite. No packet is signed before its counter is on disk, so a
// run killed at any moment may skip counters but never reuses one.
package source
