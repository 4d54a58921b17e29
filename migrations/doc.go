// Package migrations embeds the versioned SQL schema of flowguard. Applied
// migrations are never edited; changes go into a new numbered file.
package migrations
