"""Source to Split: markers, the libcst cut, dependencies, scopes, result types, checks."""
