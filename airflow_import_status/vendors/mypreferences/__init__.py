"""PossibleNOW MyPreferences bulk import: spec, codec (requests and pure parsers), simulator."""
