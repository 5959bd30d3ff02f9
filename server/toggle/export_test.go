package toggle

// ByName returns the toggle called name (as a user or a capture spells it). Only the tests look a toggle up this
// way (people's names reach the registry through ParseSpec and Lookup), so it is defined here, not in the binary.
func ByName(name string) (Toggle, bool) {
	d, ok := byName[name]
	return Toggle{d}, ok
}
