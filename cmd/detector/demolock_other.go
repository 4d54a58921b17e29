//go:build !unix

package main

// lockDemo does nothing where flock is missing: two demos on one database
// at once then disturb each other.
func lockDemo(string) (func(), error) { return func() {}, nil }
