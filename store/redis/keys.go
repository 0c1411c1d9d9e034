package redis

import "strconv"

// The names of keys and channels the Go side computes (lua/keys.lua computes the room's log and
// member set for the scripts that build them; where the two disagreed, a room's entries or members
// would not be found, and the store's conformance suite fails). The namespace's length keeps
// "<nsp>:<room>" unambiguous whatever either contains; a room's keys carry it in braces, their
// hash tag.

func roomSuffix(nsp, room string) string { return strconv.Itoa(len(nsp)) + ":" + nsp + ":" + room }

// roomKey is the key of a room's log.
func roomKey(prefix, nsp, room string) string { return prefix + ":r:{" + roomSuffix(nsp, room) + "}" }

// roomChannel is the channel a room's entries are published on.
func roomChannel(prefix, nsp, room string) string { return prefix + ":w:r:" + roomSuffix(nsp, room) }

// memberKey is the set of a room's WebSocket members that a commit pushes to (unpumped stores).
func memberKey(prefix, nsp, room string) string { return prefix + ":m:{" + roomSuffix(nsp, room) + "}" }

// sessionChannel is the channel of a session's own entries and changes.
func sessionChannel(prefix, sid string) string { return prefix + ":w:s:" + sid }
