"""Files generated from the slowatch config for other tools (OpenSLO, ...), and imports back."""
